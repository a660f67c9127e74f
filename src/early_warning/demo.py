"""The demo: a fresh database built from the catalog and the embedded dataset.

`run_demo` is what `early-warning demo` (and `make demo`) runs. It never touches the
user's database: it works in a folder of its own (a temporary one unless told where).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .alerts import Alert, AlertEngine, MailSettings, Notifier, list_alerts
from .alerts.track_record import record_replay_score, score_replay
from .alerts.warning import Warning
from .catalog import Catalog, load_catalog
from .forecast import BacktestResult, Forecast
from .ingest import IngestResult, Limits, ingest
from .pipeline import run_pipeline
from .report import Report, build_report
from .scoring import ScoreResults, SensitivityResult
from .services import (
    backtest,
    record_backtest,
    record_sensitivity,
    sensitivity,
)
from .services.structural import record_structural, structural_at, structural_panel
from .services.theatres import subject_scope
from .store import Store, kept_results_path

__all__ = ["DemoResult", "embedded_files", "run_demo"]


@dataclass
class DemoResult:
    db_path: Path
    catalog: Catalog  # the default subject's theatre slice once scored (whole without theatres)
    results: list[IngestResult] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    as_of: dt.date | None = None
    latest: list[dict[str, Any]] = field(default_factory=list)
    scores: ScoreResults | None = None
    uncertainty: SensitivityResult | None = None
    forecast: Forecast | None = None
    warning: Warning | None = None  # the week's one level, as every face shows it
    backtest: BacktestResult | None = None
    alerts: list[Alert] = field(default_factory=list)
    rule_scores: dict[str, Any] | None = None  # every rule replayed point in time, scored
    mail: dict[str, int] = field(default_factory=dict)
    outbox_dir: Path | None = None
    report: Report | None = None
    structural_files: list[IngestResult] = field(default_factory=list)
    structural: dict[str, Any] | None = None  # the outlooks for the as-of year and the latest

    @property
    def rejected(self) -> int:
        return sum(r.rows_rejected for r in [*self.results, *self.structural_files])


def embedded_files(catalog_dir: Path) -> list[Path]:
    """The embedded dataset: every data CSV, then the events file."""
    files = sorted((catalog_dir / "data").glob("*.csv"))
    events = catalog_dir / "events.csv"
    if events.exists():
        files.append(events)
    return files


def run_demo(
    catalog_dir: Path,
    workdir: Path,
    default_subject: str = "BLR",
    models_dir: Path | None = None,
    profile: str | None = None,
    reports_dir: Path | None = None,
) -> DemoResult:
    """Build `workdir/demo.db` from scratch, load the embedded dataset and score it.

    The scores are as of the day the last embedded figure became public (the data end
    there, so "today" would find every value stale, which is honest but not a demo).
    """
    catalog = load_catalog(catalog_dir)
    db_path = workdir / "demo.db"
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"),
                  Path(f"{db_path}.jobs.sqlite"), kept_results_path(db_path)):  # fmt: skip
        stale.unlink(missing_ok=True)
    result = DemoResult(db_path, catalog)
    with Store(db_path) as store:
        store.sync_catalog(catalog)
        for path in embedded_files(catalog_dir):
            result.results.append(
                ingest(store, catalog, path, default_subject=default_subject, limits=Limits())
            )
        result.status = store.status()
        newest = store.newest_known_from()
        if newest is None:
            return result
        result.as_of = dt.date.fromisoformat(newest)
        result.latest = list(
            store.latest_values(subject=default_subject, as_of=result.as_of).values()
        )
        result.structural = _structural(store, catalog, catalog_dir, default_subject, result)
        if models_dir is not None:
            # The subject's theatre: its slice of the catalog, profile and rules.
            scope = subject_scope(catalog, models_dir, default_subject, profile)
            part, weights, rules = scope.catalog, scope.profile, list(scope.rules)
            result.catalog = part  # what the results below were computed with
            notifier = _duty_desk(store, workdir)
            # The rules armed as by a duty officer who began in the first week the data
            # can score; the pipeline's check at the end of the data then walks every
            # week in between, so each crossing in the history raises its alert once.
            AlertEngine(store, part, weights, rules, sink=notifier).check(
                default_subject, BACKTEST_START
            )
            outcome = run_pipeline(store, [scope], notifier, result.as_of)
            result.scores = outcome.subjects[0].scores
            result.forecast = outcome.subjects[0].forecast
            result.warning = outcome.subjects[0].warning
            result.alerts = list_alerts(store, subject=default_subject)
            result.mail = outcome.mail or {}
            # Beyond the pipeline, what a first look at a subject wants: the band, and
            # the models' track record at monthly origins over the years the embedded
            # data can score (2017 on).
            result.uncertainty = sensitivity(
                store, part, weights, default_subject, result.as_of, results=result.scores
            )
            record_sensitivity(store, result.uncertainty, point_in_time=False)
            result.backtest = backtest(
                store, part, weights, default_subject, BACKTEST_START, result.as_of,
                step_weeks=4,
            )  # fmt: skip
            record_backtest(store, result.backtest, weights)
            # Every rule over the same years, point in time, against the events: kept,
            # so the report's alerts log shows how each would have done.
            result.rule_scores = score_replay(
                AlertEngine(store, part, weights, rules), default_subject, BACKTEST_START,
                result.as_of,
            )  # fmt: skip
            record_replay_score(store, result.rule_scores)
            result.outbox_dir = workdir / "outbox"
            result.report = build_report(
                store, part, weights, default_subject, result.as_of, rules=rules,
                out_dir=reports_dir or workdir / "reports",
            )  # fmt: skip
    return result


def _structural(
    store: Store, catalog: Catalog, catalog_dir: Path, subject: str, result: DemoResult
) -> dict[str, Any] | None:
    """The structural model on the shipped extract (indicators/structural: UCDP/PRIO and
    World Bank rows for Europe and the former Soviet Union), recorded so that the
    pipeline's weekly forecast finds its prior: the forecast for the as-of year, as
    known at the end of the year before, and the latest year the data allow."""
    folder = catalog_dir / "structural"
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        result.structural_files.append(ingest(store, catalog, path, country_years=True))
    assert result.as_of is not None
    panel = structural_panel(store, catalog, last_year=result.as_of.year)
    outlooks = {}
    for name, year in (("as_of", result.as_of.year), ("latest", None)):
        found = structural_at(store, catalog, subject, year, panel=panel)
        if found is None:
            return None
        record_structural(store, found)
        outlooks[name] = found.to_dict()
    return outlooks


def _duty_desk(store: Store, workdir: Path) -> Notifier:
    """Mail to .eml files in the work folder (fresh each run)."""
    outbox = workdir / "outbox"
    for old in outbox.glob("*.eml"):
        old.unlink()
    settings = MailSettings(
        sender="early-warning@demo.invalid",
        recipients={"watch": ("duty-officer@example.org",), "red": ("crisis-desk@example.org",)},
        outbox_dir=outbox,
    )
    return Notifier(store, settings)


BACKTEST_START = dt.date(2017, 1, 1)

DAEMON_CONFIG = """\
# Written by `early-warning demo`: the daemon over the demo database.
#   early-warning --config demo/daemon.toml daemon --once --run-for 5
[database]
path = "demo.db"

[paths]
reports = "reports"

[mail]
outbox_dir = "outbox"
to_watch = ["duty-officer@example.org"]
to_red = ["crisis-desk@example.org"]
to_reports = ["weekly-subscribers@example.org"]
to_ops = ["operator@example.org"]

[daemon]
timezone = "Europe/Minsk"
report_weekday = "mon"
report_hour = 7

[sources.incoming]
folder = "incoming"
cron = "*/5 * * * *"
"""


def write_daemon_config(workdir: Path, catalog_dir: Path) -> Path:
    """A daemon configuration for the demo folder, with one embedded file to pick up."""
    incoming = workdir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    sample = catalog_dir / "data" / "military_posture.csv"
    if sample.exists():
        # A finished copy keeps its file's time (copy2): the daemon leaves a file it sees
        # changing for `settle_seconds`, and `make demo` starts the daemon at once.
        target = incoming / sample.name
        partial = target.with_name(target.name + ".part")
        shutil.copy2(sample, partial)
        os.replace(partial, target)
    path = workdir / "daemon.toml"
    path.write_text(DAEMON_CONFIG, encoding="utf-8")
    return path
