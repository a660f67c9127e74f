"""The daemon's runner: the scheduler, its jobs, the lock and the watched folders
(documented in the package `early_warning.daemon`)."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ..alerts import MailSettings, Notifier
from ..catalog import Catalog, load_catalog
from ..clock import Clock, SystemClock
from ..config import Config
from ..errors import EarlyWarningError, LockError
from ..ingest import Fetcher, Limits, ingest, run_feed
from ..periods import iso_week
from ..pipeline import PipelineResult, pipeline_scopes, run_pipeline
from ..report import Report, build_report, queue_report_email
from ..services.theatres import subject_scope
from ..store import Store, open_store
from .settings import (
    FLUSH,
    PIPELINE,
    REPORT,
    DaemonSettings,
    last_complete_week,
    lock_path,
    source_health,
    sources_health,
    weekly_trigger,
)

__all__ = ["Daemon", "configure_logging", "run_job"]

log = logging.getLogger("early_warning.daemon")

_SKIP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".reason.txt")
_CURRENT: Daemon | None = None  # the daemon whose jobs this process runs


# -- the daemon -----------------------------------------------------------------------


def run_job(name: str) -> None:
    """The function every stored job calls (a plain module function, so the job store
    can keep a reference to it across restarts)."""
    if _CURRENT is None:
        raise RuntimeError("no daemon is running in this process")
    _CURRENT.run_job(name)


class Daemon:
    def __init__(
        self, config: Config, clock: Clock | None = None, fetcher: Fetcher | None = None
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()  # the pipeline's date (a test seam)
        self.fetcher = fetcher  # every download of the sources and feeds (a test seam)
        self.settings = DaemonSettings.from_config(config)
        self.mail = MailSettings.from_config(config)
        self.catalog: Catalog = load_catalog(config.catalog_dir)
        # A broken profile or rule file of any theatre stops the start, not a later job.
        for subject in self._declared_subjects():
            subject_scope(self.catalog, config.models_dir, subject)
        self.scheduler: BackgroundScheduler | None = None
        self._lock_file: Any = None
        self._stop = threading.Event()
        # The scoring pipeline runs one at a time, whichever job starts it.
        self._pipeline_lock = threading.Lock()
        # What the last pipeline run and report job produced, for a caller that drives
        # the jobs itself (`demo --replay`) and prints more than the job's one line.
        self.last_pipeline: PipelineResult | None = None
        self.last_reports: list[Report] = []

    def open_db(self, *, create: bool = False) -> Store:
        """The database, stamped by the daemon's clock (a replay's fixed one included)."""
        return open_store(self.config.db_path, create=create, clock=self.clock)

    # -- lifecycle ---------------------------------------------------------------------

    def acquire_lock(self) -> None:
        path = lock_path(self.config.db_path)
        handle = open(path, "a+")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise LockError(
                f"another daemon is running on {self.config.db_path} (pid {holder}); "
                f"stop it first (lock: {path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def start(self, cycle: bool = False) -> list[str]:
        """Take the lock, open the job store, add or keep the jobs, and go; with `cycle`,
        run every job once (and the scoring pipeline) before the schedule takes over."""
        global _CURRENT
        self.acquire_lock()
        with self.open_db(create=True) as store:
            store.sync_catalog(self.catalog)
            # We hold the lock: a run still marked running died with an earlier daemon.
            store.interrupt_running_jobs()
        _CURRENT = self
        self.settings.jobstore.parent.mkdir(parents=True, exist_ok=True)
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{self.settings.jobstore}")},
            # One worker: jobs that write never contend for the database's lock. A slow
            # source holds the others back at most `[ingest] http_total_seconds`.
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.grace_seconds,
            },
            timezone=self.settings.timezone,
        )
        scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        scheduler.start(paused=True)  # jobs are synced before anything runs
        self.scheduler = scheduler
        kept = self._sync_jobs()
        for job in scheduler.get_jobs():
            log.info("scheduled %s: next run %s", job.id, _when(job.next_run_time))
        if cycle:
            self.run_cycle()
        elif self._report_overdue():
            log.info("the weekly report fell due while the daemon was down: making it now")
            self.run_job(REPORT)
        scheduler.resume()
        return kept

    def _report_overdue(self) -> bool:
        """The last scheduled report time has passed and its week's report is missing
        (the daemon was down, or killed while making it)."""
        now = self.clock.now().astimezone(self.settings.timezone)
        due = weekly_trigger(self.settings).get_next_fire_time(None, now - dt.timedelta(days=7))
        if due is None or due > now:
            return False
        sunday = last_complete_week(due, self.settings.timezone)
        with self.open_db() as store:
            if not store.ever_ran():
                return False  # a new daemon: nothing fell due while it was down
            for subject in self.settings.report_subjects:
                if not store.report_made(subject, sunday.isoformat()):
                    return True
        return False

    def run_cycle(self) -> None:
        """Every job once, in order: sources, the pipeline, the report, the outbox."""
        sources = [job_id for job_id in self.plan() if job_id.startswith("ingest:")]
        for job_id in [*sources, PIPELINE, REPORT, FLUSH]:
            if self._stop.is_set():
                break
            self.run_job(job_id)

    def plan(self) -> dict[str, Any]:
        """Job id -> trigger, from the configuration."""
        jobs: dict[str, Any] = {
            f"ingest:{name}": self.settings.source_trigger(name) for name in self.settings.sources
        }
        # Scoring, forecasts and alerts also run on their own clock: data entered by
        # hand or through the workbench, and staleness, need no new file to be judged.
        jobs[PIPELINE] = IntervalTrigger(minutes=self.settings.check_minutes)
        jobs[REPORT] = weekly_trigger(self.settings)
        jobs[FLUSH] = IntervalTrigger(seconds=self.settings.flush_seconds)
        return jobs

    def _sync_jobs(self) -> list[str]:
        """Add new jobs, replace changed ones, drop removed ones; keep the stored next-run
        time of every job whose trigger is unchanged (a restart must not reset it)."""
        assert self.scheduler is not None
        wanted = self.plan()
        kept = []
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                log.info("removed %s (no longer configured)", job.id)
                job.remove()
        for job_id, trigger in wanted.items():
            existing = self.scheduler.get_job(job_id)
            executor = "default"
            if (
                existing is not None
                and _trigger_key(existing.trigger) == _trigger_key(trigger)
                and existing.executor == executor
            ):
                kept.append(job_id)
                continue
            self.scheduler.add_job(
                run_job, trigger, args=[job_id], id=job_id, name=job_id, replace_existing=True,
                executor=executor,
            )  # fmt: skip
        return kept

    def stop(self, wait: bool = True) -> None:
        global _CURRENT
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)  # the running job finishes first
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        _CURRENT = None

    def run(self, run_for: float | None = None, once: bool = False) -> int:
        """Run until SIGTERM/SIGINT (or `run_for` seconds); `once` runs every job now."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.start(cycle=once)
            deadline = None if run_for is None else time.monotonic() + run_for
            while not self._stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._stop.wait(timeout=1.0 if left is None else min(left, 1.0))
            log.info("stopping: waiting for the running job to finish")
        finally:
            self.stop(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped")
        return 0

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self._stop.set()

    def _missed(self, event: JobExecutionEvent) -> None:
        log.warning("missed %s (scheduled %s, beyond the grace period)", event.job_id,
                    _when(event.scheduled_run_time))  # fmt: skip
        with self.open_db() as store:
            run_id = store.start_job_run(event.job_id)
            store.finish_job_run(
                run_id, "missed", f"scheduled {_when(event.scheduled_run_time)}; beyond grace"
            )

    # -- jobs ---------------------------------------------------------------------------

    def run_job(self, name: str) -> str:
        """Run one job and record it; an error is recorded, never raised."""
        with self.open_db() as store:
            run_id = store.start_job_run(name)
            log.info("start %s (run %d)", name, run_id)
            loaded: int | None = None
            detail = ""
            try:
                outcome, detail, loaded = self._dispatch(name, store)
            except Exception as exc:  # a failing job must not stop the daemon
                message = f"{type(exc).__name__}: {exc}"
                store.finish_job_run(run_id, "failed", error=message)
                log.error("failed %s: %s", name, message)
                self._after_failure(store, name)
                outcome = "failed"
            else:
                store.finish_job_run(run_id, outcome, detail, rows_loaded=loaded)
                log.info("%s %s: %s", outcome, name, detail)
            if name.startswith("ingest:"):
                if outcome == "partial":
                    self._tell_of_failed_files(store, name, run_id, detail)
                self._warn_if_silent(store, name.split(":", 1)[1])
            return outcome

    def _dispatch(self, name: str, store: Store) -> tuple[str, str, int | None]:
        if name == FLUSH:
            counts = Notifier(store, self.mail).flush()
            return "ok", ", ".join(f"{n} {k}" for k, n in counts.items()), None
        if name == REPORT:
            return (*self._weekly_report(store), None)
        if name == PIPELINE:
            return "ok", self._pipeline(store), None
        if name.startswith("ingest:"):
            return self._ingest(store, name.split(":", 1)[1])
        raise ValueError(f"unknown job {name!r}")

    def _ingest(self, store: Store, source: str) -> tuple[str, str, int]:
        """One source's run: "ok", or "partial" when a file (or rows) failed, which makes
        the source unhealthy in `status` until a clean run."""
        spec = self.settings.sources[source]
        subject = spec.get("subject", self.config.default_subject)
        limits = Limits.from_config(self.config)
        if "feed" in spec:
            feed = run_feed(store, self.catalog, source, spec, limits=limits,
                            fetcher=self.fetcher, default_subject=subject)  # fmt: skip
            if feed.rows_loaded:
                feed.parts.append(self._pipeline(store))
            # A feed brought data when publications arrived (a GDELT export without the
            # dyads still shows the feed alive): that is what its silence is judged by.
            detail = "; ".join(feed.parts) or "nothing new"
            return ("partial" if feed.failed else "ok"), detail, feed.arrived
        if "url" in spec:
            result = ingest(store, self.catalog, spec["url"], default_subject=subject,
                            limits=limits, fetcher=self.fetcher)  # fmt: skip
            loaded, parts, failed = result.rows_loaded, [result.summary()], result.rows_rejected
        else:
            loaded, parts, failed = self._ingest_folder(
                store, Path(spec["folder"]), subject, limits
            )
        if loaded:
            parts.append(self._pipeline(store))
        return ("partial" if failed else "ok"), "; ".join(parts) or "nothing new", loaded

    def _tell_operators(self, store: Store, *, key: str, subject: str, text: str) -> None:
        """One e-mail to the operators (`[mail] to_ops`, else the red-alert recipients),
        once per `key` (the outbox keeps a key once); logged when nobody is there."""
        ops = list(self.config.get("mail", "to_ops")) or list(self.mail.recipients_for("red"))
        if not ops:
            log.error("%s; nobody to tell ([mail] to_ops)", subject)
            return
        Notifier(store, self.mail).outbox.queue(
            key=key, sender=self.mail.sender, recipients=ops, subject=subject, text=text
        )

    def _tell_of_failed_files(self, store: Store, job: str, run_id: int, detail: str) -> None:
        """A run in which a file failed tells the operators once (a watched folder moves
        the file aside, so the failures would not repeat and add up to a streak)."""
        self._tell_operators(
            store,
            key=f"ops:partial:{job}:{run_id}",
            subject=f"[OPS] {job}: a file failed",
            text=f"The daemon job {job} (run {run_id}) could not take everything:\n\n"
            f"{detail}\n\nFailed files are in failed/, each with its reason beside it. "
            "See `early-warning status` and `early-warning rejects list`.\n",
        )

    def _warn_if_silent(self, store: Store, source: str) -> None:
        """A source that brought no data for longer than it is expected to is an operator
        alert, once per silence (keyed by the last run that brought data)."""
        job = f"ingest:{source}"
        runs = store.source_runs(job)
        first = runs["first"]["started_at"] if runs["first"] else self.clock.now().isoformat()
        every = self.settings.expected_every(source)
        health = source_health(source, runs, every, self.clock.now(), first_run=first)
        if health["healthy"] or not (health["problem"] or "").startswith("silent"):
            return
        data = runs.get("data")
        self._tell_operators(
            store,
            key=f"ops:silent:{source}:{data['id'] if data else 'never'}",
            subject=f"[OPS] source {source} is silent",
            text=(
                f"The source {source} has brought no data since "
                f"{health['last_success'] or 'it was first run, ' + first}; it is expected "
                f"every {every:,} seconds.\n\nLast run: {health['last_outcome']} at "
                f"{health['last_run']}: {health['last_detail'] or '-'}\n"
                f"Last error: {health['last_error'] or '-'}\n\n"
                "See `early-warning status`.\n"
            ),
        )

    def _ingest_folder(
        self, store: Store, folder: Path, subject: str, limits: Limits
    ) -> tuple[int, list[str], int]:
        """Each file once: ingested, then moved to processed/ or failed/ (with the reason).
        Returns the rows loaded, what happened to each file, and how many failed."""
        folder.mkdir(parents=True, exist_ok=True)
        loaded, parts, failed = 0, [], 0
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.name.endswith(_SKIP_SUFFIXES):
                continue
            if path.is_symlink():
                # Never followed: a link would make the daemon read (and quote, in the
                # reason file) any file it can read, such as its own secrets.
                self._refuse(path, folder, "a symbolic link; a watched folder takes files")
                parts.append(f"{path.name}: failed (a symbolic link)")
                failed += 1
                continue
            if not path.is_file():
                continue
            if path.stat().st_mtime > time.time() - self.settings.settle_seconds:
                parts.append(f"{path.name}: still changing, next time")
                continue  # perhaps still being written
            try:
                result = ingest(store, self.catalog, path, default_subject=subject, limits=limits)
            except sqlite3.Error:
                raise  # the database's trouble, not the file's: it is tried again next time
            except Exception as exc:  # every file is a unit of failure: the next is read
                reason = str(exc) if isinstance(exc, EarlyWarningError) else _describe(exc)
                target = self._refuse(path, folder, reason)
                parts.append(f"{path.name}: failed ({reason})")
                failed += 1
                continue
            if result.rows_read and result.rows_rejected == result.rows_read:
                target = _move(path, folder / "failed")
                reasons = "".join(f"line {r.line}, {r.field}: {r.reason}\n" for r in result.rejects)
                _write_new(
                    target.with_name(target.name + ".reason.txt"),
                    f"every row was rejected ({result.rows_rejected}); see `rejects list`\n"
                    + reasons[:20000],
                )
                parts.append(f"{path.name}: failed (every row rejected)")
                log.warning("every row of %s rejected, moved to %s", path.name, target.parent)
                failed += 1
                continue
            _move(path, folder / "processed")
            loaded += result.rows_loaded
            failed += bool(result.rows_rejected)
            parts.append(result.summary())
        return loaded, parts, failed

    @staticmethod
    def _refuse(path: Path, folder: Path, reason: str) -> Path:
        """Move a refused file to failed/ with its reason beside it."""
        target = _move(path, folder / "failed")
        _write_new(target.with_name(target.name + ".reason.txt"), f"{reason}\n")
        log.warning("refused %s, moved to %s: %s", path.name, target.parent, reason)
        return target

    def _pipeline(self, store: Store) -> str:
        """After new data: score, forecast and check the alert rules for every subject."""
        with self._pipeline_lock:
            return self._pipeline_locked(store)

    def _declared_subjects(self) -> list[str]:
        """One subject of each role of each theatre (the implicit one: the default)."""
        if not self.catalog.theatres:
            return [self.config.default_subject]
        return [s for t in self.catalog.theatres for s in (t.country, *t.dyads[:1])]

    def _pipeline_locked(self, store: Store) -> str:
        # Profiles and rules are read on every run, so an edited file takes effect.
        scopes, outside = pipeline_scopes(self.catalog, self.config.models_dir, store.subjects())
        today = self.clock.now().astimezone(dt.UTC).date()
        outcome = run_pipeline(store, scopes, Notifier(store, self.mail), today, outside=outside)
        self.last_pipeline = outcome
        return outcome.summary()

    def _weekly_report(self, store: Store) -> tuple[str, str]:
        """The report of the last complete week for each subject, once per week."""
        sunday = last_complete_week(self.clock.now(), self.settings.timezone)
        done, made = [], []
        self.last_reports = []
        waiting = []
        subjects_with_data = store.subjects()
        sources = sources_health(self.settings, store, self.clock.now())
        for subject in self.settings.report_subjects:
            week = iso_week(sunday)
            if subject not in subjects_with_data:
                waiting.append(subject)  # a report of nothing is not a report
                continue
            mailed = bool(self.mail.report_recipients)
            if store.weekly_report_done(subject, week, sunday.isoformat(), mailed=mailed):
                done.append(f"{subject} {week}")
                continue
            scope = subject_scope(self.catalog, self.config.models_dir, subject)
            report = build_report(store, scope.catalog, scope.profile, subject, sunday,
                                  rules=list(scope.rules),
                                  out_dir=Path(self.config.get("paths", "reports")),
                                  sources=sources)  # fmt: skip
            if self.mail.report_recipients:
                queue_report_email(store, self.mail, report)
            made.append(str(report.path))
            self.last_reports.append(report)
        if made:
            Notifier(store, self.mail).flush()
        wait = f"no data yet for {', '.join(waiting)}: the report waits for data" if waiting else ""
        if not made:
            said = [f"already made for {', '.join(done)}"] * bool(done) + [wait] * bool(wait)
            return "skipped", "; ".join(said)
        return "ok", "; ".join(["written: " + ", ".join(made)] + [wait] * bool(wait))

    def _after_failure(self, store: Store, job: str) -> None:
        """After N failures in a row, tell the operators once (per run of failures)."""
        n = self.settings.failure_alert_after
        runs = store.job_runs(job, limit=200)
        streak = []
        for run in runs:
            if run["outcome"] != "failed":
                break
            streak.append(run)
        if len(streak) < n:
            return
        first = streak[-1]
        self._tell_operators(
            store,
            key=f"ops:{job}:{first['id']}",
            subject=f"[OPS] {job} has failed {len(streak)} times in a row",
            text=(
                f"The daemon job {job} has failed {len(streak)} times in a row since "
                f"{first['started_at']}.\n\nLast error: {streak[0]['error']}\n\n"
                "Other jobs go on. See `early-warning status`.\n"
            ),
        )


def _trigger_key(trigger: Any) -> str:
    """What makes two triggers the same schedule. Not `repr`: an interval trigger's
    start date is the moment it was made, so a restart would always look like a change."""
    if isinstance(trigger, IntervalTrigger):
        return f"interval {trigger.interval.total_seconds()} {trigger.timezone}"
    return f"{trigger} {getattr(trigger, 'timezone', '')}"


def _move(path: Path, folder: Path) -> Path:
    """Move a file into `folder`, never over another file (or a link) of the same name
    or beside another's reason file, and never through a link: a `failed/` or
    `processed/` that is a symbolic link (planted by whoever can write the drop folder)
    is set aside as `NAME.link-STAMP` and a real folder made, so the daemon never moves
    or writes where the link points."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    if folder.is_symlink():
        aside = folder.with_name(f"{folder.name}.link-{stamp}")
        os.rename(folder, aside)
        log.warning("%s was a symbolic link: set aside as %s", folder, aside.name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if os.path.lexists(target) or os.path.lexists(f"{target}.reason.txt"):
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    os.rename(path, target)  # the same file system: the drop folder's own subfolder
    return target


def _write_new(path: Path, text: str) -> None:
    """Create a file that must not exist yet, never following a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o640), "w") as handle:
        handle.write(text)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


def configure_logging(level: str = "INFO") -> None:
    """One line per event on stderr, with a UTC timestamp and the level."""
    logging.Formatter.converter = time.gmtime
    logging.basicConfig(
        level=level,
        format="%(asctime)sZ %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        force=True,
    )
    # Our own start/ok/failed lines say what each job did; these say it again or say
    # nothing an operator needs (font subsetting while a report is laid out).
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    logging.getLogger("fontTools").setLevel(logging.WARNING)
