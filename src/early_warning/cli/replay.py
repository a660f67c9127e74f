"""`demo --replay START END`: the daemon living through past weeks, printed week by week
(the replay itself is `early_warning.daemon.replay`)."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from ..daemon.replay import Feed, Replay, ReplayWeek, dyad_files, replay_weeks, start_replay
from ..demo import embedded_files
from ..pipeline import SubjectOutcome
from .common import App, fail

__all__ = ["parse_window", "replay_demo"]


def parse_window(texts: Sequence[str]) -> tuple[dt.date, dt.date]:
    """START and END as ISO dates, or a one-line error (exit 2)."""
    dates = []
    for name, text in zip(("START", "END"), texts, strict=True):
        try:
            dates.append(dt.date.fromisoformat(text))
        except ValueError:
            fail(f"--replay: {name} {text!r} is not a date (YYYY-MM-DD)")
    if dates[1] < dates[0]:
        fail(f"--replay: END {dates[1]} is before START {dates[0]}")
    return dates[0], dates[1]


def replay_demo(
    app: App,
    window: tuple[dt.date, dt.date],
    workdir: Path | None,
    data: Sequence[Path],
    reports: bool,
) -> int:
    """Run the replay in `workdir` (a temporary folder, removed, when None), printing
    each week as it is lived; the exit status (1 when rows were rejected or a job failed)."""
    if workdir is not None:
        return _replay_in(app, window, workdir, data, reports, kept=True)
    with tempfile.TemporaryDirectory(prefix="early-warning-replay-") as tmp:
        return _replay_in(app, window, Path(tmp), data, reports, kept=False)


def _replay_in(
    app: App,
    window: tuple[dt.date, dt.date],
    workdir: Path,
    data: Sequence[Path],
    reports: bool,
    *,
    kept: bool,
) -> int:
    catalog_dir = app.config.catalog_dir
    extra, said = _extra_files(catalog_dir, data)
    files = [*embedded_files(catalog_dir), *extra]
    replay = start_replay(app.config, workdir, files, *window, app.catalog)
    _print_header(replay, window, said)
    weeks = []
    for week in replay_weeks(replay, reports=reports):
        _print_week(week, app.config.default_subject)
        weeks.append(week)
    _print_summary(replay, weeks, kept)
    failed = any(w.failures for w in weeks)
    return 1 if replay.feed.rejected or failed else 0


def _extra_files(catalog_dir: Path, data: Sequence[Path]) -> tuple[list[Path], str]:
    """The files fed beside the embedded data, and a line saying which: `--data` files
    as they are and the GDELT daily dyad files in `--data` folders; by default those in
    ../shared/real_data beside the project, when it is there."""
    if not data:
        shared = catalog_dir.resolve().parent.parent / "shared" / "real_data"
        found = dyad_files(shared)
        if found:
            return found, f"the GDELT daily dyad file(s) in {shared}: {_names(found)}"
        return [], f"no GDELT daily dyad file ({shared} is not there; --data DIR gives one)"
    files = [p for p in data if p.is_file()]
    for folder in (p for p in data if p.is_dir()):
        files += dyad_files(folder)
    if not files:
        return [], "no file to add in --data (a folder is searched for GDELT daily dyad files)"
    return files, f"from --data: {_names(files)}"


def _names(paths: Sequence[Path]) -> str:
    return ", ".join(p.name for p in paths)


def _print_header(replay: Replay, window: tuple[dt.date, dt.date], said: str) -> None:
    feed = replay.feed
    zone = replay.daemon.settings.timezone
    click.echo(
        f"early-warning demo --replay {window[0]} {window[1]}: the daemon's weekly cycle over "
        f"{len(replay.sundays)} week(s) on a fixed clock ({zone}: Sunday 23:00 the data "
        "published that week arrive and the pipeline runs; Monday 07:00 the weekly report "
        "and the outbox)"
    )
    rows = _feed_rows(feed)
    click.echo(
        f"fed: the embedded data and {said}; {rows:,} rows from {len(feed.results)} files, "
        f"in {len(feed.releases)} releases known {feed.first} .. {feed.last}, each from the "
        "day it became public, never before"
    )
    if feed.undated:
        click.echo(f"  {feed.undated} row(s) carry no publication date: each counts as "
                   "published at the end of its period")  # fmt: skip
    if feed.rejected:
        click.echo(
            f"  {feed.rejected} row(s) rejected on reading: early-warning --db "
            f"{replay.workdir / 'feed.db'} rejects list"
        )
    click.echo("")


def _print_week(week: ReplayWeek, subject: str) -> None:
    """One line for the week, then one for each alert, e-mail, report or failure."""
    outcomes = {s.subject: s for s in week.pipeline.subjects} if week.pipeline else {}
    mine = outcomes.get(subject)
    click.echo(f"{week.week} (to {week.sunday})  {_standing(mine, subject)}  {_arrived(week)}")
    for other, outcome in sorted(outcomes.items()):  # a dyad is shown when it warns
        if other != subject and outcome.warning.level != "none":
            click.echo(f"  {_standing(outcome, other)}")
    for outcome in outcomes.values():
        for alert in outcome.check.fired:
            where = "" if alert.subject == subject else f"{alert.subject} "
            click.echo(f"  alert raised: {where}{alert.severity} {alert.rule}, week "
                       f"{alert.week}: {alert.message}")  # fmt: skip
        for rule in outcome.check.resolved:
            where = "" if outcome.subject == subject else f"{outcome.subject} "
            click.echo(f"  alert resolved: {where}{rule}")
    for title, recipient in week.emails:
        click.echo(f"  e-mail to {recipient}: {title}")
    for report in week.reports:
        click.echo(f"  report: {report.path.name} ({report.pages} pages)")
    for failure in week.failures:
        click.echo(f"  job failed: {failure}")


def _standing(outcome: SubjectOutcome | None, subject: str) -> str:
    """The composite and its band, and the warning level, or why there are none."""
    if outcome is None:
        return f"{subject}: no observations yet"
    scores = outcome.scores
    latest = float(scores.score[-1]) if len(scores.score) else math.nan
    score = (
        "insufficient data"
        if math.isnan(latest)
        else f"{latest:.1f} ({scores.band(scores.latest_row)})"
    )
    return f"{subject} {score}, warning {outcome.warning.level.upper()}"


def _arrived(week: ReplayWeek) -> str:
    if not week.arrived:
        return "| no new data"
    per_file = Counter()
    for release in week.arrived:
        per_file[release.name] += len(release.rows)
    rows = sum(per_file.values())
    files = ", ".join(f"{name} {n}" for name, n in sorted(per_file.items()))
    return f"| new: {rows:,} rows ({files})"


def _print_summary(replay: Replay, weeks: Sequence[ReplayWeek], kept: bool) -> None:
    subject = replay.daemon.config.default_subject
    levels: Counter[str] = Counter()
    highest = ("none", "")
    order = ("none", "watch", "amber", "red")
    for week in weeks:
        mine = next((s for s in week.pipeline.subjects if s.subject == subject), None)
        level = mine.warning.level if mine else "none"
        levels[level] += 1
        if order.index(level) > order.index(highest[0]):
            highest = (level, week.week)
    raised = sum(len(s.check.fired) for w in weeks for s in _subjects(w))
    resolved = sum(len(s.check.resolved) for w in weeks for s in _subjects(w))
    emails = sum(len(w.emails) for w in weeks)
    made = sum(len(w.reports) for w in weeks)
    quiet = sum(not w.arrived for w in weeks)
    click.echo("")
    click.echo(f"replayed {len(weeks)} week(s), {weeks[0].week} .. {weeks[-1].week} "
               f"({quiet} without new data)")  # fmt: skip
    seen = ", ".join(f"{level} {levels[level]}" for level in order if levels[level])
    top = f"; highest {highest[0].upper()} first in {highest[1]}" if highest[1] else ""
    click.echo(f"  {subject} warning levels (weeks): {seen}{top}")
    click.echo(f"  alerts: {raised} raised, {resolved} resolved")
    where = "" if kept else " (a temporary folder, removed now; --workdir DIR keeps it)"
    click.echo(f"  e-mails: {emails} written as .eml files to {replay.outbox}{where}")
    click.echo(f"  reports: {made} written to {replay.reports_dir}")
    config, feed = replay.daemon.config.file, replay.workdir / "feed.db"
    click.echo(f"  database: {replay.db_path} (its daemon's configuration {config}; "
               f"the files as read: {feed})")  # fmt: skip


def _subjects(week: ReplayWeek) -> list[SubjectOutcome]:
    return week.pipeline.subjects if week.pipeline else []


def _feed_rows(feed: Feed) -> int:
    return sum(len(r.rows) for r in feed.releases)
