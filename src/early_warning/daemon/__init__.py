"""The daemon: ingestion, scoring, forecasts, alerts and the weekly report on a schedule.

    Daemon(config).run(run_for=None)      # until SIGTERM or SIGINT

APScheduler 3 runs the jobs in one worker thread (one writer on the SQLite file):

  ingest:<name>   each `[sources.NAME]` on its own cron or interval: a URL, a watched
                  folder whose files are ingested once and moved to `processed/` or
                  `failed/` (with the reason beside them), or a live feed
                  (`ingest.feeds`: GDELT, UCDP candidate events, the World Bank) on
                  its own rhythm; when data changed, every subject is scored, forecast
                  and its alert rules checked;
  weekly-report   the report for the last complete week, at the configured weekday and
                  hour in the configured time zone, e-mailed to `[mail] to_reports`;
  flush           the mail outbox, every `flush_seconds`.

Restarts: the jobs live in their own SQLite job store (not the data file). They are
added without wiping their stored next-run times, and the job defaults (coalesce,
a misfire grace period) make a job missed while the daemon was down run once at
start-up. Every run is recorded in `job_runs`; the weekly report is idempotent per
subject and week (recorded in `reports`, the e-mail keyed by the PDF's hash), so a
restart never sends it twice.

One instance: a lock file beside the database, held with `flock`, which the kernel
releases when the process dies, even by SIGKILL. SIGTERM and SIGINT let the running
job finish, then the daemon exits 0.

Modules: `settings` (the configuration and the calendar; light, so `status` can read
it without loading the pipeline) and `runner` (the scheduler and its jobs).
"""

from typing import TYPE_CHECKING

from .. import lazy
from .settings import (
    FLUSH,
    PIPELINE,
    REPORT,
    DaemonSettings,
    last_complete_week,
    lock_path,
    weekly_trigger,
)

# The runner brings the pipeline, the report and the scheduler: loaded on first use.
__getattr__, __dir__ = lazy.exports(
    __name__, dict.fromkeys(["Daemon", "configure_logging", "run_job"], ".runner")
)

if TYPE_CHECKING:
    from .runner import Daemon, configure_logging, run_job

__all__ = [
    "FLUSH",
    "PIPELINE",
    "REPORT",
    "Daemon",
    "DaemonSettings",
    "configure_logging",
    "last_complete_week",
    "lock_path",
    "run_job",
    "weekly_trigger",
]
