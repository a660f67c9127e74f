"""Commands for forecasts: `forecast`, `forecast add`, `backtest`."""

from __future__ import annotations

import datetime as dt
import math
import sys
from typing import Any

import click

from ..errors import InputError
from ..forecast import BacktestResult
from ..forecast.analysts import recorded_on, retrospective
from ..numbers import format_number
from ..services.forecasting import backtest, forecast_at, record_backtest, record_forecast
from .common import (
    App,
    echo_json,
    echo_table,
    json_option,
    parse_as_of,
    parse_horizons,
    pass_app,
    profile_option,
    score_as_of,
    scored_subject,
)

__all__ = ["backtest_command", "forecast_group"]


def forecast_options(func: Any) -> Any:
    func = click.option(
        "--severity", type=click.IntRange(1, 3), default=2, show_default=True,
        help="Count events of at least this severity (1 minor .. 3 major).",
    )(func)  # fmt: skip
    return click.option(
        "--horizons", default="4,12", show_default=True, help="Horizons in weeks, comma-separated."
    )(func)


@click.group(name="forecast", invoke_without_command=True)
@click.option("--subject", metavar="CODE", help="Subject (default from the configuration).")
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Forecast from DATE (default: today), using only what was known then.",
)
@profile_option
@forecast_options
@json_option
@click.pass_context
def forecast_group(
    ctx: click.Context,
    subject: str | None,
    as_of: str | None,
    profile: str | None,
    severity: int,
    horizons: str,
    as_json: bool,
) -> None:
    """Probability of an escalation event within each horizon, from every model.

    Uses only what was known on the as-of date (always point in time). `forecast add`
    records an analyst's own probability: `backtest` scores it once resolved, and
    `forecast` pools it with the ensemble in the week it was made by track record (a
    share by Brier skill, none if negative, a fixed 5% without a record). Exit 1 when there
    is no score at the as-of date (the base rate then stands in, flagged).
    """
    if ctx.invoked_subcommand is not None:
        return
    app: App = ctx.find_object(App)
    day = score_as_of(app, as_of)
    with app.store() as store:
        subject = scored_subject(app, store, subject)
        scope = app.scope(subject, profile)
        weights = scope.profile
        result = forecast_at(
            store,
            scope.catalog,
            weights,
            subject,
            day,
            horizons=parse_horizons(horizons),
            severity=severity,
        )
        record_forecast(store, result, weights)
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_forecast(result.to_dict())
    if any(h["status"] in ("insufficient data", "insufficient history") for h in result.horizons):
        sys.exit(1)


def _signed(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:+.3f}"


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1%}"


def _print_forecast(data: dict[str, Any]) -> None:
    click.echo(
        f"{data['subject']} as of {data['as_of']}: probability of an event of severity >= "
        f"{data['severity_at_least']}"
    )
    for horizon in data["horizons"]:
        interval = ""
        if horizon["low"] is not None:
            interval = f" (90% {_percent(horizon['low'])} .. {_percent(horizon['high'])})"
        click.echo(
            f"  within {horizon['weeks']} weeks: {_percent(horizon['probability'])}{interval} "
            f"[ensemble, {horizon['status']}: {horizon['note']}]"
        )
        rows = [
            {
                "model": m["model"],
                "probability": _percent(m["probability"]),
                "90%": "" if m["low"] is None else f"{_percent(m['low'])} .. {_percent(m['high'])}",
                "status": m["status"],
                "note": m["note"],
            }
            for m in horizon["models"]
        ]
        echo_table(rows, ["model", "probability", "90%", "status", "note"], width=70)
        _print_pool(horizon)
    changes = data["change_points"][-8:]
    if changes:
        click.echo("recent abrupt changes (CUSUM):")
        for c in changes:
            click.echo(
                f"  {c['indicator']} {c['direction']} from {c['started']} (flagged {c['detected']})"
            )


def _print_pool(horizon: dict[str, Any]) -> None:
    """The analysts' forecasts of the week, each with its weight and why, and the pool."""
    if "analysts" in horizon:
        weights = horizon["pool_weights"]
        click.echo(
            f"  analysts ({horizon['analysts']['count']}), pooled with the ensemble by track "
            f"record; the ensemble weighs {_share(weights['ensemble'])} "
            f"({horizon['ensemble_weight_basis']})"
        )
        for f in horizon["analysts"]["forecasts"]:
            click.echo(
                f"    {f['analyst']}: {_percent(f['probability'])} made on {f['made_on']}, "
                f"weighs {_share(weights['analysts'][f['analyst']])} ({f['weight_basis']})"
            )
        click.echo(f"  pooled {_percent(horizon['pooled_with_analysts'])} ({horizon['pool_rule']})")
    for f in horizon.get("analysts_not_pooled", []):
        click.echo(
            f"  not pooled: {f['analyst']}'s {_percent(f['probability'])} for the week of "
            f"{f['made_on']}: {f['reason']}"
        )


