"""`ingest` (files, folders, URLs) and `observe` (one observation by hand)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import click

from ..errors import EarlyWarningError
from ..ingest import ALL_FORMATS, IngestResult, expand_sources, ingest, observe
from ..store import Store
from .common import App, echo_json, json_option, pass_app

__all__ = ["ingest_command", "ingest_each", "observe_command", "print_ingest"]


@click.command(name="ingest")
@click.argument("sources", nargs=-1, required=True, metavar="FILE|FOLDER|URL...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(ALL_FORMATS)),
    help="Read as this format (default: from the file's content and name).",
)
@click.option("--subject", metavar="CODE", help="Subject for rows that give none.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar for event-data files (default: when stderr is a terminal).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    metavar="N",
    help="Aggregate the GDELT exports on a local Dask cluster of N processes "
    "(pip install 'early-warning[scale]'); the rows recorded are the same.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Aggregate the GDELT exports on the running Dask cluster at ADDRESS "
    "(tcp://host:port; its workers must see the files under the same paths).",
)
@json_option
@pass_app
def ingest_command(
    app: App,
    sources: tuple[str, ...],
    fmt: str | None,
    subject: str | None,
    progress: bool | None,
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Load observation or event files, published data sets, or http(s) URLs.

    Canonical files: CSV, XLSX, JSON, NDJSON. Published layouts, mapped to catalog
    indicators by indicators/mappings/*.yaml: World Bank WDI (bulk CSV, long CSV, API
    JSON), IMF WEO (DataMapper .xls, release file), SIPRI milex workbook, GDELT 1.0
    and 2.0 event exports (zipped or not; aggregated into weekly dyad indicators),
    daily GDELT dyad scores (`date,BLR_RUS,...`), the UCDP/PRIO Armed Conflict Dataset
    (events per country and year), UCDP Candidate GED (CSV or API JSON) and a saved
    ACLED API answer (escalation events). A folder is read file by file; files
    already ingested are skipped. With --workers or --scheduler, GDELT exports are read
    on a Dask cluster, several at once, and recorded in order as without.

    Valid rows land; invalid rows are kept in `rejects` with their line and reason.
    Exit status: 0 all loaded, 1 some rows rejected, 2 a file was refused.
    """
    sys.exit(
        ingest_each(
            app, sources, as_json,
            default_subject=subject or app.config.default_subject, fmt=fmt, progress=progress,
            cluster={"workers": workers, "scheduler": scheduler} if workers or scheduler else None,
        )
    )  # fmt: skip


def ingest_each(
    app: App,
    sources: Sequence[str],
    as_json: bool,
    cluster: dict[str, Any] | None = None,
    **options: Any,
) -> int:
    """Ingest each source (a folder: its files) in turn, printing each result; a refused
    file is reported and the rest go on. Returns the exit status (0, 1 or 2).
    `cluster` (workers, scheduler): GDELT exports aggregated on Dask."""
    with app.store() as store, ExitStack() as stack:
        expanded = expand_sources(sources)
        if cluster:
            from ..ingest.gdelt_scale import dask_aggregator

            options["aggregator"] = stack.enter_context(
                dask_aggregator(store, app.catalog, expanded,
                                zip_limits=app.limits.zip_limits(), **cluster)
            )  # fmt: skip
        return _ingest_sources(app, store, expanded, as_json, **options)


def _ingest_sources(
    app: App, store: Store, sources: list[str], as_json: bool, **options: Any
) -> int:
    code = 0
    reports: list[dict[str, Any]] = []
    for source in sources:
        try:
            result = ingest(store, app.catalog, source, limits=app.limits, **options)
        except EarlyWarningError as exc:
            code = 2
            reports.append({"uri": source, "status": "refused", "message": str(exc)})
            if not as_json:
                click.echo(f"early-warning: error: {' '.join(str(exc).splitlines())}", err=True)
            continue
        code = max(code, result.exit_code)
        reports.append(result.to_dict())
        if not as_json:
            print_ingest(result)
    if as_json:
        echo_json(reports)
    return code


def print_ingest(result: IngestResult) -> None:
    click.echo(result.summary())
    for reject in result.rejects:
        click.echo(f"  rejected line {reject.line}: {reject.field}: {reject.reason}")
    hidden = result.rows_rejected - len(result.rejects)
    if hidden > 0 and result.status != "duplicate":
        click.echo(f"  ... and {hidden:,} more (early-warning rejects list --run {result.run_id})")


@click.command(name="observe", context_settings={"ignore_unknown_options": True})
@click.argument("indicator")
@click.argument("value")
@click.option(
    "--date", required=True, help="Period the value refers to (YYYY-MM-DD, YYYY-MM, ...)."
)
@click.option("--subject", metavar="CODE", help="ISO alpha-3 or AAA-BBB (default from config).")
@click.option("--source", help="Short name of the source.")
@click.option("--citation", help="Where in the source: title, section, page, URL.")
@click.option("--published", metavar="DATE", help="When the value became public.")
@click.option("--reliability", metavar="A-F", help="Admiralty source reliability.")
@click.option("--credibility", metavar="1-6", help="Admiralty information credibility.")
@click.option("--unit", help="Unit, if given must equal the catalog unit.")
@click.option("--note", help="Free text.")
@click.option("--end", metavar="DATE", help="Last day the value holds (an interval: an exercise).")
@json_option
@pass_app
def observe_command(
    app: App, indicator: str, value: str, date: str, as_json: bool, **optional: str | None
) -> None:
    """Record one observation by hand, validated exactly like a file row."""
    with app.store() as store:
        result = observe(
            store,
            app.catalog,
            indicator,
            value,
            date=date,
            default_subject=app.config.default_subject,
            limits=app.limits,
            **optional,
        )
    if as_json:
        echo_json(result.to_dict())
    elif result.rows_rejected:
        reject = result.rejects[0]
        click.echo(f"early-warning: rejected: {reject.field}: {reject.reason}", err=True)
    elif result.rows_loaded:
        until = f" to {optional['end']}" if optional.get("end") else ""
        ahead = "; announced ahead of its period" if result.announced else ""
        click.echo(f"recorded {indicator} = {value} for {date}{until}{ahead} (run {result.run_id})")
    else:
        click.echo(f"{indicator} = {value} for {date} is already recorded; nothing added")
    sys.exit(result.exit_code)
