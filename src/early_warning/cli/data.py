"""The data commands: init, indicators, observations, rejects, db and config.

Each command parses its options, calls one library function and prints the result,
as a table for people or as JSON (`--json`) for scripts.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import InputError, NotFoundError
from ..numbers import format_number, format_range
from .common import (
    App,
    as_of_option,
    echo_json,
    echo_table,
    json_option,
    parse_as_of,
    pass_app,
    subject_option,
)

__all__ = [
    "config_group",
    "db",
    "indicators",
    "init",
    "observations",
    "rejects",
]


@click.command()
@json_option
@pass_app
def init(app: App, as_json: bool) -> None:
    """Create the database (or migrate it) and load the indicator catalog into it."""
    with app.store(create=True) as store:
        status = store.status()
    if as_json:
        echo_json(status)
        return
    click.echo(
        f"database {status['path']} ready: {status['tables']['indicators']} indicators, "
        f"catalog {status['catalog_version']}, migrations {', '.join(status['migrations'])}"
    )


# -- indicators ----------------------------------------------------------------------


@click.group()
def indicators() -> None:
    """The indicator catalog: what is measured and which way is risk."""


@indicators.command(name="list")
@click.option("--family", help="Only this family.")
@json_option
@pass_app
def indicators_list(app: App, family: str | None, as_json: bool) -> None:
    """List the catalog's indicators by family."""
    catalog = app.catalog
    if family and family not in catalog.families:
        raise InputError(
            f"--family: unknown family {family!r} (known: {', '.join(catalog.families)})"
        )
    chosen = [i for i in catalog if not family or i.family == family]
    if as_json:
        echo_json([i.to_dict() for i in chosen])
        return
    rows = [
        {
            "id": i.id,
            "family": i.family,
            "kind": i.kind,
            "unit": i.unit,
            "risk": "higher" if i.higher_is_riskier else "lower",
            "lifetime": i.lifetime,
            "weight": format_number(i.weight, digits=6),
            "max age": f"{i.max_age_days}d",
        }
        for i in chosen
    ]
    columns = ["id", "family", "kind", "lifetime", "unit", "risk", "weight", "max age"]
    echo_table(rows, columns, width=30)
    click.echo(f"{len(chosen)} indicators, catalog version {catalog.version}")


_LIFETIME_WORDS = {
    "state": "holds until the next value; stale, it stays with a wider band",
    "interval": "holds from its date to its `end`; the largest in progress, 0 between",
    "event": "decays with its half-life; shown as recent activity",
    "release": "holds until the next release is due, then stale as a state",
}


@indicators.command(name="show")
@click.argument("indicator_id", metavar="ID")
@json_option
@pass_app
def indicators_show(app: App, indicator_id: str, as_json: bool) -> None:
    """Show one indicator's full definition, with its citations."""
    catalog = app.catalog
    ind = catalog.get(indicator_id)
    if as_json:
        echo_json(ind.to_dict())
        return
    family = catalog.families[ind.family]
    lines = [
        f"{ind.id}: {ind.name}",
        f"  family       {family.id} ({family.name})",
        f"  kind         {ind.kind}",
        f"  unit         {ind.unit}",
    ]
    if ind.range:
        lines.append(f"  range        {format_range(*ind.range, ind.unit, digits=6)}")
    for level, label in (ind.levels or {}).items():
        lines.append(f"  level {level}      {label}")
    direction = "higher value = more risk" if ind.higher_is_riskier else "higher value = less risk"
    lines += [
        f"  direction    {direction}{' (contested)' if ind.contested else ''}",
        f"  reasoning    {ind.direction_reasoning}",
        f"  frequency    {ind.frequency}, stale after {ind.stale_after_days} days",
        f"  lifetime     {ind.lifetime} ({_LIFETIME_WORDS[ind.lifetime]})",
    ]
    if ind.half_life_days:
        lines.append(f"  half-life    {format_number(ind.half_life_days, 'days', digits=6)}")
    norm = dict(ind.normalisation)
    lines += [
        f"  weight       {format_number(ind.weight, digits=6)}",
        f"  normalise    {norm.pop('method')} {_normalisation_words(norm)}".rstrip(),
        f"  description  {ind.description}",
        "  citations:",
    ]
    for c in ind.citations:
        source = catalog.sources[c.source]
        quote = f' \u2014 "{c.quote}"' if c.quote else ""
        lines.append(f"    - {source.reference()}, section \u201c{c.section}\u201d{quote}")
    click.echo("\n".join(lines))


# -- observations and rejects --------------------------------------------------------


@click.group()
def observations() -> None:
    """Observations in the database, as known on a date."""


