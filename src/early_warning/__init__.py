"""early-warning: transparent escalation-risk scoring and early warning.

The public API is small and re-exported here; modules not named below are private.

    >>> import early_warning as ew
    >>> catalog = ew.load_catalog(ew.bundled_path("indicators"))
    >>> store = ew.open_store("ew.db")
    >>> store.sync_catalog(catalog)
    >>> result = ew.ingest(store, catalog, "observations.csv")
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from . import lazy

__version__ = "0.1.0"

# Each public name and the module that defines it, imported on first use (PEP 562):
# `import early_warning.errors` or `early-warning --version` must not pay for pandas.
_LAZY = {
    "Catalog": "catalog",
    "Citation": "catalog",
    "Family": "catalog",
    "Indicator": "catalog",
    "Source": "catalog",
    "load_catalog": "catalog",
    "Clock": "clock",
    "FixedClock": "clock",
    "SystemClock": "clock",
    "Config": "config",
    "bundled_path": "config",
    "load_config": "config",
    "CatalogError": "errors",
    "DeliveryError": "errors",
    "FetchError": "errors",
    "ForbiddenError": "errors",
    "LockError": "errors",
    "PeriodError": "errors",
    "RequestError": "errors",
    "RuleError": "errors",
    "TooLargeError": "errors",
    "ConfigError": "errors",
    "EarlyWarningError": "errors",
    "IngestError": "errors",
    "InputError": "errors",
    "NotFoundError": "errors",
    "ProfileError": "errors",
    "StoreError": "errors",
    "IngestResult": "ingest",
    "Limits": "ingest",
    "ingest": "ingest",
    "observe": "ingest",
    "Period": "periods",
    "parse_period": "periods",
    "Store": "store",
    "open_store": "store",
}

if TYPE_CHECKING:
    from .catalog import Catalog, Citation, Family, Indicator, Source, load_catalog
    from .clock import Clock, FixedClock, SystemClock
    from .config import Config, bundled_path, load_config
    from .errors import (
        CatalogError,
        ConfigError,
        DeliveryError,
        EarlyWarningError,
        FetchError,
        ForbiddenError,
        IngestError,
        InputError,
        LockError,
        NotFoundError,
        PeriodError,
        ProfileError,
        RequestError,
        RuleError,
        StoreError,
        TooLargeError,
    )
    from .ingest import IngestResult, Limits, ingest, observe
    from .periods import Period, parse_period
    from .store import Store, open_store


__getattr__, __dir__ = lazy.exports(__name__, {k: f".{v}" for k, v in _LAZY.items()})


class _Root(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Loading the `ingest` subpackage makes the import system set `early_warning.ingest`
        # to it; the public name stays the function, `ew.ingest(store, catalog, path)`.
        if name == "ingest" and isinstance(value, types.ModuleType):
            value = value.ingest
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Root


__all__ = [
    "Catalog",
    "CatalogError",
    "Citation",
    "Clock",
    "Config",
    "ConfigError",
    "DeliveryError",
    "EarlyWarningError",
    "Family",
    "FetchError",
    "FixedClock",
    "ForbiddenError",
    "Indicator",
    "IngestError",
    "IngestResult",
    "InputError",
    "Limits",
    "LockError",
    "NotFoundError",
    "Period",
    "PeriodError",
    "ProfileError",
    "RequestError",
    "RuleError",
    "Source",
    "Store",
    "StoreError",
    "SystemClock",
    "TooLargeError",
    "__version__",
    "bundled_path",
    "ingest",
    "load_catalog",
    "load_config",
    "observe",
    "open_store",
    "parse_period",
]
