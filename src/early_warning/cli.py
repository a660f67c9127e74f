"""The `early-warning` command: a thin click layer over the library.

Each command parses its options, calls one library function and prints the result,
as a table for people or as JSON (`--json`) for scripts. Errors the user can fix are
printed as one line on stderr, with exit status 2 (unusable input) or 1 (done, but
something was rejected); see DESIGN.md 3.3.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__
from .catalog import Catalog, load_catalog
from .clock import Clock, SystemClock
from .config import Config, load_config
from .demo import DemoResult, run_demo, write_daemon_config
from .errors import EarlyWarningError, InputError, NotFoundError
from .ingest import ALL_FORMATS, IngestResult, Limits, expand_sources, ingest, observe
from .periods import PeriodError, parse_date
from .store import Store, open_store

__all__ = ["cli", "main"]


# -- shared plumbing -----------------------------------------------------------------


class App:
    """What every command needs: the configuration, then the catalog and the store."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self._catalog: Catalog | None = None

    def today(self) -> dt.date:
        return self.clock.now().date()

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog(self.config.catalog_dir)
        return self._catalog

    @property
    def limits(self) -> Limits:
        return Limits.from_config(self.config)

    def store(self, *, create: bool = False) -> Store:
        """Open the database; commands that write create it, readers need it to exist."""
        store = open_store(self.config.db_path, create=create)
        if create or store.catalog_version() != self.catalog.version:
            store.sync_catalog(self.catalog)
        return store


pass_app = click.make_pass_decorator(App)


def fail(message: str, code: int = 2) -> NoReturn:
    # One line, whatever the cause carried (a server's multi-line answer, say).
    message = " ".join(str(message).splitlines())
    click.echo(f"early-warning: error: {message}", err=True)
    sys.exit(code)


class Group(click.Group):
    """Turns the library's errors into one line and an exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EarlyWarningError as exc:
            fail(str(exc), exc.exit_code)
        except sqlite3.Error as exc:
            fail(f"database error: {exc}")
        except BrokenPipeError:
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("early-warning: interrupted; nothing of the current step was kept", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:  # a full disk, a read-only folder: the machine's, not a bug
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or type(exc).__name__}")
        except Exception as exc:  # never a traceback for a user: one line, exit 2
            text = " ".join(str(exc).split())[:200]
            fail(f"internal error ({type(exc).__name__}: {text}); please report it")


def echo_json(data: Any) -> None:
    """JSON for scripts: NaN and infinities (not JSON) are written as null."""
    click.echo(
        json.dumps(_finite(data), indent=2, ensure_ascii=False, default=str, allow_nan=False)
    )


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def echo_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], width: int = 48) -> None:
    """Aligned plain-text columns; long cells are cut with an ellipsis."""
    if not rows:
        click.echo("(none)")
        return

    def cell(value: Any) -> str:
        text = "" if value is None else str(value).replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "\u2026"

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def as_of_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        metavar="DATE",
        help="Use only what was known on DATE (YYYY-MM-DD; a month or year means its last day).",
    )(func)


def subject_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--subject", metavar="CODE", help="ISO alpha-3 code or AAA-BBB dyad (default: all)."
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


def parse_as_of(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return parse_date(text)
    except PeriodError as exc:
        raise InputError(f"--as-of: {exc}") from None


# -- the command group ---------------------------------------------------------------


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    metavar="PATH",
    envvar="EARLY_WARNING_DB",
    help="SQLite database file (env EARLY_WARNING_DB; default from the configuration).",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="EARLY_WARNING_CONFIG",
    help="TOML configuration file (env EARLY_WARNING_CONFIG).",
)
@click.version_option(__version__, prog_name="early-warning")
@click.pass_context
def cli(ctx: click.Context, db_path: str | None, config_path: str | None) -> None:
    """Score, forecast and warn of military-political escalation risk.

    Observations go into one SQLite file with their sources; every number can be traced
    back to a citation. Start with `early-warning demo`, or `init` then `ingest FILE`.
    """
    config = load_config(config_path)
    if db_path:
        from_env = ctx.get_parameter_source("db_path") == click.core.ParameterSource.ENVIRONMENT
        config = config.with_db(db_path, origin="EARLY_WARNING_DB" if from_env else "--db")
    ctx.obj = App(config)


@cli.command()
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


@cli.command(name="ingest")
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
@json_option
@pass_app
def ingest_command(
    app: App,
    sources: tuple[str, ...],
    fmt: str | None,
    subject: str | None,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Load observation or event files, published data sets, or http(s) URLs.

    Canonical files: CSV, XLSX, JSON, NDJSON. Published layouts, mapped to catalog
    indicators by indicators/mappings/*.yaml: World Bank WDI (bulk CSV, long CSV, API
    JSON), IMF WEO (DataMapper .xls, release file), SIPRI milex workbook, GDELT 1.0
    and 2.0 event exports (zipped or not; aggregated into weekly dyad indicators). A
    folder is read file by file; files already ingested are skipped.

    Valid rows land; invalid rows are kept in `rejects` with their line and reason.
    Exit status: 0 all loaded, 1 some rows rejected, 2 a file was refused.
    """
    code = 0
    reports: list[dict[str, Any]] = []
    with app.store() as store:
        for source in expand_sources(sources):
            try:
                result = ingest(
                    store,
                    app.catalog,
                    source,
                    default_subject=subject or app.config.default_subject,
                    limits=app.limits,
                    fmt=fmt,
                    progress=progress,
                )
            except EarlyWarningError as exc:
                code = 2
                reports.append({"uri": source, "status": "refused", "message": str(exc)})
                if not as_json:
                    click.echo(f"early-warning: error: {' '.join(str(exc).splitlines())}", err=True)
                continue
            code = max(code, result.exit_code)
            reports.append(result.to_dict())
            if not as_json:
                _print_ingest(result)
    if as_json:
        echo_json(reports)
    sys.exit(code)