@observations.command(name="list")
@click.option("--indicator", metavar="ID", help="Only this indicator.")
@subject_option
@as_of_option
@click.option("--all-revisions", is_flag=True, help="Show superseded revisions too.")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@json_option
@pass_app
def observations_list(
    app: App,
    indicator: str | None,
    subject: str | None,
    as_of: str | None,
    all_revisions: bool,
    limit: int,
    as_json: bool,
) -> None:
    """List observations with their source, citation and Admiralty grade."""
    if indicator:
        app.catalog.get(indicator)
    with app.store() as store:
        rows = store.observations(
            indicator=indicator,
            subject=subject,
            as_of=parse_as_of(as_of),
            all_revisions=all_revisions,
            limit=limit,
        )
    if as_json:
        echo_json([_public_observation(r) for r in rows])
        return
    catalog = app.catalog
    for row in rows:
        row["grade"] = f"{row['reliability'] or '-'}{row['credibility'] or '-'}"
        ind = catalog.indicators.get(row["indicator"])
        # The value as read (with its unit), not as typed ("1e6"), and what it spans.
        row["value"] = ind.describe_value(row["value"]) if ind else row["value_text"]
        start, end = row["period_start"][:10], row["period_end"][:10]
        if ind is not None and ind.lifetime == "interval" and start != end:
            row["period"] = f"{row['period']} to {end}"
        row["flags"] = row.get("flags") or ""
    echo_table(
        rows,
        [
            "indicator",
            "subject",
            "period",
            "value",
            "source",
            "grade",
            "known_from",
            "flags",
            "citation",
        ],
        width=40,
    )


def _public_observation(row: dict[str, Any]) -> dict[str, Any]:
    hidden = {"revision_rank", "content_hash", "source_id"}
    return {k: v for k, v in row.items() if k not in hidden}


@click.group()
def rejects() -> None:
    """Rows that failed validation, with their raw text, line and reason."""


@rejects.command(name="list")
@click.option("--run", "run_id", type=int, help="Only rejects of this ingest run.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@json_option
@pass_app
def rejects_list(app: App, run_id: int | None, limit: int, as_json: bool) -> None:
    """List rejected rows, newest first (or those of one run, in file order)."""
    with app.store() as store:
        if run_id is not None and not store.run_exists(run_id):
            raise NotFoundError(f"--run: there is no ingest run {run_id}")
        rows = store.rejects(run_id=run_id, limit=limit)
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ["id", "run_id", "uri", "line", "field", "reason", "raw"], width=50)


# -- db, config, demo ----------------------------------------------------------------


@click.group()
def db() -> None:
    """The database file: counts, migrations, last ingest."""


@db.command(name="status")
@json_option
@pass_app
def db_status(app: App, as_json: bool) -> None:
    """Show table counts, size, catalog version, the last ingest run and the mail backlog."""
    with app.store() as store:
        status = store.status()
    if as_json:
        echo_json(status)
        return
    click.echo(f"database   {status['path']} ({status['bytes']:,} bytes)")
    click.echo(f"catalog    {status['catalog_version']}")
    click.echo(f"migrations {', '.join(status['migrations'])}")
    for table, count in status["tables"].items():
        click.echo(f"  {table:<13}{count:>10,}")
    click.echo(f"subjects   {', '.join(status['subjects']) or '(none)'}")
    click.echo(f"periods    {status['first_period'] or '-'} .. {status['last_period'] or '-'}")
    last = status["last_run"]
    if last:
        click.echo(f"last run   #{last['id']} {last['started_at']} {last['status']}: {last['uri']}")
    outbox = status["outbox"]
    mail = ", ".join(f"{n} {state}" for state, n in outbox.items()) or "empty"
    click.echo(f"alerts     {status['alerts_active']} firing or acknowledged")
    click.echo(f"outbox     {mail}")
    if outbox.get("dead"):
        click.echo(
            f"            {outbox['dead']} dead message(s) need attention: "
            "early-warning outbox list --status dead"
        )


@click.group(name="config")
def config_group() -> None:
    """The effective configuration."""


@config_group.command(name="show")
@json_option
@pass_app
def config_show(app: App, as_json: bool) -> None:
    """Print the effective settings (secrets masked) and where each came from; a
    setting that would be refused when used (an address that is not one) is refused
    here too, naming the key."""
    from ..alerts import MailSettings  # checks every address and the timeout

    MailSettings.from_config(app.config)
    shown = app.config.masked()
    if as_json:
        echo_json({"file": str(app.config.file) if app.config.file else None, "settings": shown})
        return
    click.echo(f"# configuration file: {app.config.file or '(none, defaults)'}")
    for section, entries in shown.items():
        click.echo(f"[{section}]")
        for key, value in entries.items():
            origin = app.config.origins.get(f"{section}.{key}", "")
            click.echo(f"{key} = {json.dumps(value)}  # {origin}")


def _normalisation_words(spec: dict[str, Any]) -> str:
    """ "goalposts 1,000 to 50,000", not a Python dict."""
    parts = []
    for key, value in spec.items():
        if isinstance(value, list | tuple) and len(value) == 2:
            parts.append(f"{key} {format_range(*value, digits=6)}")
        else:
            parts.append(
                f"{key} {format_number(value, digits=6) if isinstance(value, float) else value}"
            )
    return ", ".join(parts)
