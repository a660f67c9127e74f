"""Commands for alerts and mail: `alerts check|replay|list|ack|test-email`, `outbox ...`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from ..alerts import (
    Alert,
    AlertEngine,
    CheckResult,
    MailSettings,
    Notifier,
    acknowledge,
    list_alerts,
)
from ..alerts.mail import check_address
from ..alerts.skill import (
    AT_START_NOTE,
    EXPLAINED,
    false_alarms_text,
    firings_text,
    hit_rate_text,
    lead_text,
)
from ..alerts.track_record import record_replay_score, score_replay
from ..errors import InputError
from ..store import Store
from .common import (
    App,
    echo_json,
    echo_table,
    json_option,
    login,
    parse_as_of,
    parse_horizons,
    pass_app,
    profile_option,
    score_as_of,
    scored_subject,
)

__all__ = ["alerts", "not_mailed_line", "outbox"]

_ALERT_COLUMNS = ["id", "severity", "rule", "subject", "week", "value", "threshold", "state"]
_MAX_ID = 2**63 - 1


def rules_option(func: Any) -> Any:
    return click.option(
        "--rules",
        "rules_path",
        metavar="PATH",
        help="Alert rule file (default: alerts.yaml in the models folder).",
    )(func)


def _engine(
    app: App, store: Store, subject: str, profile: str | None, rules: str | None, **kw: Any
) -> AlertEngine:
    """The rule engine of a subject: its theatre's slice, profile and rules (--profile
    and --rules win)."""
    scope = app.scope(subject, profile, Path(rules) if rules else None)
    return AlertEngine(store, scope.catalog, scope.profile, list(scope.rules), **kw)


def _subjects(app: App, store: Store, subject: str | None) -> list[str]:
    """One named subject, or every subject with data."""
    if subject:
        return [scored_subject(app, store, subject)]
    found = [s for s in sorted(store.subjects()) if app.catalog.in_theatre(s)]
    if not found:
        raise InputError("no observations in the database yet (see `early-warning ingest`)")
    return found


def _alert_row(alert: Alert) -> dict[str, Any]:
    shown = alert.to_dict()
    shown["value"] = "-" if alert.value is None else alert.value_text
    shown["threshold"] = alert.threshold_text
    shown["state"] = alert.state + (" (new)" if alert.new else "")
    resolution = alert.evidence.get("resolution") or ""
    if alert.state == "resolved" and resolution.startswith("lapsed"):
        shown["state"] = f"lapsed {alert.evidence.get('resolved_week') or ''}".strip()
    return shown


@click.group()
def alerts() -> None:
    """Alert rules: check now, replay history, list, acknowledge, test the mail."""


@alerts.command(name="check")
@click.option("--subject", metavar="CODE", help="Only this subject (default: every subject).")
@click.option("--as-of", "as_of", metavar="DATE", help="Evaluate up to DATE (default: today).")
@profile_option
@rules_option
@click.option("--dry-run", is_flag=True, help="Show what would fire; record and send nothing.")
@click.option("--no-send", is_flag=True, help="Queue the e-mails but do not flush the outbox.")
@json_option
@pass_app
def alerts_check(
    app: App,
    subject: str | None,
    as_of: str | None,
    profile: str | None,
    rules_path: str | None,
    dry_run: bool,
    no_send: bool,
    as_json: bool,
) -> None:
    """Evaluate the rules for the weeks since the last check and e-mail new alerts.

    Each crossing fires once (a dedupe key per rule, subject and week, hysteresis and a
    cool-down); an alert, its state and its e-mail are written in one transaction, then
    the outbox is flushed. Prints every alert that is firing or acknowledged after the
    check, new ones marked. Exit 1 if a new alert could not be delivered.
    """
    day = score_as_of(app, as_of)
    settings = MailSettings.from_config(app.config)
    with app.store() as store:
        notifier = Notifier(store, settings)
        engines = {
            s: _engine(app, store, s, profile, rules_path, sink=notifier)
            for s in _subjects(app, store, subject)
        }
        checks = [engine.check(s, day, dry_run=dry_run) for s, engine in engines.items()]
        sent = {"sent": 0, "failed": 0, "dead": 0}
        late: list[str] = []  # new alerts whose e-mail is not accepted yet, and why
        if not dry_run and not no_send:
            sent = notifier.flush()
            late = _not_yet_delivered(store, notifier, [a for c in checks for a in c.fired])
    undelivered = [a for c in checks for a in c.undelivered]
    found = [a for c in checks for a in c.active]
    if as_json:
        echo_json([a.to_dict() for a in found])
    else:
        echo_table([_alert_row(a) for a in found], _ALERT_COLUMNS)
    for check in checks:
        _check_notes(check)
    if not dry_run:
        new = sum(len(c.fired) for c in checks)
        click.echo(
            f"{new} new alert(s); mail via {settings.describe()}: {sent['sent']} sent, "
            f"{sent['failed']} to retry, {sent['dead']} dead",
            err=True,
        )
    for alert in undelivered:
        click.echo(not_mailed_line(alert), err=True)
    for line in late:
        click.echo(f"early-warning: not delivered yet: {line}", err=True)
    # The exit status answers for this check's new alerts; an older message waiting out
    # its back-off (shown in the counts above and by `outbox list`) does not change it.
    if undelivered or late:
        sys.exit(1)


def not_mailed_line(alert: Alert) -> str:
    """Why a new alert has no e-mail: nobody is subscribed to its severity."""
    return (
        f"early-warning: not mailed: alert {alert.id} ({alert.subject}, {alert.rule}, "
        f"{alert.severity}): nobody is subscribed to {alert.severity} alerts; set [mail] "
        f"to_{alert.severity} and it is queued at the next check"
    )


def _not_yet_delivered(store: Store, notifier: Notifier, fired: list[Alert]) -> list[str]:
    lines = []
    for alert in fired:
        outbox_id = store.alert_outbox_id(alert.id)
        if outbox_id is None:
            continue  # nobody subscribed: reported as "not mailed"
        outcome = notifier.outbox.outcome(outbox_id)
        if outcome["status"] != "sent":
            lines.append(
                f"alert {alert.id} ({alert.rule}): {outcome['reason'] or outcome['status']}"
            )
    return lines


def _check_notes(check: CheckResult) -> None:
    weeks = check.weeks_evaluated
    span = f"{weeks[0]}..{weeks[-1]}" if len(weeks) > 1 else (weeks[0] if weeks else "none")
    click.echo(f"{check.subject}: weeks evaluated: {span}", err=True)
    if check.resolved:
        click.echo(f"{check.subject}: resolved: {', '.join(check.resolved)}", err=True)
    if check.not_evaluable:
        click.echo(
            f"{check.subject}: no current value to judge: {', '.join(check.not_evaluable)}",
            err=True,
        )


@alerts.command(name="replay")
@click.option("--subject", metavar="CODE", help="Subject (default from the configuration).")
@click.option("--start", required=True, metavar="DATE", help="First week to replay.")
@click.option("--end", metavar="DATE", help="Last week to replay (default: today).")
@profile_option
@rules_option
@click.option(
    "--point-in-time",
    is_flag=True,
    help="Judge each week on the data as known that week (default: current knowledge).",
)
@click.option(
    "--score",
    is_flag=True,
    help="Score every rule against the event record: hit rate, false alarms, lead time "
    "(always point in time).",
)
@click.option(
    "--horizons",
    metavar="WEEKS",
    help="With --score: horizons in weeks, comma-separated (default: 4,12).",
)
@click.option(
    "--severity",
    type=click.IntRange(1, 3),
    help="With --score: count events of at least this severity (default: 2).",
)
@click.option("--record", is_flag=True, help="With --score: keep the score, for the weekly report.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar with --score (default: when stderr is a terminal).",
)
@json_option
@pass_app
def alerts_replay(
    app: App,
    subject: str | None,
    start: str,
    end: str | None,
    profile: str | None,
    rules_path: str | None,
    point_in_time: bool,
    score: bool,
    horizons: str | None,
    severity: int | None,
    record: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    """What the rules would have raised, week by week, from --start to --end.

    Runs on a scratch state (every rule armed at --start); records and sends nothing.
    With --score, every rule is replayed point in time and scored against the events
    of the period: the share of events it fired in the H weeks before (hit rate), the
    share of its firings followed by no event within H weeks (false alarms), and the
    weeks from its first firing to the event (lead time); --record keeps the score.
    """
    first, last = parse_as_of(start, "--start"), score_as_of(app, end, "--end")
    assert first is not None  # --start is required
    if not score:
        for name, given in (
            ("--horizons", horizons),
            ("--severity", severity),
            ("--record", record),
        ):
            if given:
                raise InputError(f"{name} goes with --score")
    if score:
        weeks = parse_horizons(horizons or "4,12")
        _replay_score(app, subject, first, last, (profile, rules_path), weeks, severity or 2,
                      record, progress, as_json)  # fmt: skip
        return
    with app.store() as store:
        subject = scored_subject(app, store, subject)
        engine = _engine(app, store, subject, profile, rules_path)
        found = engine.replay(subject, first, last, point_in_time=point_in_time)
    for alert in found:
        alert.new = False
    if as_json:
        echo_json([a.to_dict() for a in found])
        return
    rows = [dict(_alert_row(a), message=a.message) for a in found]
    echo_table(rows, ["week", "severity", "rule", "value", "threshold", "state", "message"], 72)
    click.echo(
        f"{len(found)} alert(s) would have fired for {subject} from {first} to {last} "
        f"({'as known each week' if point_in_time else 'on current knowledge'})",
        err=True,
    )


def _replay_score(
    app: App,
    subject: str | None,
    first: dt.date,
    last: dt.date,
    chosen: tuple[str | None, str | None],  # --profile and --rules
    horizons: list[int],
    severity: int,
    record: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    """`alerts replay --score`: the replay point in time, scored, printed, kept if asked."""
    from tqdm import tqdm

    with app.store() as store:
        subject = scored_subject(app, store, subject)
        engine = _engine(app, store, subject, *chosen)
        show = sys.stderr.isatty() if progress is None else progress
        total = engine.replay_weeks(subject, first, last) if show else 0
        with tqdm(
            total=total, desc="Replay", unit="week", file=sys.stderr, disable=not show, leave=False
        ) as bar:
            scores = score_replay(
                engine, subject, first, last, horizons=horizons, severity=severity,
                progress=bar.update,
            )  # fmt: skip
        kept = record_replay_score(store, scores) if record else None
    if as_json:
        echo_json(scores)
    else:
        print_rule_scores(scores)
    if kept is not None:
        click.echo(
            f"kept as rule score {kept}: the weekly report for {last} or later shows it "
            "(while the rules and the profile stay as they are)",
            err=True,
        )


def print_rule_scores(scores: dict[str, Any]) -> None:
    """The scored replay as a table: one line per rule, three columns per horizon."""
    left_out = scores["excluded_imprecise_events"]
    click.echo(
        f"{scores['subject']}: every rule replayed point in time (each week judged on the "
        f"data as known that week) from {scores['start']} to {scores['end']}, against "
        f"{scores['n_events']} event(s) of severity >= {scores['severity_at_least']} in "
        "that period" + (f" ({left_out} dated only to the year left out)" if left_out else "")
    )
    rows, columns = [], ["rule", "severity", "firings"]
    for weeks in scores["horizons"]:
        columns += [f"hit rate {weeks}w", f"false alarms {weeks}w", f"lead {weeks}w"]
    for rule in scores["rules"]:
        row: dict[str, Any] = {
            "rule": rule["rule"], "severity": rule["severity"], "firings": firings_text(rule),
        }  # fmt: skip
        for h in rule["horizons"]:
            weeks = h["horizon_weeks"]
            row[f"hit rate {weeks}w"] = hit_rate_text(h)
            row[f"false alarms {weeks}w"] = false_alarms_text(h)
            row[f"lead {weeks}w"] = lead_text(h)
        rows.append(row)
    echo_table(rows, columns)
    if any(rule["firing_at_start"] for rule in scores["rules"]):
        click.echo(AT_START_NOTE)
    click.echo(EXPLAINED)
    for rule in scores["rules"]:
        longest = rule["horizons"][-1]
        for hit in longest["leads"]:
            click.echo(
                f"  {rule['rule']} warned of the event of {hit['event']} "
                f"{hit['lead_weeks']:.1f} weeks ahead (fired {hit['first_firing']}; within "
                f"{longest['horizon_weeks']} weeks)"
            )


@alerts.command(name="list")
@click.option("--subject", metavar="CODE", help="Only this subject.")
@click.option(
    "--state",
    type=click.Choice(["firing", "acknowledged", "resolved"]),
    help="Only alerts in this state.",
)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@json_option
@pass_app
def alerts_list(
    app: App, subject: str | None, state: str | None, limit: int, as_json: bool
) -> None:
    """Recorded alerts, newest first, with their state and delivery."""
    with app.store() as store:
        found = list_alerts(store, subject=subject, state=state, limit=limit)
    if as_json:
        echo_json([dict(a.to_dict(), **_extra(a)) for a in found])
        return
    echo_table(
        [dict(_alert_row(a), **_extra(a)) for a in found], [*_ALERT_COLUMNS, "delivery", "note"]
    )


def _extra(alert: Alert) -> dict[str, Any]:
    ev = alert.evidence
    return {
        "fired_at": ev.get("fired_at"),
        "acknowledged_at": ev.get("acknowledged_at"),
        "acknowledged_by": ev.get("acknowledged_by"),
        "note": ev.get("ack_note"),
        "resolved_week": ev.get("resolved_week"),
        "resolution": ev.get("resolution"),
        "outbox_id": ev.get("outbox_id"),
        "delivery": ev.get("delivery"),
    }


@alerts.command(name="ack")
@click.argument("alert_id", type=click.IntRange(1, _MAX_ID), metavar="ID")
@click.option("--note", required=True, help="What was done about it.")
@click.option("--by", "by", help="Who acknowledges (default: the login name).")
@json_option
@pass_app
def alerts_ack(app: App, alert_id: int, note: str, by: str | None, as_json: bool) -> None:
    """Acknowledge an alert: the rule stays quiet until the condition clears.

    An alert is acknowledged once; the note, who and when are kept as the audit trail.
    """
    if not note.strip():
        raise InputError("--note: say what was done about the alert")
    for option, text in (("--note", note), ("--by", by or "")):
        if any((ord(c) < 32 and c not in "\t\n") or ord(c) == 127 for c in text):
            raise InputError(f"{option}: control characters are not allowed")
    if by is not None and not by.strip():
        raise InputError("--by: give a name (or leave the option out for the login name)")
    with app.store() as store:
        alert = acknowledge(store, alert_id, note, by or login())
    if as_json:
        echo_json(dict(alert.to_dict(), **_extra(alert)))
    else:
        click.echo(f"alert {alert.id} ({alert.rule}, {alert.subject}, {alert.week}): {alert.state}")


@alerts.command(name="test-email")
@click.option("--to", "to", multiple=True, help="Recipient (default: every configured one).")
@pass_app
def alerts_test_email(app: App, to: tuple[str, ...]) -> None:
    """Send one test message through the outbox with the configured mail settings.

    Exit 0 when this message reached every recipient, 1 (with the reason) when not;
    other messages waiting in the outbox are flushed too but do not decide the exit.
    """
    settings = MailSettings.from_config(app.config)
    recipients = [check_address(t, "--to") for t in to] or settings.recipients_for("red")
    if not recipients:
        raise InputError("no recipients: give --to or set [mail] to_watch/to_amber/to_red")
    with app.store(create=True) as store:
        notifier = Notifier(store, settings)
        stamp = store.now()
        outbox_id = notifier.outbox.queue(
            key=f"test:{stamp}", sender=settings.sender, recipients=recipients,
            subject="early-warning test message",
            text=f"A test message from early-warning, queued at {stamp}.\n",
        )  # fmt: skip
        outcome = notifier.deliver(outbox_id)
    if outcome["status"] == "sent":
        click.echo(f"sent to {', '.join(recipients)} via {settings.describe()}")
        return
    click.echo(
        f"early-warning: test message not delivered via {settings.describe()}: "
        f"{outcome['reason']}; {_left(outcome)}",
        err=True,
    )
    sys.exit(1)


def _left(outcome: dict[str, Any]) -> str:
    """What becomes of a message that is not (yet) sent, for a one-line reason."""
    if outcome["status"] == "dead":
        return "it will not be retried (see `early-warning outbox list --status dead`)"
    return "it stays in the outbox for a retry (see `early-warning outbox list`)"


# -- outbox -------------------------------------------------------------------------


@click.group()
def outbox() -> None:
    """The mail outbox: what is queued, sent, waiting for a retry or dead."""


@outbox.command(name="list")
@click.option(
    "--status",
    type=click.Choice(["queued", "sent", "dead"]),
    help="Only messages with this status (queued: some recipient still to send).",
)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@json_option
@pass_app
def outbox_list(app: App, status: str | None, limit: int, as_json: bool) -> None:
    """Messages in the outbox, newest first, with each recipient's delivery.

    A message's status is queued while any recipient is still to be sent (or being
    sent), sent once every recipient has it, dead when a recipient gave up and none
    is left to try; each recipient has its own state, attempts and last error
    (`deliveries` in --json). Dead ones need attention.
    """
    with app.store() as store:
        rows = store.outbox_messages(status, limit)
        for row in rows:
            row["deliveries"] = store.outbox_deliveries(row["id"], leases=True)
    if as_json:
        echo_json(rows)
        return
    echo_table(
        [line for row in rows for line in _delivery_lines(row)],
        ["id", "status", "subject", "recipient", "delivery", "attempts", "next_try",
         "last_error"],
    )  # fmt: skip


def _when(stamp: str | None) -> str | None:
    """2024-06-01T12:01:00.000000Z as 2024-06-01 12:01:00 (UTC)."""
    return stamp[:19].replace("T", " ") if stamp else None


def _delivery_lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per recipient; the message's id, status and subject on its first."""
    lines = []
    for n, d in enumerate(row["deliveries"] or [None]):
        line = (
            {"id": row["id"], "status": row["status"], "subject": row["subject"]} if n == 0 else {}
        )
        if d is None:  # a message without recipients (from before per-recipient delivery)
            line.update(recipient="-", delivery=row["status"], attempts=row["attempts"],
                        last_error=row["last_error"])  # fmt: skip
        else:
            line.update(
                recipient=d["recipient"], delivery=d["status"], attempts=d["attempts"],
                next_try=_when(d["next_attempt_at"]) if d["status"] == "queued" else None,
                last_error=d["last_error"],
            )  # fmt: skip
        lines.append(line)
    return lines


@outbox.command(name="flush")
@click.option(
    "--retry-now", is_flag=True, help="Also send messages still waiting out their back-off."
)
@json_option
@pass_app
def outbox_flush(app: App, retry_now: bool, as_json: bool) -> None:
    """Send every queued message that is due. Exit 1 if any failed."""
    settings = MailSettings.from_config(app.config)
    with app.store() as store:
        notifier = Notifier(store, settings)
        counts = notifier.flush(retry_now=retry_now)
        counts["queued"] = notifier.outbox.backlog().get("queued", 0)
    if as_json:
        echo_json(counts)
    else:
        click.echo(
            f"{counts['sent']} sent, {counts['failed']} to retry, {counts['dead']} dead, "
            f"{counts['queued']} still queued (mail via {settings.describe()})"
        )
    if counts["failed"] or counts["dead"]:
        sys.exit(1)
