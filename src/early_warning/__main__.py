"""`python -m early_warning` is the same as the `early-warning` command."""

from .cli import main

if __name__ == "__main__":
    main()
