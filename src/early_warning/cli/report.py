"""The `report` command: the weekly escalation-risk PDF."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from ..alerts import MailSettings, Notifier
from ..errors import InputError
from ..periods import SUBJECT_PATTERN, subject_problem
from ..report import Report, build_report, parse_week, queue_report_email
from .common import (
    App,
    echo_json,
    json_option,
    pass_app,
    profile_option,
    score_as_of,
)

__all__ = ["report_command"]


def _report_day(app: App, week: str | None, as_of: str | None) -> dt.date:
    if week and as_of:
        raise InputError("give --week or --as-of, not both")
    if not week:
        return score_as_of(app, as_of)
    try:
        sunday = parse_week(week)
    except ValueError as exc:
        raise InputError(f"--week: {exc}") from None
    if sunday - dt.timedelta(days=6) > app.today():
        raise InputError(f"--week {week} has not started yet")
    return min(sunday, app.today())  # the current week: as of today


@click.command(name="report")
@click.option("--subject", metavar="CODE", help="Subject (default from the configuration).")
@click.option(
    "--week", metavar="YYYY-Www", help="ISO week to report (its Sunday is the as-of day)."
)
@click.option("--as-of", "as_of", metavar="DATE", help="Report as of DATE (default: today).")
@profile_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="PDF file to write.")
@click.option("--email", is_flag=True, help="Mail the PDF to [mail] to_reports via the outbox.")
@json_option
@pass_app
def report_command(
    app: App,
    subject: str | None,
    week: str | None,
    as_of: str | None,
    profile: str | None,
    out: Path | None,
    email: bool,
    as_json: bool,
) -> None:
    """Write the weekly escalation-risk PDF (to the reports folder by default).

    Named early-warning-SUBJECT-YYYY-Www.pdf; recorded in the database with its SHA-256
    and inputs (profile hash, data vintage, versions). The same inputs give the same
    bytes. With no data the report says so instead of failing.
    """
    day = _report_day(app, week, as_of)
    subject = subject or app.config.default_subject
    if not SUBJECT_PATTERN.fullmatch(subject):
        raise InputError(f"--subject: {subject_problem(subject)}")
    scope = app.scope(subject, profile)
    out_dir = Path(app.config.get("paths", "reports"))
    settings = MailSettings.from_config(app.config)
    if email and not settings.report_recipients:
        raise InputError("--email: no subscribers; set [mail] to_reports")
    with app.store() as store:
        # A report as of today names the sources that are unhealthy now (as the daemon's
        # does); one of a past week is that week's, and the same inputs give its bytes.
        sources = _sources_now(app, store) if not (week or as_of) else []
        report = build_report(
            store, scope.catalog, scope.profile, subject, day, rules=list(scope.rules), out=out,
            out_dir=out_dir, sources=sources,
        )  # fmt: skip
        sent = _email(store, settings, report) if email else None
    _print(report, as_json, sent)
    if sent is not None and sent["status"] != "sent":
        # By this report's own message: another message stuck in the outbox is not ours.
        left = (
            "it will not be retried (see `early-warning outbox list --status dead`)"
            if sent["status"] == "dead"
            else "it stays in the outbox for a retry (see `early-warning outbox list`)"
        )
        click.echo(
            f"early-warning: report e-mail not delivered via {settings.describe()}: "
            f"{sent['reason']}; {left}",
            err=True,
        )
        sys.exit(1)


def _sources_now(app: App, store: Any) -> list[dict[str, Any]]:
    from ..daemon.settings import DaemonSettings, sources_health

    return sources_health(DaemonSettings.from_config(app.config), store, dt.datetime.now(dt.UTC))


def _email(store, settings: MailSettings, report: Report) -> dict[str, Any]:
    """Queue the report's message, flush, and say how that message stands."""
    outbox_id = queue_report_email(store, settings, report)
    return Notifier(store, settings).deliver(outbox_id)


def _print(report: Report, as_json: bool, sent: dict[str, Any] | None) -> None:
    data = report.data
    record = data.record
    if as_json:
        echo_json(
            {
                "path": str(report.path),
                "sha256": report.sha256,
                "pages": report.pages,
                "subject": data.subject,
                "week": data.week,
                "as_of": data.as_of.isoformat(),
                "score": record.get("score"),
                "band": record.get("band"),
                "horizons": data.forecast.horizons if data.forecast else [],
                "active_alerts": [a.rule for a in data.active_alerts],
                "inputs": data.inputs(),
                "seconds": {k: round(v, 3) for k, v in report.timings.items()},
                "emailed": sent,
            }
        )
        return
    click.echo(f"{report.path} ({report.pages} pages, sha256 {report.sha256[:16]}...)")
    if data.notes:
        for note in data.notes:
            click.echo(f"  {note}")
    if sent is not None:
        done = sum(r["status"] == "sent" for r in sent["recipients"])
        click.echo(
            f"  e-mailed: {sent['status']}, {done} of {len(sent['recipients'])} recipient(s)"
        )
