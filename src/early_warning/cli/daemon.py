"""Commands for operations: `daemon` and `status`."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import sys
from pathlib import Path
from typing import Any

import click

from ..daemon.settings import DaemonSettings, lock_path, sources_health
from ..store import scheduled_jobs
from .common import (
    App,
    echo_json,
    echo_table,
    json_option,
    pass_app,
)

__all__ = ["daemon_command", "status_command"]


@click.command(name="daemon")
@click.option(
    "--run-for", type=click.FloatRange(0.1), metavar="SECONDS", help="Stop after SECONDS."
)
@click.option("--once", is_flag=True, help="Run every job once at start, then keep to schedule.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="INFO",
    show_default=True,
)
@pass_app
def daemon_command(app: App, run_for: float | None, once: bool, log_level: str) -> None:
    """Run ingestion, scoring, alerts and the weekly report on a schedule.

    Jobs come from the configuration ([daemon], [sources.NAME], [mail]); they live in
    their own job store, survive restarts and catch up a missed weekly report once.
    One daemon per database. SIGTERM or SIGINT: the running job finishes, exit 0.
    Logs go to stderr, one line per event.
    """
    from ..daemon.runner import Daemon, configure_logging  # the scheduler and pipeline

    configure_logging(log_level)
    daemon = Daemon(app.config)
    sys.exit(daemon.run(run_for=run_for, once=once))


@click.command(
    name="status",
    short_help="The daemon at a glance: jobs, mail backlog and dead mail, database, last report.",
)
@json_option
@pass_app
def status_command(app: App, as_json: bool) -> None:
    """The daemon at a glance: is it running, each job's next run and last outcome,
    the mail backlog and dead messages, the database size, the last report."""
    settings = DaemonSettings.from_config(app.config)
    with app.store() as store:
        info = store.status()
        runs = {r["job"]: r for r in reversed(store.job_runs(limit=500))}
        reports = store.reports(limit=1)
        warnings = [_warning(row) for row in store.latest_warnings()]
        sources = sources_health(settings, store, dt.datetime.now(dt.UTC))
    status = {
        "warnings": warnings,
        "sources": sources,
        "daemon": _daemon_state(app.config.db_path),
        "jobs": _jobs(settings.jobstore, runs),
        "outbox": info["outbox"],
        "alerts_active": info["alerts_active"],
        "database": {"path": info["path"], "bytes": info["bytes"]},
        "jobstore": str(settings.jobstore),
        "last_report": reports[0] if reports else None,
    }
    if as_json:
        echo_json(status)
        return
    shown = [
        w for w in warnings if w["subject"] in settings.report_subjects or w["level"] != "none"
    ]
    for w in shown:  # first: what a duty officer acts on
        click.echo(
            f"warning    {w['subject']} {w['week']}: {w['level'].upper()}, {w['reasons'][0]}"
        )
    quiet = sorted(w["subject"] for w in warnings if w not in shown)
    if quiet:  # named, so that a subject left out is not taken for one never assessed
        click.echo(f"warning    NONE for {len(quiet)} more: {', '.join(quiet)}")
    if not warnings:
        click.echo(
            "warning    none computed yet (the pipeline computes it: `early-warning pipeline`)"
        )
    pid = status["daemon"]["pid"]
    click.echo(f"daemon     {status['daemon']['state']}" + (f" (pid {pid})" if pid else ""))
    for source in sources:
        state = "healthy" if source["healthy"] else f"UNHEALTHY: {source['problem']}"
        click.echo(
            f"source     {source['name']}: {state}; last run {source['last_outcome'] or '-'} "
            f"at {source['last_run'] or '-'}"
        )
        if source["last_file"]:
            item = source["last_file"]
            click.echo(f"           last file or fetch ({item['outcome']}, {item['at']}): "
                       f"{item['detail'][:160]}")  # fmt: skip
    if status["jobs"]:
        echo_table(
            status["jobs"], ["job", "next_run", "last_outcome", "last_finished", "last_error"]
        )
    else:
        click.echo("jobs       none scheduled (the daemon schedules them when it starts)")
    outbox = ", ".join(f"{n} {k}" for k, n in status["outbox"].items()) or "empty"
    click.echo(f"outbox     {outbox}")
    if status["outbox"].get("dead"):
        click.echo(
            "           dead messages need attention: early-warning outbox list --status dead"
        )
    click.echo(f"alerts     {status['alerts_active']} firing or acknowledged")
    click.echo(f"database   {info['path']} ({info['bytes']:,} bytes)")
    last = status["last_report"]
    click.echo(f"report     {last['path']} ({last['week']}, {last['created_at']})" if last
               else "report     none yet")  # fmt: skip


def _warning(row: dict[str, Any]) -> dict[str, Any]:
    """A stored warning as `status --json` shows it (the level of the latest week the
    pipeline or `score --record` assessed)."""
    record = json.loads(row["record"])
    return {
        "subject": row["subject"],
        "week": row["week"],
        "as_of": row["as_of"],
        "level": row["level"],
        "reasons": record["reasons"],
        "computed_at": row["computed_at"],
    }


def _daemon_state(db_path: Path) -> dict[str, Any]:
    path = lock_path(db_path)
    if not path.exists():
        return {"state": "not running", "pid": None}
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            return {"state": "running", "pid": handle.read().strip() or None}
        fcntl.flock(handle, fcntl.LOCK_UN)
    return {"state": "not running", "pid": None}


def _jobs(jobstore: Path, runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Next run times read from the job store's table (no scheduler needed)."""
    scheduled = scheduled_jobs(jobstore)
    rows = []
    for job in sorted(set(scheduled) | set(runs)):
        when = scheduled.get(job)
        last = runs.get(job, {})
        job_label = "not scheduled" if job not in scheduled else "paused"
        rows.append(
            {
                "job": job,
                "next_run": dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")
                if when
                else job_label,
                "last_outcome": last.get("outcome"),
                "last_started": last.get("started_at"),
                "last_finished": last.get("finished_at"),
                "last_error": last.get("error"),
            }
        )
    return rows