def _print_ingest(result: IngestResult) -> None:
    click.echo(result.summary())
    for reject in result.rejects:
        click.echo(f"  rejected line {reject.line}: {reject.field}: {reject.reason}")
    hidden = result.rows_rejected - len(result.rejects)
    if hidden > 0 and result.status != "duplicate":
        click.echo(f"  ... and {hidden:,} more (early-warning rejects list --run {result.run_id})")


@cli.command(name="observe", context_settings={"ignore_unknown_options": True})
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
        click.echo(f"recorded {indicator} = {value} for {date} (run {result.run_id})")
    else:
        click.echo(f"{indicator} = {value} for {date} is already recorded; nothing added")
    sys.exit(result.exit_code)


# -- indicators ----------------------------------------------------------------------


@cli.group()
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
            "weight": f"{i.weight:g}",
            "max age": f"{i.max_age_days}d",
        }
        for i in chosen
    ]
    echo_table(rows, ["id", "family", "kind", "unit", "risk", "weight", "max age"], width=30)
    click.echo(f"{len(chosen)} indicators, catalog version {catalog.version}")


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
        lines.append(f"  range        [{ind.range[0]:g}, {ind.range[1]:g}]")
    for level, label in (ind.levels or {}).items():
        lines.append(f"  level {level}      {label}")
    direction = "higher value = more risk" if ind.higher_is_riskier else "higher value = less risk"
    lines += [
        f"  direction    {direction}{' (contested)' if ind.contested else ''}",
        f"  reasoning    {ind.direction_reasoning}",
        f"  frequency    {ind.frequency}, stale after {ind.max_age_days} days",
    ]
    if ind.half_life_days:
        lines.append(f"  half-life    {ind.half_life_days:g} days")
    norm = dict(ind.normalisation)
    lines += [
        f"  weight       {ind.weight:g}",
        f"  normalise    {norm.pop('method')} {norm if norm else ''}".rstrip(),
        f"  description  {ind.description}",
        "  citations:",
    ]
    for c in ind.citations:
        source = catalog.sources[c.source]
        quote = f' \u2014 "{c.quote}"' if c.quote else ""
        lines.append(f"    - {source.reference()}, section \u201c{c.section}\u201d{quote}")
    click.echo("\n".join(lines))


# -- observations and rejects --------------------------------------------------------


@cli.group()
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
    for row in rows:
        row["grade"] = f"{row['reliability'] or '-'}{row['credibility'] or '-'}"
    echo_table(
        rows,
        [
            "indicator",
            "subject",
            "period",
            "value_text",
            "source",
            "grade",
            "known_from",
            "citation",
        ],
        width=40,
    )


def _public_observation(row: dict[str, Any]) -> dict[str, Any]:
    hidden = {"revision_rank", "content_hash", "source_id"}
    return {k: v for k, v in row.items() if k not in hidden}