def _share(weight: float) -> str:
    return f"{weight:.0%}"


@forecast_group.command(name="add")
@click.option("--analyst", required=True, help="Who makes the forecast.")
@click.option("--probability", type=click.FloatRange(0, 1), required=True, help="0 to 1.")
@click.option("--weeks", type=click.IntRange(1, 104), required=True, help="Horizon in weeks.")
@click.option("--severity", type=click.IntRange(1, 3), default=2, show_default=True)
@click.option("--subject", metavar="CODE", help="Subject (default from the configuration).")
@click.option("--made-on", metavar="DATE", help="When the forecast was made (default: today).")
@click.option("--note", default="", help="The reasoning.")
@pass_app
def forecast_add(
    app: App,
    analyst: str,
    probability: float,
    weeks: int,
    severity: int,
    subject: str | None,
    made_on: str | None,
    note: str,
) -> None:
    """Record an analyst's probability of an event within a horizon.

    A forecast is made on the day it is recorded: that is the default --made-on. An
    earlier --made-on records a retrospective entry, kept and listed but never scored
    by `backtest` and never pooled by `forecast` (whoever enters it knows what happened
    since).
    """
    today = app.today()
    day = parse_as_of(made_on, "--made-on") or today
    if day > today:
        raise InputError(f"--made-on: {day} is in the future; record a forecast once it is made")
    if math.isnan(probability):
        raise InputError("--probability: give a number from 0 to 1")
    if not analyst.strip():
        raise InputError("--analyst: give a name")
    with app.store() as store:
        subject = scored_subject(app, store, subject)
        row_id = store.add_analyst_forecast(
            {
                "subject": subject, "analyst": analyst.strip(), "made_on": day.isoformat(),
                "horizon_weeks": weeks, "severity": severity, "probability": probability,
                "note": note,
            }
        )  # fmt: skip
        (row,) = [r for r in store.analyst_forecasts(subject) if r["id"] == row_id]
    click.echo(
        f"recorded forecast {row_id}: {analyst} gives {probability:.0%} for an event of severity "
        f">= {severity} in {subject} within {weeks} weeks of {day}"
    )
    if retrospective(row):
        click.echo(
            f"  retrospective: entered on {recorded_on(row)} for {day}; it is kept and listed, "
            "but never scored by `backtest` nor pooled by `forecast` (only a forecast recorded "
            "on the day it is made is held to account)"
        )


