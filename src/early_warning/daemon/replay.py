"""`early-warning demo --replay START END`: the daemon's weekly cycle over a past period.

A living demo: the daemon lives through the weeks START .. END on a fixed clock and
knows each week only what was public by then.

What was known when: every file is first read once, as `ingest` reads it today, into
a feed database of its own (`feed.db` in the work folder: its rejects stay there). Each
of its rows then becomes a release on the day it became known (its `known_from`: the
`published` date; a GDELT week at the end of the week; an event at the end of its
period; a row without a publication date at the end of its period, and counted). Rows
derived from others are left out: the replayed database derives them again, from what
it holds, as they fall due.

Each week the daemon's own jobs run (`Daemon.run_job`, nothing re-implemented) at the
times the daemon would run them: on Sunday at 23:00 on the daemon's local clock, the
week's releases are written into its watched folder and its `ingest:incoming` job
takes them (and runs the pipeline: score, forecast, warning level, alert check, mail),
or, in a week with nothing new, its hourly `pipeline` job runs alone; on Monday at the
report hour (the daemon's weekly trigger), its `weekly-report` job writes the report of
the week just ended, and its `flush` job sends what is left in the outbox. Mail goes
to `.eml` files in the work folder's outbox, never to a server.
"""

from __future__ import annotations

import csv
import datetime as dt
import email.parser
import email.policy
import io
import json
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..clock import FixedClock
from ..config import Config, load_config
from ..errors import ConfigError
from ..ingest import IngestResult, Limits, ingest
from ..ingest.gdelt_dyads import looks_like_dyad_scores
from ..periods import iso_week, week_end
from ..pipeline import PipelineResult
from ..report import Report
from ..store import Store, kept_results_path
from .runner import Daemon
from .settings import FLUSH, PIPELINE, REPORT, weekly_trigger

__all__ = [
    "Feed",
    "Release",
    "ReplayWeek",
    "dyad_files",
    "read_feed",
    "replay_weeks",
    "start_replay",
]

INCOMING = "incoming"
SOURCE_JOB = f"ingest:{INCOMING}"
OBSERVATION_HEADER = (
    "indicator", "date", "value", "subject", "source", "citation", "published",
    "reliability", "credibility", "unit", "note", "end",
)  # fmt: skip
EVENT_HEADER = (
    "date", "subject", "kind", "severity", "title", "citation", "source", "note", "published",
)  # fmt: skip


@dataclass(frozen=True)
class Release:
    """The rows of one file that became known on one day."""

    day: dt.date
    name: str  # the file they were read from
    kind: str  # observations | events
    rows: tuple[tuple[str, ...], ...]

    @property
    def file_name(self) -> str:
        return f"{self.day.isoformat()}_{self.kind}_{self.name}.csv"

    def csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(OBSERVATION_HEADER if self.kind == "observations" else EVENT_HEADER)
        writer.writerows(self.rows)
        return out.getvalue()


@dataclass
class Feed:
    """Every file read once, its rows cut into releases by the day they became known."""

    releases: list[Release]
    results: list[IngestResult]
    undated: int = 0  # rows without a publication date, released at the end of their period

    @property
    def first(self) -> dt.date | None:
        return min((r.day for r in self.releases), default=None)

    @property
    def last(self) -> dt.date | None:
        return max((r.day for r in self.releases), default=None)

    @property
    def rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results)


def dyad_files(folder: Path) -> list[Path]:
    """The GDELT daily dyad files (`date,BLR_RUS,...`) in a folder or its `gdelt/`."""
    found = []
    for place in (folder, folder / "gdelt"):
        for path in sorted(place.glob("*.csv")) if place.is_dir() else []:
            with path.open("rb") as handle:
                if looks_like_dyad_scores(handle.read(200)):
                    found.append(path)
    return found


def read_feed(files: Sequence[Path], catalog: Catalog, db_path: Path, subject: str) -> Feed:
    """Read every file into a fresh feed database and cut its rows into releases."""
    _remove_database(db_path)
    with Store(db_path) as store:
        store.sync_catalog(catalog)
        results = [
            ingest(store, catalog, path, default_subject=subject, limits=Limits()) for path in files
        ]
        names = {r.run_id: Path(r.uri).stem for r in results if r.run_id is not None}
        recorded = store.today().isoformat()
        groups: dict[tuple[str, str, str], list[tuple[str, ...]]] = defaultdict(list)
        undated = 0
        for row in store.observations(all_revisions=True):
            if row["source"] == "derived":
                continue  # derived again by the replayed database from what it holds
            day = row["known_from"]
            if not row["published"] and day >= recorded:
                day, undated = row["period_end"], undated + 1
            name = names.get(row["run_id"], "data")
            groups[day, name, "observations"].append(_observation(row, catalog, day))
        for row in store.events():
            name = names.get(row["run_id"], "events")
            groups[row["known_from"], name, "events"].append(_event(row))
    releases = [
        Release(dt.date.fromisoformat(day), name, kind, tuple(rows))
        for (day, name, kind), rows in sorted(groups.items())
    ]
    return Feed(releases, results, undated)


