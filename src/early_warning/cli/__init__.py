"""The `early-warning` command: a thin click layer over the library.

Each command parses its options, calls the library and prints the result, as a table
for people or as JSON (`--json`) for scripts. Errors the user can fix are printed as
one line on stderr, with exit status 2 (unusable input) or 1 (done, but something was
rejected); see DESIGN.md 3.3.

Commands are registered here, by name, in `COMMANDS`: the module that defines each and
the one-line summary `--help` shows. A command's module is imported only when that
command runs, so `--help` and `--version` load no library code (issue 15: under 150
modules). `tests/test_cli.py` checks each summary against the command's own docstring.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__
from .common import App, ErrorHandlingGroup

__all__ = ["COMMANDS", "cli", "main"]

# name -> (module in this package, attribute, the summary `--help` shows)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "alerts": (
        "alerts",
        "alerts",
        "Alert rules: check now, replay history, list, acknowledge, test the mail.",
    ),
    "backtest": (
        "forecast",
        "backtest_command",
        "Rolling-origin, point-in-time backtest of every model (and of the profile's score).",
    ),
    "config": (
        "data",
        "config_group",
        "The effective configuration.",
    ),
    "daemon": (
        "daemon",
        "daemon_command",
        "Run ingestion, scoring, alerts and the weekly report on a schedule.",
    ),
    "db": (
        "data",
        "db",
        "The database file: counts, migrations, last ingest.",
    ),
    "demo": (
        "demo",
        "demo",
        "Build a fresh database from the catalog and the embedded dataset, score it, show it.",
    ),
    "forecast": (
        "forecast",
        "forecast_group",
        "Probability of an escalation event within each horizon, from every model.",
    ),
    "indicators": (
        "data",
        "indicators",
        "The indicator catalog: what is measured and which way is risk.",
    ),
    "ingest": (
        "ingest",
        "ingest_command",
        "Load observation or event files, published data sets, or http(s) URLs.",
    ),
    "init": (
        "data",
        "init",
        "Create the database (or migrate it) and load the indicator catalog into it.",
    ),
    "observations": (
        "data",
        "observations",
        "Observations in the database, as known on a date.",
    ),
    "observe": (
        "ingest",
        "observe_command",
        "Record one observation by hand, validated exactly like a file row.",
    ),
    "outbox": (
        "alerts",
        "outbox",
        "The mail outbox: what is queued, sent, waiting for a retry or dead.",
    ),
    "pipeline": (
        "pipeline",
        "pipeline_command",
        "Score, forecast and check the alert rules, recording each, then send the mail.",
    ),
    "rejects": (
        "data",
        "rejects",
        "Rows that failed validation, with their raw text, line and reason.",
    ),
    "report": (
        "report",
        "report_command",
        "Write the weekly escalation-risk PDF (to the reports folder by default).",
    ),
    "score": (
        "scoring",
        "score_command",
        "Score a subject: band, coverage, families, drivers and the change on the week before.",
    ),
    "sensitivity": (
        "scoring",
        "sensitivity_command",
        "Uncertainty band, chance of `high` or worse, family rank stability and Sobol indices.",
    ),
    "serve": (
        "web",
        "serve_command",
        "The analyst workbench in a browser: tune weights, compare, backtest, audit.",
    ),
    "structural": (
        "structural",
        "structural_group",
        "Pooled country-year model of armed conflict: every country ranked, one shown.",
    ),
    "status": (
        "daemon",
        "status_command",
        "The daemon at a glance: jobs, mail backlog and dead mail, database, last report.",
    ),
    "weights": (
        "scoring",
        "weights",
        "Weight profiles: show, change (with an audit trail), compare and validate.",
    ),
}


class CommandRegistry(ErrorHandlingGroup):
    """The root group: commands named in `COMMANDS`, each module imported when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        command = getattr(importlib.import_module(f".{module}", __name__), attribute)
        assert isinstance(command, click.Command), f"{module}.{attribute} is not a command"
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The summaries are written down here, so help imports no command module.
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [
            (name, click.Command(name, help=entry[2]).get_short_help_str(limit))
            for name, entry in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=CommandRegistry, context_settings={"help_option_names": ["-h", "--help"]})
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
    from ..config import load_config

    config = load_config(config_path)
    if db_path:
        from_env = ctx.get_parameter_source("db_path") == click.core.ParameterSource.ENVIRONMENT
        config = config.with_db(db_path, origin="EARLY_WARNING_DB" if from_env else "--db")
    ctx.obj = App(config)


def _one_blas_thread() -> None:
    """One BLAS thread unless the caller chose otherwise, set before numpy is first
    imported. The models fit small matrices, where a second OpenBLAS thread mostly
    spins: on a busy 2-core machine the report's forecast took 17 s of CPU with two
    threads and 2.2 s with one (the same numbers: the tests run with one)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def main() -> None:
    """Run the command; a usage mistake is one line on stderr and exit status 2."""
    # What this creates (the database with its outbox and attached reports, reports,
    # e-mails, profiles) is not for every account on the machine: no access for
    # "other", whatever the caller's umask allowed.
    os.umask(os.umask(0o027) | 0o027)
    _one_blas_thread()
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