@cli.group()
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
        if run_id is not None and not store.db["ingest_runs"].count_where("id = ?", [run_id]):
            raise NotFoundError(f"--run: there is no ingest run {run_id}")
        rows = store.rejects(run_id=run_id, limit=limit)
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ["id", "run_id", "uri", "line", "field", "reason", "raw"], width=50)


# -- db, config, demo ----------------------------------------------------------------


@cli.group()
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


@cli.group(name="config")
def config_group() -> None:
    """The effective configuration."""


@config_group.command(name="show")
@json_option
@pass_app
def config_show(app: App, as_json: bool) -> None:
    """Print the effective settings (secrets masked) and where each came from; a
    setting that would be refused when used (an address that is not one) is refused
    here too, naming the key."""
    from .alerts import MailSettings  # checks every address and the timeout

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


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the demo database here and keep it (default: a temporary folder, removed).",
)
@click.option(
    "--profile", default="default", show_default=True, help="Weight profile to score with."
)
@json_option
@pass_app
def demo(app: App, workdir: Path | None, profile: str, as_json: bool) -> None:
    """Build a fresh database from the catalog and the embedded dataset, score it, show it."""
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
                "backtest": result.backtest.to_dict() if result.backtest else None,
                "alerts": [a.to_dict() for a in result.alerts],
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
            f"weight {family.weight:g}{note}"
        )
    where = "" if kept else " (temporary, removed at the end; --workdir DIR keeps it)"
    click.echo(f"database: {result.db_path}{where}")
    for r in result.results:
        _print_ingest(r)
    tables = result.status["tables"]
    click.echo(
        f"loaded {tables['observations']} observations and {tables['events']} events "
        f"from {tables['sources']} sources, periods "
        f"{result.status['first_period']} .. {result.status['last_period']}"
    )
    if result.as_of is None:
        return
    _print_latest(catalog, result.latest, result.as_of)
    if result.scores is not None:
        click.echo("")
        click.echo(f"the score as of {result.as_of}, when the last embedded figure became public:")
        click.echo(result.scores.summary(-1))
    summary = _uncertainty_summary(result)
    if summary and summary["band"]["score"] is not None:
        band = summary["band"]
        click.echo(
            f"  uncertainty ({summary['draws']} draws over weights, normalisation, aggregation): "
            f"5-95% {band['low']:.1f} .. {band['high']:.1f}, "
            f"P(high or worse) {summary['p_high_or_worse']:.0%}"
        )
        for method, part in band.get("by_aggregation", {}).items():
            click.echo(
                f"    {method} aggregation only: {part['low']:.1f} .. {part['high']:.1f} "
                f"(median {part['median']:.1f})"
            )
    _print_demo_forecast(result)
    _print_demo_alerts(result, kept)
    if result.report is not None:
        click.echo("")
        click.echo(
            f"weekly report for {result.report.data.week}: {result.report.path} "
            f"({result.report.pages} pages)"
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
    if age <= ind.max_age_days:
        return "current"
    return "no recent event" if ind.kind == "event" else "stale"


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
                "value": ind.describe_value(row["value"]),
                "source": row["source"],
                "grade": f"{row['reliability'] or '-'}{row['credibility'] or '-'}",
                "age": f"{max(age, 0)}d",
                "status": _status(ind, age),
            }
        )
    click.echo(
        f"latest value of each indicator as of {as_of} (stale: older than its maximum age, "
        "so not used; an event counts only within its maximum age):"
    )
    echo_table(rows, ["indicator", "period", "value", "source", "grade", "age", "status"], width=56)
    empty = [i.id for i in catalog if i.id not in seen]
    if empty:
        click.echo(f"no data in the embedded dataset for: {', '.join(empty)}")


def main() -> None:
    """Run the command; a usage mistake is one line on stderr and exit status 2."""
    # What this creates (the database with its outbox and attached reports, reports,
    # e-mails, profiles) is not for every account on the machine: no access for
    # "other", whatever the caller's umask allowed.
    os.umask(os.umask(0o027) | 0o027)
    try:
        cli.main(prog_name="early-warning", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare group: show its help
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(0)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "early-warning"
        click.echo(f"early-warning: error: {exc.format_message()} (see {command} --help)", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("early-warning: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


# The scoring, forecast and alert commands live in their own modules; importing registers them.
from . import (  # noqa: E402, F401
    cli_alerts,
    cli_daemon,
    cli_forecast,
    cli_report,
    cli_scoring,
    cli_web,
)