def _observation(row: dict[str, Any], catalog: Catalog, known: str) -> tuple[str, ...]:
    """A stored observation as a canonical row again, known from `known`."""
    value = row["value_text"] if row["value_text"] is not None else f"{row['value']:.17g}"
    interval = catalog.indicators[row["indicator"]].lifetime == "interval"
    return tuple(
        "" if v is None else str(v)
        for v in (
            row["indicator"], row["period"], value, row["subject"], row["source"],
            row["citation"], known, row["reliability"], row["credibility"], row["unit"],
            row["note"], row["period_end"] if interval else "",
        )
    )  # fmt: skip


def _event(row: dict[str, Any]) -> tuple[str, ...]:
    start = dt.date.fromisoformat(row["date"])
    label = {
        "day": row["date"],
        "week": iso_week(start),
        "month": row["date"][:7],
        "quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
        "year": row["date"][:4],
    }[row["date_precision"]]
    return tuple(
        "" if v is None else str(v)
        for v in (
            label, row["subject"], row["kind"], row["severity"], row["title"],
            row["citation"], row["source"], row["note"], row["known_from"],
        )
    )  # fmt: skip


# -- the weeks ----------------------------------------------------------------------


@dataclass
class ReplayWeek:
    """What the daemon did in one replayed week."""

    week: str
    sunday: dt.date
    arrived: list[Release] = field(default_factory=list)
    pipeline: PipelineResult | None = None
    reports: list[Report] = field(default_factory=list)
    emails: list[tuple[str, str]] = field(default_factory=list)  # (subject, recipient)
    failures: list[str] = field(default_factory=list)  # "job: error", when a job failed


@dataclass
class Replay:
    """A replay set up in its work folder: the daemon, its clock and the feed."""

    daemon: Daemon
    clock: FixedClock
    feed: Feed
    sundays: list[dt.date]
    workdir: Path

    @property
    def db_path(self) -> Path:
        return self.daemon.config.db_path

    @property
    def outbox(self) -> Path:
        return Path(self.daemon.config.get("mail", "outbox_dir"))

    @property
    def reports_dir(self) -> Path:
        return Path(self.daemon.config.get("paths", "reports"))


