"""`structural`: the pooled country-year model of armed conflict (rank, backtest, ingest)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import InputError
from ..numbers import format_number
from .common import App, echo_json, json_option, pass_app, record_option

__all__ = ["structural_group"]

_SUBJECT = "Country to show (ISO alpha-3; default from the configuration)."


def _pct(p: float | None) -> str:
    return "-" if p is None else format_number(p * 100, "%")


def _num(value: float | None) -> str:
    return format_number(value, digits=3, missing="-")


@click.group(name="structural", invoke_without_command=True)
@click.option(
    "--as-of",
    "as_of",
    metavar="YEAR",
    type=int,
    help="Forecast the year after YEAR, from what was known on 31 December of YEAR "
    "(default: two years after the last year the conflict record covers).",
)
@click.option("--subject", metavar="CODE", help=_SUBJECT)
@click.option("--top", type=click.IntRange(1, 250), default=20, show_default=True,
              help="How many countries of each ranking to show.")  # fmt: skip
@record_option
@json_option
@click.pass_context
def structural_group(
    ctx: click.Context, as_of: int | None, subject: str | None, top: int, record: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """Pooled country-year model of armed conflict: every country ranked, one shown.

    Incidence (armed conflict involving the country next year, UCDP/PRIO: 25 or more
    battle-related deaths) and onset (the same after two or more years without), fitted
    on every country, point in time. `structural ingest` loads the UCDP/PRIO, World Bank
    and SIPRI files; `structural backtest` measures the skill. With --record every
    country's forecast is kept: the weekly `forecast` reads it as its prior. Exit 1
    when there is no conflict record to fit on.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..services.structural import record_structural, structural_at

    app: App = ctx.find_object(App)
    subject = (subject or app.config.default_subject).upper()
    if as_of is not None and not 1946 <= as_of <= app.today().year:
        raise InputError(f"--as-of: {as_of} is not a year from 1946 to this one")
    with app.store() as store:
        result = structural_at(
            store, app.catalog, subject, None if as_of is None else as_of + 1, top=top
        )
        if result is not None and record:
            record_structural(store, result)
    if result is None:
        message = (
            "structural model: no country-year data loaded (see README, Forecasts: "
            "`early-warning structural ingest` the UCDP/PRIO file)"
        )
        if as_json:
            echo_json({"subject": subject, "status": "no data", "note": message})
        else:
            click.echo(message)
        sys.exit(1)
    data = result.to_dict()
    if as_json:
        echo_json(data)
        return
    _print_outlook(data)


def _print_outlook(data: dict[str, Any]) -> None:
    click.echo(
        f"Structural model: armed conflict in {data['year']}, as known on {data['as_of']} "
        f"(the conflict record then covered up to {data['data_year']})"
    )
    for outcome, words in (("incidence", "armed conflict involving the country"),
                           ("onset", "onset after two or more years without")):  # fmt: skip
        block = data[outcome]
        click.echo(f"\n{outcome}: {words} ({block['status']}; {block['training_rows']:,} "
                   f"training country-years, {block['training_events']:,} with it)")  # fmt: skip
        mine = block["subject"]
        if mine:
            click.echo(f"  {data['subject']}: {_pct(mine['probability'])}, rank "
                       f"{mine['rank']} of {block['ranked']}")  # fmt: skip
            for d in mine["drivers"]:
                value = "" if d["value"] is None else f" (value {_num(d['value'])})"
                click.echo(f"    {d['driver']}{value}: "
                           f"{format_number(d['log_odds'], signed=True)} log odds")  # fmt: skip
        else:
            click.echo(f"  {block['subject_note']}")
        click.echo("  highest:")
        for item in block["ranking"]:
            click.echo(f"    {item['rank']:>3}. {item['subject']} {_pct(item['probability'])}")


@structural_group.command("backtest")
@click.option("--start", type=int, default=2000, show_default=True, help="First forecast year.")
@click.option("--end", type=int, default=2022, show_default=True, help="Last forecast year.")
@click.option("--draws", type=click.IntRange(100, 20000), default=2000, show_default=True,
              help="Bootstrap draws for the Brier skill intervals.")  # fmt: skip
@record_option
@json_option
@pass_app
def structural_backtest_command(
    app: App, start: int, end: int, draws: int, record: bool, as_json: bool
) -> None:
    """Year-by-year, point-in-time backtest of the structural model, beside two baselines.

    Each year from --start to --end is forecast from what was known on 31 December of
    the year before, for every country, and scored on what happened: AUC, AUPR, Brier,
    Brier skill (against the base rate, with a 90% interval from a bootstrap over
    countries; and against no change), recall in the top 10 and top 30. With --record
    each year's forecasts are kept (the weekly forecast of a past week reads the one
    that stood then).
    """
    from ..services.structural import record_structural_backtest, structural_backtest_from_store

    if start > end:
        raise InputError(f"--start {start} is after --end {end}")
    with app.store() as store:
        result = structural_backtest_from_store(store, app.catalog, start, end, draws=draws)
        if record:
            record_structural_backtest(store, result)
    data = result.to_dict()
    if as_json:
        echo_json(data)
    else:
        _print_backtest(data)
    if not any("baselines" in data.get(o, {}) for o in ("incidence", "onset")):
        sys.exit(1)


def _print_backtest(data: dict[str, Any]) -> None:
    click.echo(f"Structural backtest, forecast years {data['start']}-{data['end']}: "
               f"{data['n_countries']} countries, {data['n_onsets']} onsets")  # fmt: skip
    keys = ("auc", "aupr", "brier", "brier_skill", "recall_top10", "recall_top30")
    for outcome in ("incidence", "onset"):
        block = data.get(outcome) or {}
        if "baselines" not in block:
            click.echo(f"\n{outcome}: {block.get('note', 'no forecast could be scored')}")
            continue
        click.echo(f"\n{outcome}: {block['n_events']:,} events in "
                   f"{block['n_country_years']:,} country-years")  # fmt: skip
        click.echo("  " + f"{'':<10}" + "".join(f"{k:>14}" for k in keys))
        for name, scores in (("model", block), *block["baselines"].items()):
            click.echo("  " + f"{name:<10}" + "".join(f"{_num(scores.get(k)):>14}" for k in keys))
        low_high = block.get("brier_skill_interval")
        if low_high:
            click.echo(f"  Brier skill against the base rate {_num(block['brier_skill'])} "
                       f"(90% interval {_num(low_high[0])} to {_num(low_high[1])}); "
                       f"against no change {_num(block['brier_skill_vs_no_change'])}")  # fmt: skip
    for anchor in data.get("anchors", []):
        click.echo(f"\nanchor: {anchor['system']}: {anchor['words']} "
                   f"({anchor['outcome']})")  # fmt: skip


@structural_group.command("ingest")
@click.argument("sources", nargs=-1, required=True, metavar="FILE|FOLDER|URL...")
@json_option
@pass_app
def structural_ingest_command(app: App, sources: tuple[str, ...], as_json: bool) -> None:
    """Load the structural model's files: UCDP/PRIO conflicts, World Bank GDP, SIPRI.

    The UCDP/PRIO Armed Conflict Dataset (conflict-year CSV) becomes events of kind
    armed_conflict dated to the year, as `ingest` reads it too; a World Bank GDP file
    and the SIPRI workbook are read for every country into the country-year table
    (not observations, so the weekly pipeline keeps its own subjects). Exit 1 when a
    row was rejected, 2 when a file was refused.
    """
    from .ingest import ingest_each

    sys.exit(ingest_each(app, sources, as_json, country_years=True))
