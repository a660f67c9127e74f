"""The SQLite store: the only place in early-warning that holds SQL.

One file holds everything. It is opened with foreign keys on and in WAL mode, so a
reader (the web page, `status`) never blocks the daemon's writer. Observations are
bitemporal (see `_observations`): a revised value is a new row, never an update.

Layout, by concept (every module but this one is private):

  * `_connection`: opening the file, its pragmas, the clock, `transaction()` and the
    write lock (`BEGIN IMMEDIATE`);
  * `_schema`: the migrations, in order, and `migrate()`;
  * `_columns`: the column order of the bulk inserts and the positions ingest fills;
  * one repository per table group: `_catalog` (families, indicators, sources),
    `_observations` (ingest runs, observations, events, rejects), `_meta` (pending
    derivations, counts, `status`), `_scores` (scores, sensitivity, forecasts,
    backtests), `_profiles` (the weight-profile audit), `_alerts` (alerts, alert
    state and rule scores), `_outbox` (messages and their deliveries), `_reports`,
    `_jobs` (daemon job runs, and the scheduler's job store read-only), `_gdelt`
    (event counts and ids), `_structural` (country-year values for every country,
    structural forecasts), `_feeds` (what each live feed has fetched);
  * `_spill`: validation's private temporary table of first-seen keys.

The repositories are mixins composed into `Store`, not attributes (`store.outbox...`):
every group shares the one connection and the one `transaction()`, and a unit of work
often spans groups (an alert, its rule state and its outbox message commit together),
so one object with one namespace keeps such a block readable, `store.record_alert(...)`
beside `store.set_alert_outbox(...)`. It also keeps every call site of the store as it
was. Method names carry their table group where a bare verb would be ambiguous
(`outbox_deliveries`, `claim_delivery`).

Nothing here imports beyond the base floor (errors, clock, catalog) and third-party
libraries: ingest, scoring, forecasting, alerts, reports, the web and the CLI import
the store, never the other way round. `Store.db` (the sqlite-utils handle) stays for
tests; code outside this package goes through the named methods.

Tables: meta, migrations, families, indicators, sources, ingest_runs, observations,
rejects, events, weight_profiles, scores, sensitivity_runs, forecasts, backtests,
analyst_forecasts, outbox, outbox_deliveries, alert_state, alerts, rule_scores,
reports, job_runs, event_counts, event_ids, country_years, structural_forecasts,
feed_items. Views: observations_current, latest_values, rejects_recent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..clock import Clock, SystemClock
from ..errors import StoreError
from ._alerts import AlertsRepository
from ._catalog import CatalogRepository
from ._columns import (
    EVENT_COLUMNS,
    EVENT_RECORDED_AT,
    EVENT_RUN_ID,
    OBSERVATION_COLUMNS,
    OBSERVATION_FLAGS,
    OBSERVATION_RECORDED_AT,
    OBSERVATION_RUN_ID,
    REJECT_COLUMNS,
    REJECT_RAW,
)
from ._connection import BULK_CACHE_KIB, connect
from ._feeds import FeedsRepository
from ._gdelt import EVENT_COUNT_COLUMNS, GdeltRepository
from ._jobs import JobsRepository, scheduled_jobs
from ._kept import KeptResultsRepository, kept_results_path
from ._meta import MetaRepository
from ._observations import MAX_REJECT_RAW, ObservationsRepository
from ._outbox import OutboxRepository
from ._profiles import ProfilesRepository
from ._reports import ReportsRepository
from ._schema import MIGRATIONS, SchemaMixin
from ._scores import ScoresRepository
from ._spill import SpilledKeys
from ._structural import COUNTRY_YEAR_COLUMNS, StructuralRepository

__all__ = [
    "BULK_CACHE_KIB",
    "COUNTRY_YEAR_COLUMNS",
    "EVENT_COLUMNS",
    "EVENT_COUNT_COLUMNS",
    "EVENT_RECORDED_AT",
    "EVENT_RUN_ID",
    "MAX_REJECT_RAW",
    "MIGRATIONS",
    "OBSERVATION_COLUMNS",
    "OBSERVATION_FLAGS",
    "OBSERVATION_RECORDED_AT",
    "OBSERVATION_RUN_ID",
    "REJECT_COLUMNS",
    "REJECT_RAW",
    "RunRecord",
    "SpilledKeys",
    "Store",
    "kept_results_path",
    "open_store",
    "scheduled_jobs",
]


@dataclass(frozen=True)
class RunRecord:
    """What one ingest run did (a row of `ingest_runs`)."""

    id: int
    uri: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_unchanged: int
    rows_rejected: int
    message: str


class Store(
    SchemaMixin,
    CatalogRepository,
    ObservationsRepository,
    MetaRepository,
    ScoresRepository,
    ProfilesRepository,
    AlertsRepository,
    OutboxRepository,
    ReportsRepository,
    JobsRepository,
    GdeltRepository,
    StructuralRepository,
    FeedsRepository,
    KeptResultsRepository,
):
    """A handle on one SQLite file: every table group's statements, one connection."""

    def __init__(self, path: str | Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.db = connect(self.path)
        self.migrate()

    def __enter__(self) -> Store:
        return self


def open_store(path: str | Path, *, create: bool = True, clock: Clock | None = None) -> Store:
    """Open (and migrate) a store; with `create=False` a missing file is an error."""
    path = Path(path)
    if not create and not path.exists():
        raise StoreError(f"{path}: no database here (run `early-warning init` first)")
    if path.parent and not path.parent.exists():
        raise StoreError(f"{path}: folder {path.parent} does not exist")
    return Store(path, clock=clock)