def replay_window(start: dt.date, end: dt.date, feed: Feed) -> list[dt.date]:
    """The Sundays of the weeks START .. END, refused (one line) outside the data."""
    if end < start:
        raise ConfigError(f"--replay: END {end} is before START {start}")
    if feed.first is None or feed.last is None:
        raise ConfigError("--replay: the data hold no rows to replay")
    if start > feed.last or end > week_end(feed.last):
        raise ConfigError(
            f"--replay: {start} .. {end} is beyond the data: the last figure became known "
            f"{feed.last} (choose an END up to {week_end(feed.last)}, or add files with --data)"
        )
    first = week_end(start)
    return [first + dt.timedelta(weeks=n) for n in range((week_end(end) - first).days // 7 + 1)]


def start_replay(
    config: Config,
    workdir: Path,
    files: Sequence[Path],
    start: dt.date,
    end: dt.date,
    catalog: Catalog,
) -> Replay:
    """Fresh files in `workdir` (database, outbox, watched folder, reports), the feed
    read, the window checked and a daemon made on a clock set before the first week."""
    workdir.mkdir(parents=True, exist_ok=True)
    feed = read_feed(files, catalog, workdir / "feed.db", config.default_subject)
    sundays = replay_window(start, end, feed)
    _remove_database(workdir / "replay.db")
    for folder in (INCOMING, "outbox", "reports"):
        shutil.rmtree(workdir / folder, ignore_errors=True)
    path = workdir / "replay.toml"
    path.write_text(_daemon_config(config), encoding="utf-8")
    clock = FixedClock(dt.datetime.combine(sundays[0] - dt.timedelta(days=7), dt.time()))
    daemon = Daemon(load_config(path, env={}), clock=clock)
    with daemon.open_db(create=True) as store:
        store.sync_catalog(daemon.catalog)
    return Replay(daemon, clock, feed, sundays, workdir)


def replay_weeks(replay: Replay, *, reports: bool = True) -> Iterator[ReplayWeek]:
    """Live each week in turn, as it is lived (a caller can print each as it comes);
    without `reports`, the weekly report job is left out (its PDF takes seconds)."""
    pending = list(replay.feed.releases)
    daemon = replay.daemon
    trigger = weekly_trigger(daemon.settings)
    daemon.acquire_lock()  # one replay at a time in a work folder
    try:
        yield from _weeks(replay, pending, trigger, reports)
    finally:
        daemon.stop()


def _weeks(
    replay: Replay, pending: list[Release], trigger: Any, reports: bool
) -> Iterator[ReplayWeek]:
    daemon, zone = replay.daemon, replay.daemon.settings.timezone
    for sunday in replay.sundays:
        week = ReplayWeek(iso_week(sunday), sunday)
        week.arrived = [r for r in pending if r.day <= sunday]
        pending = pending[len(week.arrived) :]  # releases are sorted by day
        before = set(replay.outbox.glob("*.eml"))
        evening = dt.datetime.combine(sunday, dt.time(23), tzinfo=zone)
        _set(replay.clock, evening)
        _drop(week.arrived, replay.workdir / INCOMING)
        daemon.last_pipeline = None
        jobs = [SOURCE_JOB] if week.arrived else []
        for job in jobs:
            _run(daemon, job, week)
        if daemon.last_pipeline is None:  # nothing loaded: the hourly job still runs
            _run(daemon, PIPELINE, week)
        week.pipeline = daemon.last_pipeline
        _set(replay.clock, trigger.get_next_fire_time(None, evening))
        if reports:
            _run(daemon, REPORT, week)
            week.reports = list(daemon.last_reports)
        _run(daemon, FLUSH, week)
        week.emails = _emails(sorted(set(replay.outbox.glob("*.eml")) - before))
        yield week


def _run(daemon: Daemon, job: str, week: ReplayWeek) -> None:
    if daemon.run_job(job) == "failed":
        with daemon.open_db() as store:
            error = store.job_runs(job, limit=1)[0]["error"]
        week.failures.append(f"{job}: {error}")


def _set(clock: FixedClock, moment: dt.datetime | None) -> None:
    assert moment is not None  # a weekly cron trigger always fires again
    clock.advance(seconds=(moment - clock.now()).total_seconds())


def _drop(releases: Sequence[Release], folder: Path) -> None:
    """Each release as a file in the watched folder, finished before it appears (as a
    publisher's upload would be), and older than the daemon's settling time."""
    folder.mkdir(parents=True, exist_ok=True)
    settled = time.time() - 60
    for release in releases:
        partial = folder / (release.file_name + ".part")
        partial.write_text(release.csv_text(), encoding="utf-8")
        os.utime(partial, (settled, settled))
        os.replace(partial, folder / release.file_name)


def _emails(files: Sequence[Path]) -> list[tuple[str, str]]:
    """(subject, recipient) of each new .eml file, in that order."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)  # unfolded
    found = []
    for path in files:
        with path.open("rb") as handle:
            headers = parser.parse(handle)
        found.append((" ".join(str(headers["Subject"]).split()), str(headers["To"])))
    return sorted(found)


def _remove_database(path: Path) -> None:
    jobs, kept = Path(f"{path}.jobs.sqlite"), kept_results_path(path)
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), jobs, kept):
        stale.unlink(missing_ok=True)


def _daemon_config(config: Config) -> str:
    """The replay's daemon configuration: the demo's recipients, the user's catalog and
    models, everything else in the work folder."""
    text = json.dumps  # a JSON string is a TOML basic string
    return f"""\
# Written by `early-warning demo --replay`: the daemon that lives through the weeks.
[database]
path = "replay.db"

[catalog]
dir = {text(str(config.catalog_dir.resolve()))}
default_subject = {text(config.default_subject)}

[paths]
models = {text(str(config.models_dir.resolve()))}
reports = "reports"

[mail]
sender = "early-warning@demo.invalid"
outbox_dir = "outbox"
to_watch = ["duty-officer@example.org"]
to_red = ["crisis-desk@example.org"]
to_reports = ["weekly-subscribers@example.org"]
to_ops = ["operator@example.org"]

[daemon]
timezone = "Europe/Minsk"
report_weekday = "mon"
report_hour = 7
settle_seconds = 0

[sources.{INCOMING}]
folder = "{INCOMING}"
cron = "0 * * * *"
# The publications come months apart: a quiet folder is no silent source here.
expected_every_seconds = 100000000
"""
