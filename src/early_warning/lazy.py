"""Lazy re-exports for a package `__init__` (PEP 562).

A package whose modules sit on different floors (the pure alert rules beside the alert
service, say) must not import the higher ones when the lower ones are imported: that
would drag the store into every pure module. Its `__init__` names what it re-exports
and from which module; each module is imported on first use of one of its names.

    __getattr__, __dir__ = lazy.exports(__name__, {"AlertEngine": ".engine"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["exports"]


def exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module `__getattr__` and `__dir__` that import `names[name]` on first use.

    Only the package's own modules (".engine") may be named: a lazy import is still an
    import, and one into another package would hide from the layer test.
    """
    outside = sorted({m for m in names.values() if not m.startswith(".") or m.startswith("..")})
    if outside:
        raise ValueError(f"{package}: lazy exports from outside the package: {outside}")

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # once found, a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
