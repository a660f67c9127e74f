"""`demo`: a fresh database from the embedded dataset, scored, forecast and checked."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from ..alerts.skill import false_alarms_text, hit_rate_text, lead_text
from ..catalog import Catalog
from ..demo import DemoResult, run_demo, write_daemon_config
from ..numbers import format_number
from .common import App, echo_json, echo_table, fail, json_option, pass_app
from .ingest import print_ingest

__all__ = ["demo"]


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the demo database here and keep it (default: a temporary folder, removed).",
)
@click.option(
    "--profile", help="Weight profile to score with (default: the subject's theatre profile)."
)
@click.option(
    "--replay",
    nargs=2,
    metavar="START END",
    help="Instead: live the daemon's weekly cycle over the weeks START .. END (ISO dates) "
    "on a fixed clock, each row arriving when it was published, and print each week.",
)
@click.option(
    "--data",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="With --replay: feed this file too, or the GDELT daily dyad file in this folder "
    "(default: ../shared/real_data beside the project, when it is there).",
)
@click.option(
    "--reports/--no-reports",
    "with_reports",
    default=True,
    show_default=True,
    help="With --replay: the weekly PDF report (and its e-mail) each Monday.",
)
@json_option
@pass_app
def demo(
    app: App,
    workdir: Path | None,
    profile: str | None,
    replay: tuple[str, str] | None,
    data: tuple[Path, ...],
    with_reports: bool,
    as_json: bool,
) -> None:
    """Build a fresh database from the catalog and the embedded dataset, score it, show it."""
    if replay:
        if as_json or profile is not None:
            fail("--replay: the daemon's replay prints for people, with the daemon's profiles")
        from .replay import parse_window, replay_demo

        sys.exit(replay_demo(app, parse_window(replay), workdir, data, with_reports))
    if data or not with_reports:
        fail("--data and --no-reports go with --replay START END")
    subject = app.config.default_subject
    reports = Path(app.config.get("paths", "reports"))
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "demo.db").exists() and not as_json:
            click.echo(f"replacing the earlier demo database in {workdir}")
        result = run_demo(
            app.config.catalog_dir, workdir, subject, app.config.models_dir, profile, reports
        )
        config_path = write_daemon_config(workdir, app.config.catalog_dir)
        _print_demo(result, as_json, kept=True)
        if not as_json:
            click.echo(f"\ndaemon configuration for the demo: {config_path} (try: early-warning "
                       f"--config {config_path} daemon --once --run-for 5)")  # fmt: skip
    else:
        with tempfile.TemporaryDirectory(prefix="early-warning-demo-") as tmp:
            result = run_demo(
                app.config.catalog_dir, Path(tmp), subject, app.config.models_dir, profile, reports
            )
            _print_demo(result, as_json, kept=False)
    sys.exit(1 if result.rejected else 0)


def _print_demo(result: DemoResult, as_json: bool, *, kept: bool) -> None:
    if as_json:
        echo_json(
            {
                "db": str(result.db_path) if kept else None,
                "catalog_version": result.catalog.version,
                "ingested": [r.to_dict() for r in result.results],
                "status": result.status,
                "as_of": result.as_of.isoformat() if result.as_of else None,
                "score": result.scores.week(-1) if result.scores else None,
                "uncertainty": _uncertainty_summary(result),
                "forecast": result.forecast.to_dict() if result.forecast else None,
                "structural": result.structural,
                "backtest": result.backtest.to_dict() if result.backtest else None,
                "alerts": [a.to_dict() for a in result.alerts],
                "rule_scores": result.rule_scores,
                "mail": result.mail,
                "outbox": str(result.outbox_dir) if kept and result.outbox_dir else None,
                "report": str(result.report.path) if result.report else None,
            }
        )
        return
    catalog = result.catalog
    click.echo(f"early-warning demo: {len(catalog)} indicators in {len(catalog.families)} families")
    for family in catalog.families.values():
        note = " (context only: shown, not counted in the total)" if family.weight == 0 else ""
        click.echo(
            f"  {family.id:<22}{len(family.indicators):>3} indicators, "
            f"weight {format_number(family.weight, digits=6)}{note}"
        )
    where = "" if kept else " (temporary, removed at the end; --workdir DIR keeps it)"
    click.echo(f"database: {result.db_path}{where}")
    for r in result.results:
        print_ingest(r)
    tables = result.status["tables"]
    click.echo(
        f"loaded {tables['observations']} observations and {tables['events']} events "
        f"from {tables['sources']} sources, periods "
        f"{result.status['first_period']} .. {result.status['last_period']}"
    )
    if result.as_of is None:
        return
    _print_latest(catalog, result.latest, result.as_of)
    if result.warning is not None:
        click.echo("")
        click.echo(f"warning level for {result.warning.week}: {result.warning.headline()}")
        for reason in result.warning.reasons[1:]:
            click.echo(f"  {reason}")
    if result.scores is not None:
        click.echo("")
        click.echo(f"the score as of {result.as_of}, when the last embedded figure became public:")
        click.echo(result.scores.summary(-1))
    summary = _uncertainty_summary(result)
    if summary and summary["band"]["score"] is not None and result.uncertainty is not None:
        band = summary["band"]
        click.echo(
            f"  uncertainty ({summary['draws']} draws of the weights, {band['method']} "
            f"aggregation): 5-95% {band['low']:.1f} .. {band['high']:.1f}, "
            f"P(high or worse) {summary['p_high_or_worse']:.0%}"
        )
        for line in result.uncertainty.method_lines():
            click.echo(f"    {line}")
    _print_demo_forecast(result)
    _print_demo_structural(result)
    _print_demo_alerts(result, kept)
    if result.report is not None:
        click.echo("")
        click.echo(
            f"weekly report for {result.report.data.week}: {result.report.path} "
            f"({result.report.pages} pages)"
        )


def _print_demo_structural(result: DemoResult) -> None:
    click.echo("")
    for r in result.structural_files:
        print_ingest(r)
    if result.structural is None:
        click.echo("structural model: no country-year data loaded (see README, Forecasts)")
        return
    click.echo(
        "structural model (pooled country-year logistic, fitted on the shipped extract: "
        "UCDP/PRIO and World Bank rows for the 55 states of Europe and the former Soviet "
        "Union, so ranks are among those, not the world; see indicators/structural):"
    )
    for key in ("as_of", "latest"):
        data = result.structural[key]
        for outcome in ("incidence", "onset"):
            block = data[outcome]
            mine = block["subject"]
            where = (
                f"{format_number(mine['probability'] * 100, '%')}, rank {mine['rank']} of "
                f"{block['ranked']}"
                if mine
                else block["subject_note"]
            )
            click.echo(
                f"  {data['subject']} {outcome} {data['year']} (as known on {data['as_of']}, "
                f"record to {data['data_year']}): {where}"
            )
    forecast = result.forecast.to_dict() if result.forecast else None
    for horizon in (forecast or {}).get("horizons", []):
        prior = horizon.get("prior")
        if prior:
            click.echo(
                f"  the weekly forecast's prior over {horizon['weeks']} weeks: "
                f"{format_number(prior['probability'] * 100, '%')} = 1 - (1 - "
                f"{format_number(prior['probability_year'] * 100, '%')})^({horizon['weeks']}/52)"
            )


def _print_demo_alerts(result: DemoResult, kept: bool) -> None:
    if result.outbox_dir is None:
        return
    click.echo("")
    click.echo(
        f"alerts: the rules in alerts.yaml checked week by week over the embedded history "
        f"raised {len(result.alerts)} (on current knowledge: a figure published later counts "
        "from the week it describes; `alerts replay --point-in-time` shows what was known "
        "each week):"
    )
    for alert in sorted(result.alerts, key=lambda a: a.as_of):
        click.echo(f"  {alert.week}  {alert.severity:<5}  {alert.state:<12}  {alert.message}")
    files = sorted(result.outbox_dir.glob("*.eml"))
    where = result.outbox_dir if kept else "a temporary folder (--workdir DIR keeps them)"
    click.echo(
        f"  {result.mail.get('sent', 0)} e-mail(s) sent, as {len(files)} .eml file(s) (one "
        f"copy per recipient), to {where}"
    )
    if kept:
        for file in files[:5]:
            click.echo(f"    {file}")
        if len(files) > 5:
            click.echo(f"    ... and {len(files) - 5} more")
    _print_demo_rule_scores(result.rule_scores)


def _print_demo_rule_scores(scores: dict[str, Any] | None) -> None:
    """Each rule replayed point in time against the events: what it would have done."""
    if scores is None:
        return
    click.echo(
        f"  every rule replayed point in time {scores['start']} .. {scores['end']} against "
        f"the {scores['n_events']} events of severity >= {scores['severity_at_least']} "
        "(`alerts replay --score` for the table):"
    )
    silent = []
    for rule in scores["rules"]:
        if not rule["firings"]:
            at_start = " (already firing at the start: not scored)"
            silent.append(rule["rule"] + (at_start if rule["firing_at_start"] else ""))
            continue
        parts = [
            f"{h['horizon_weeks']} weeks: hit rate {hit_rate_text(h)}, false alarms "
            f"{false_alarms_text(h)}, lead {lead_text(h)}"
            for h in rule["horizons"]
        ]
        click.echo(f"    {rule['rule']} fired {rule['firings']} time(s); " + "; ".join(parts))
    if silent:
        click.echo(f"    no crossing in the period: {', '.join(silent)}")


def _print_demo_forecast(result: DemoResult) -> None:
    if result.forecast is not None:
        click.echo("")
        click.echo(f"forecast as of {result.as_of} (only what was known then):")
        for horizon in result.forecast.to_dict()["horizons"]:
            parts = ", ".join(
                f"{m['model']} {m['probability']:.0%}"
                + ("" if m["status"] == "fitted" else f" ({m['status']})")
                for m in horizon["models"]
                if m["model"] != "trend"
            )
            click.echo(
                f"  event of severity >= 2 within {horizon['weeks']:>2} weeks: "
                f"{horizon['probability']:.1%} ({horizon['status']}; {parts})"
            )
    bt = result.backtest
    if bt is None:
        return
    click.echo("")
    click.echo(
        f"backtest {bt.start} .. {bt.end}, {bt.n_origins} origins 4 weeks apart, point in time "
        f"(events dated only to the year left out: {bt.excluded_imprecise_events}):"
    )
    for horizon, info in bt.horizons.items():
        if not info.get("verified_origins"):
            continue
        ensemble, logistic = info["models"]["ensemble"], info["models"]["logistic"]
        interval = ensemble["brier_skill_90"]
        span = "" if interval is None else f", 90% {interval[0]:+.2f} .. {interval[1]:+.2f}"
        claim = "skill shown" if ensemble["skill_claimed"] else "no skill shown over the base rate"
        click.echo(
            f"  {horizon:>2} weeks: ensemble Brier {ensemble['brier']:.3f}, Brier skill "
            f"{ensemble['brier_skill']:+.3f}{span} ({claim}); logistic fitted at "
            f"{logistic['status'].get('fitted', 0)} of {logistic['n_origins']} origins"
        )


def _uncertainty_summary(result: DemoResult) -> dict[str, Any] | None:
    if result.uncertainty is None:
        return None
    data = result.uncertainty.to_dict()
    data.pop("history")
    return data


def _status(ind: Any, age: int) -> str:
    if ind.lifetime == "event":
        return "recent event" if age <= ind.max_age_days else "no recent event"
    return "current" if age <= ind.stale_after_days else "stale (kept)"


def _latest_value(ind: Any, value: float) -> str:
    """The latest observation as recorded: an event's own magnitude, not a decayed sum."""
    if ind.lifetime == "event":
        return f"one event, magnitude {format_number(value)}"
    return str(ind.describe_value(value))


def _print_latest(catalog: Catalog, latest: Iterable[dict[str, Any]], as_of: dt.date) -> None:
    rows = []
    seen = set()
    for row in latest:
        ind = catalog.indicators.get(row["indicator"])
        if ind is None:
            continue
        seen.add(ind.id)
        age = (as_of - dt.date.fromisoformat(row["period_end"])).days
        rows.append(
            {
                "indicator": row["indicator"],
                "period": row["period"],
                "value": _latest_value(ind, row["value"]),
                "source": row["source"],
                "grade": f"{row['reliability'] or '-'}{row['credibility'] or '-'}",
                "age": f"{max(age, 0)}d",
                "status": _status(ind, age),
            }
        )
    click.echo(
        f"latest value of each indicator as of {as_of} (stale: older than its maximum age, "
        "kept as the value used with a wider band; an event: its own size, which decays):"
    )
    echo_table(rows, ["indicator", "period", "value", "source", "grade", "age", "status"], width=56)
    empty = [i.id for i in catalog if i.id not in seen]
    if empty:
        click.echo(f"no data in the embedded dataset for: {', '.join(empty)}")
