"""The daemon's settings, read from `[daemon]` and `[sources.NAME]`, and its calendar.

Kept apart from the runner so that `status` (which needs the job store's path and the
lock file, nothing else) does not load the pipeline, the report and the scheduler.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..config import FEEDS, Config
from ..errors import ConfigError
from ..periods import SUBJECT_PATTERN

__all__ = [
    "FLUSH",
    "PIPELINE",
    "REPORT",
    "DaemonSettings",
    "last_complete_week",
    "lock_path",
    "source_health",
    "sources_health",
    "weekly_trigger",
]

FLUSH, REPORT, PIPELINE = "flush", "weekly-report", "pipeline"


def lock_path(db_path: Path) -> Path:
    """Beside the real file (symlinks resolved), so two paths to one database share it."""
    return Path(f"{db_path.resolve()}.daemon.lock")


@dataclass(frozen=True)
class DaemonSettings:
    timezone: ZoneInfo
    report_weekday: str
    report_hour: int
    report_subjects: tuple[str, ...]
    grace_seconds: int
    flush_seconds: int
    jobstore: Path
    failure_alert_after: int
    check_minutes: int = 60
    settle_seconds: int = 5
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> DaemonSettings:
        d = config.values["daemon"]
        try:
            zone = ZoneInfo(d["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"[daemon] timezone: unknown time zone {d['timezone']!r}") from None
        if not 0 <= d["report_hour"] <= 23:
            raise ConfigError(f"[daemon] report_hour: 0 to 23, got {d['report_hour']}")
        for key in ("flush_seconds", "failure_alert_after", "misfire_grace_seconds",
                    "check_minutes"):  # fmt: skip
            if d[key] < 1:
                raise ConfigError(f"[daemon] {key}: at least 1, got {d[key]}")
        for subject in d["report_subjects"]:
            if not SUBJECT_PATTERN.fullmatch(subject):
                raise ConfigError(f"[daemon] report_subjects: {subject!r} is not a subject code")
        for name, spec in config.sources.items():
            for key in ("url", "master_url", "token_url"):
                if key in spec and not spec[key].startswith(("http://", "https://")):
                    raise ConfigError(
                        f"[sources.{name}] {key}: only http(s) URLs, got {spec[key]!r}"
                    )
            if "subject" in spec and not SUBJECT_PATTERN.fullmatch(spec["subject"]):
                raise ConfigError(f"[sources.{name}] subject: {spec['subject']!r} is not a code")
        real_db = config.db_path.resolve()
        jobstore = Path(d["jobstore"]) if d["jobstore"] else Path(f"{real_db}.jobs.sqlite")
        if jobstore.resolve() == config.db_path.resolve():
            raise ConfigError("[daemon] jobstore: a file of its own, not the database")
        settings = cls(
            timezone=zone,
            report_weekday=d["report_weekday"],
            report_hour=d["report_hour"],
            report_subjects=tuple(d["report_subjects"]) or (config.default_subject,),
            grace_seconds=d["misfire_grace_seconds"],
            flush_seconds=d["flush_seconds"],
            jobstore=jobstore,
            failure_alert_after=d["failure_alert_after"],
            check_minutes=d["check_minutes"],
            settle_seconds=d["settle_seconds"],
            sources=dict(config.sources),
        )
        for name in settings.sources:
            settings.source_trigger(name)  # a bad cron is a configuration error now
        return settings

    def expected_every(self, name: str) -> int:
        """How long a source may go without bringing data before it counts as silent
        [seconds]: `expected_every_seconds`, else a feed's own (`config.FEEDS`: GDELT an
        hour, UCDP 45 days, the World Bank 400 days), else three of its scheduled runs (a
        source may skip a beat; a third missed one is a pattern)."""
        spec = self.sources[name]
        if "expected_every_seconds" in spec:
            return int(spec["expected_every_seconds"])
        if "feed" in spec:
            return FEEDS[spec["feed"]].expected_every_seconds
        trigger = self.source_trigger(name)
        start = dt.datetime(2024, 1, 1, tzinfo=self.timezone)
        first = trigger.get_next_fire_time(None, start)
        second = trigger.get_next_fire_time(first, first + dt.timedelta(microseconds=1))
        if first is None or second is None:
            return 3 * 86400
        return int(3 * (second - first).total_seconds())

    def source_trigger(self, name: str) -> CronTrigger | IntervalTrigger:
        spec = self.sources[name]
        if "every_seconds" in spec:
            return IntervalTrigger(seconds=spec["every_seconds"], timezone=self.timezone)
        if "cron" not in spec:  # a feed, polled on its own rhythm
            seconds = FEEDS[spec["feed"]].poll_seconds
            return IntervalTrigger(seconds=seconds, timezone=self.timezone)
        try:
            return CronTrigger.from_crontab(spec["cron"], timezone=self.timezone)
        except ValueError as exc:
            raise ConfigError(f"[sources.{name}] cron: {spec['cron']!r}: {exc}") from None


def weekly_trigger(settings: DaemonSettings) -> CronTrigger:
    """The weekly report: the weekday and hour on the local clock of the time zone
    (so it stays at 07:00 local across daylight-saving changes)."""
    return CronTrigger(
        day_of_week=settings.report_weekday,
        hour=settings.report_hour,
        minute=0,
        timezone=settings.timezone,
    )


def last_complete_week(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The Sunday that ended the last full week before `moment`, in the local calendar."""
    today = moment.astimezone(zone).date()
    return today - dt.timedelta(days=today.weekday() + 1)


