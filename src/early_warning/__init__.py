"""early-warning: transparent escalation-risk scoring and early warning.

The public API is small and re-exported here; modules not named below are private.

    >>> import early_warning as ew
    >>> catalog = ew.load_catalog(ew.bundled_path("indicators"))
    >>> store = ew.open_store("ew.db")
    >>> store.sync_catalog(catalog)
    >>> result = ew.ingest(store, catalog, "observations.csv")
"""

from .catalog import Catalog, Citation, Family, Indicator, Source, load_catalog
from .clock import Clock, FixedClock, SystemClock
from .config import Config, bundled_path, load_config
from .errors import (
    CatalogError,
    ConfigError,
    EarlyWarningError,
    IngestError,
    InputError,
    NotFoundError,
    ProfileError,
    StoreError,
)
from .ingest import IngestResult, Limits, ingest, observe
from .periods import Period, parse_period
from .store import Store, open_store

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "CatalogError",
    "Citation",
    "Clock",
    "Config",
    "ConfigError",
    "EarlyWarningError",
    "Family",
    "FixedClock",
    "Indicator",
    "IngestError",
    "IngestResult",
    "InputError",
    "Limits",
    "NotFoundError",
    "Period",
    "ProfileError",
    "Source",
    "Store",
    "StoreError",
    "SystemClock",
    "__version__",
    "bundled_path",
    "ingest",
    "load_catalog",
    "load_config",
    "observe",
    "open_store",
    "parse_period",
]
