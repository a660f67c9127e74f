"""What every command shares: the `App` context, one-line errors, output, options.

Only light modules are imported here (click, the base floor); a command imports the
library it needs inside its own body, so `early-warning --help` loads almost nothing.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..clock import Clock, SystemClock
from ..errors import EarlyWarningError, InputError, NotFoundError
from ..numbers import format_number
from ..periods import SUBJECT_PATTERN, PeriodError, parse_date, subject_problem

if TYPE_CHECKING:
    from ..alerts.rules import Rule
    from ..catalog import Catalog
    from ..config import Config
    from ..ingest import Limits
    from ..scoring.profiles import Profile
    from ..services.theatres import Scope
    from ..store import Store


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
            from ..catalog import load_catalog

            self._catalog = load_catalog(self.config.catalog_dir)
        return self._catalog

    def rules(self) -> list[Rule]:
        """The alert rules of the models folder (`alerts.yaml`)."""
        from ..alerts.rules import load_rules

        return load_rules(self.config.models_dir / "alerts.yaml", self.catalog)

    def scope(self, subject: str, profile: str | None = None, rules: Path | None = None) -> Scope:
        """What the subject is scored with: its theatre's slice of the catalog, its
        profile (`profile`, a name or path, wins) and its rules (`rules`, a file, wins)."""
        from ..services.theatres import subject_scope

        return subject_scope(self.catalog, self.config.models_dir, subject, profile, rules)

    @property
    def limits(self) -> Limits:
        from ..ingest import Limits

        return Limits.from_config(self.config)

    def store(self, *, create: bool = False) -> Store:
        """Open the database; commands that write create it, readers need it to exist."""
        from ..store import open_store

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


class ErrorHandlingGroup(click.Group):
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
    """Aligned plain-text columns; long cells are cut with an ellipsis; a float is
    written by `format_number`."""
    if not rows:
        click.echo("(none)")
        return

    def cell(value: Any) -> str:
        if isinstance(value, float):  # never 1e-05 or 1e+16 (ints are ids and counts)
            value = format_number(value, digits=6)
        text = "" if value is None else _printable(str(value))
        return text if len(text) <= width else text[: width - 1] + "\u2026"

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


# Line breaks, tabs, other control characters and the bidirectional overrides that can
# make a terminal show text other than what is stored (a citation with "\r" or U+202E).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")


def _printable(text: str) -> str:
    """A cell as a terminal should show it: one line, no control characters."""
    return _UNPRINTABLE.sub(lambda m: " " if m.group() in "\r\n\t" else "\ufffd", text)


def parse_horizons(text: str) -> list[int]:
    """`--horizons 4,12`: whole weeks, 1 to 104, sorted and without repeats."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InputError(f"--horizons: {text!r}: give whole weeks separated by commas") from None
    if not values or any(not 1 <= v <= 104 for v in values):
        raise InputError("--horizons: each horizon is 1 to 104 weeks")
    return values


# -- the options every command spells the same way ------------------------------------

KNOWN_ON = "Use only what was known on DATE (YYYY-MM-DD; a month or year means its last day)."
SCORE_WEEK = (
    "Score the week containing DATE (default: today). Uses everything in the "
    "database unless --point-in-time is given."
)


def as_of_option(func: Callable[..., Any] | None = None, *, help: str = KNOWN_ON) -> Any:
    """`--as-of DATE`; the help says what the date means to this command."""
    option = click.option("--as-of", "as_of", metavar="DATE", help=help)
    return option(func) if func is not None else option


def subject_option(func: Callable[..., Any] | None = None, *, default: str = "all") -> Any:
    """`--subject CODE`; `default` says what is used without it (all, or the configured one)."""
    text = {
        "all": "ISO alpha-3 code or AAA-BBB dyad (default: all).",
        "config": "Subject to score (default from the configuration).",
    }[default]
    option = click.option("--subject", metavar="CODE", help=text)
    return option(func) if func is not None else option


def profile_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--profile",
        help="Weight profile (models/weights/NAME.yaml) or a path (default: the "
        "subject's theatre profile; `default` without theatres).",
    )(func)


def record_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--record`: keep the result in the database; without it a command only reads."""
    return click.option(
        "--record",
        is_flag=True,
        help="Keep the result in the database (with the profile hash and data vintage).",
    )(func)


def pit_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--point-in-time",
        is_flag=True,
        help="Use only what was published by the as-of date (with --history: the whole "
        "series as known on that date). Default: the best current knowledge.",
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


# -- what those options mean -----------------------------------------------------------


def parse_as_of(text: str | None, option: str = "--as-of") -> dt.date | None:
    """A date given on the command line (a month or year means its last day), or None."""
    if not text:
        return None
    try:
        return parse_date(text)
    except PeriodError as exc:
        raise InputError(f"{option}: {exc}") from None


def score_as_of(app: App, text: str | None, option: str = "--as-of") -> dt.date:
    """The week to score: a date no later than today (default: today)."""
    day = parse_as_of(text, option) or app.today()
    if day > app.today():
        raise InputError(f"{option}: {day} is in the future; scores need observed data")
    return day


def scored_subject(app: App, store: Store, subject: str | None) -> str:
    """The subject to score, which must have observations."""
    subject = subject or app.config.default_subject
    if not SUBJECT_PATTERN.fullmatch(subject):
        raise InputError(f"--subject: {subject_problem(subject)}")
    if subject not in store.subjects():
        known = ", ".join(sorted(store.subjects())) or "none"
        raise NotFoundError(
            f"--subject: no observations for {subject} (subjects with data: {known})"
        )
    return subject


def load_named_profile(app: App, name: str, catalog: Catalog | None = None) -> Profile:
    """A profile read against `catalog`, by default the slice of the theatre that
    names it (`Catalog.slice_for_profile`; the whole catalog without theatres)."""
    from ..scoring.profiles import load_profile

    part = catalog or app.catalog.slice_for_profile(Path(name).stem)
    return load_profile(app.config.models_dir, name, part)


def login() -> str:
    """Who is at the keyboard, for audit trails ("unknown" when the system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