def source_health(
    name: str,
    runs: dict[str, dict[str, Any] | None],
    expected_every: int,
    now: dt.datetime,
    first_run: str | None = None,
) -> dict[str, Any]:
    """How a source stands (`status --json` "sources"): its last run and outcome, the
    last time it brought data, and whether it is healthy: no run failed (or failed a
    file) since the last run that brought data cleanly, and it brought data within
    `expected_every` seconds (counted from its first run when it never has).

    `runs` is `Store.source_runs`.
    """
    last, data = runs.get("last"), runs.get("data")
    last_success = data["finished_at"] if data else None
    since = last_success or first_run
    silent = (
        since is not None
        and (now - dt.datetime.fromisoformat(since)).total_seconds() > expected_every
    )
    # A failure stays until a later run brings data cleanly: an empty poll after a
    # refused file (moved to failed/) does not make the source healthy again.
    failure, clean = runs.get("failure"), runs.get("clean_data")
    failed = failure is not None and (clean is None or clean["id"] < failure["id"])
    problem = None
    if failed:
        assert failure is not None
        what = failure["error"] or failure["detail"] or "-"
        problem = f"a run {failure['outcome']} at {failure['finished_at']}: {what}"
    elif silent:
        problem = f"silent since {since} (expected every {expected_every:,} s)"
    return {
        "name": name,
        "last_success": last_success,
        "expected_every": expected_every,
        "healthy": last is not None and problem is None,
        "last_error": None if failure is None else (failure["error"] or failure["detail"]),
        "last_run": None if last is None else last["finished_at"],
        "last_outcome": None if last is None else last["outcome"],
        "last_detail": None if last is None else last["detail"],
        "last_file": None
        if not runs.get("file")
        else {  # the last file or fetch it named
            "at": runs["file"]["finished_at"],
            "outcome": runs["file"]["outcome"],
            "detail": runs["file"]["detail"],
        },
        "problem": problem if last is not None else "not run yet",
        "silent_since": since if silent and not failed else None,
    }


def sources_health(settings: DaemonSettings, store: Any, now: dt.datetime) -> list[dict[str, Any]]:
    """`source_health` of every configured source, from the store's job runs (reads
    only): what `status` shows and the report's page 1 names when unhealthy."""
    found = []
    for name in settings.sources:
        seen = store.source_runs(f"ingest:{name}")
        first = seen["first"]["started_at"] if seen["first"] else None
        every = settings.expected_every(name)
        found.append(source_health(name, seen, every, now, first_run=first))
    return found
