"""The one exception tree of early-warning.

Every error the library raises on purpose is a subclass of `EarlyWarningError`, and
its message is one line a user can act on: it names the file, the line or record, and
the field where that applies. The command line prints that line to stderr and exits
with the status in `exit_code`; no traceback is shown for a user's mistake.

    EarlyWarningError            base class; exit 2
    ├── ConfigError              the configuration file or an environment override is wrong
    ├── CatalogError             an indicator catalog file is wrong (file, indicator, field)
    ├── ProfileError             a weight profile is wrong (file, family or indicator, field)
    ├── StoreError               the database cannot be opened, migrated or written
    ├── NotFoundError            a named thing (indicator, source, run) does not exist
    ├── InputError               a value given on the command line or in a form is unusable
    └── IngestError              a whole input file or URL is refused before anything is written
                                 (missing, wrong columns, undecodable, too large, unreachable)

A single bad row is not an exception: it becomes a `Reject` (see `early_warning.ingest`)
and lands in the `rejects` table, while the good rows of the same file are kept.
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "ConfigError",
    "EarlyWarningError",
    "IngestError",
    "InputError",
    "NotFoundError",
    "ProfileError",
    "StoreError",
]


class EarlyWarningError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code: int = 2


class ConfigError(EarlyWarningError):
    """The configuration (TOML file or environment override) is invalid."""


class CatalogError(EarlyWarningError):
    """The indicator catalog is invalid; the message names file, indicator and field."""


class ProfileError(EarlyWarningError):
    """A weight profile is invalid; the message names the file and the entry."""


class StoreError(EarlyWarningError):
    """The SQLite store cannot be opened, migrated or written."""


class NotFoundError(EarlyWarningError):
    """A named indicator, source, subject or record does not exist."""


class InputError(EarlyWarningError):
    """A value given on the command line is unusable (one observation, an option)."""


class IngestError(EarlyWarningError):
    """A whole input is refused before anything is written."""