@click.command(name="backtest")
@click.option("--subject", metavar="CODE", help="Subject (default from the configuration).")
@click.option(
    "--start", metavar="DATE", help="First origin (default: two years after the first data)."
)
@click.option(
    "--end",
    metavar="DATE",
    help="Last origin and the day outcomes are complete to (default: today).",
)
@click.option(
    "--step",
    type=click.IntRange(1, 52),
    default=1,
    show_default=True,
    help="Weeks between origins.",
)
@profile_option
@forecast_options
@json_option
@pass_app
def backtest_command(
    app: App,
    subject: str | None,
    start: str | None,
    end: str | None,
    step: int,
    profile: str | None,
    severity: int,
    horizons: str,
    as_json: bool,
) -> None:
    """Rolling-origin, point-in-time backtest of every model (and of the profile's score).

    At each origin the models are refitted on what was known then (expanding window)
    and their forecasts are scored against what happened: Brier score and skill, log
    loss, ROC AUC, reliability, and hit rate, false alarms and lead time of alerts;
    each analyst's resolved forecasts are scored the same way, with the weight their
    record earns them in the pool (retrospective entries are listed, not scored).
    """
    last = score_as_of(app, end, "--end")
    with app.store() as store:
        subject = scored_subject(app, store, subject)
        scope = app.scope(subject, profile)
        weights = scope.profile
        first = parse_as_of(start, "--start") or _default_start(store, subject)
        if first >= last:
            raise InputError(f"--start {first} is not before --end {last}")
        origins = max(1, ((last - first).days // 7) // step + 1)
        from tqdm import tqdm

        # On a terminal: origins done, the rate and the time left ([elapsed<remaining]).
        with tqdm(
            total=origins, desc="Backtest", unit="origin", file=sys.stderr,
            disable=not sys.stderr.isatty(), dynamic_ncols=True,
        ) as bar:  # fmt: skip
            result = backtest(
                store, scope.catalog, weights, subject, first, last,
                horizons=parse_horizons(horizons), severity=severity, step_weeks=step,
                progress=bar.update,
            )  # fmt: skip
        record_backtest(store, result, weights)
    if as_json:
        echo_json(_json(result))
        return
    _print_backtest(result)
    _print_analysts(result)


def _default_start(store: Any, subject: str) -> dt.date:
    first = store.first_period_start(subject)
    return dt.date.fromisoformat(first) + dt.timedelta(weeks=104)


def _json(result: BacktestResult) -> dict[str, Any]:
    """DESIGN.md 3.4: the ensemble's headline metrics at the first horizon, then detail.

    `n_origins` is the number of verified origins behind the headline; `origins` all.
    """
    data = result.to_dict()
    data["origins"] = data.pop("n_origins")
    verified = [h for h, v in result.horizons.items() if v.get("verified_origins")]
    headline = result.headline(min(verified)) if verified else {
        "brier": None, "brier_skill": None, "log_loss": None, "auc": None,
        "n_origins": 0, "n_events": 0,
    }  # fmt: skip
    return {**data, **headline}


def _print_analysts(result: BacktestResult) -> None:
    """Each analyst's resolved forecasts scored like the models, and what was not scored."""
    if not result.analysts:
        click.echo("  analysts: no resolved analyst forecasts")
    for analyst, info in result.analysts.items():
        skill = info["brier_skill"]
        click.echo(
            f"  analyst {analyst}: {info['resolved']} resolved ({info['came_true']} came true), "
            f"Brier {info['brier']:.3f}, skill over their base rate "
            f"{'-' if skill is None else f'{skill:+.3f}'}, log loss {info['log_loss']:.3f}; "
            f"in the pool: {info['weight_basis']}"
        )
    for row in result.analysts_not_scored:
        click.echo(
            f"  not scored: {row['analyst']}'s {_percent(row['probability'])} within "
            f"{row['weeks']} weeks of {row['made_on']}: {row['reason']}"
        )


def _print_backtest(result: BacktestResult) -> None:
    click.echo(
        f"{result.subject}: backtest {result.start} .. {result.end}, {result.n_origins} origins, "
        f"events of severity >= {result.severity}; preparing {result.seconds_preparing:.1f} s, "
        f"fitting {result.seconds_fitting:.1f} s"
    )
    if result.excluded_imprecise_events:
        click.echo(
            f"  {result.excluded_imprecise_events} events dated only to the year are not targets"
        )
    for horizon, info in result.horizons.items():
        if not info.get("verified_origins"):
            click.echo(f"  {horizon} weeks: {info.get('note')}")
            continue
        positive = info["models"]["ensemble"]["n_events"]
        click.echo(
            f"  {horizon} weeks: {info['verified_origins']} verified origins, "
            f"{positive} of them followed by an event ({info['events_in_period']} events "
            "in the period)"
        )
        rows = []
        for model, m in info["models"].items():
            interval = m["brier_skill_90"]
            rows.append(
                {
                    "model": model,
                    "brier": f"{m['brier']:.4f}",
                    "skill": _signed(m["brier_skill"]),
                    "skill 90%": "-"
                    if interval is None
                    else f"{interval[0]:+.2f} .. {interval[1]:+.2f}",
                    "vs persistence": _signed(m["brier_skill_persistence"]),
                    "auc": "-" if m["auc"] is None else f"{m['auc']:.3f}",
                    "fitted": f"{m['status'].get('fitted', 0)}/{m['n_origins']}",
                }
            )
        echo_table(
            rows, ["model", "brier", "skill", "skill 90%", "vs persistence", "auc", "fitted"]
        )
        ranking = info["profile_ranking_auc"]
        if ranking is None:
            click.echo("    the profile's score as a ranking of escalation weeks: not measurable")
        else:
            reading = "above" if ranking > 0.5 else "below"
            click.echo(
                f"    the profile's score ranks weeks before an event {reading} quiet weeks: "
                f"AUC {ranking:.3f} over {info['profile_ranking_origins']} origins with a score "
                "(0.5 is chance)"
            )
        for alert in info["alerts"]:
            click.echo(
                f"    alert at p >= {format_number(alert['threshold'], digits=6)}: "
                f"hit rate {_percent(alert['hit_rate'])}, "
                f"false alarms {_percent(alert['false_alarm_rate'])}, lead "
                + (
                    "-"
                    if alert["mean_lead_weeks"] is None
                    else f"{alert['mean_lead_weeks']:.1f} weeks"
                )
            )
