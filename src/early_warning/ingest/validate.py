"""Row validation: the rules every observation and event must pass.

The same rules apply to every way data comes in (CSV, XLSX, JSON, NDJSON, a URL,
`observe` on the command line, the web form): a row is checked against the catalog and
either becomes a database tuple or a `Problem` naming the field and the reason. The
checks are written for speed, because a bulk file has a million rows: parsers are
looked up once per indicator and periods are parsed through a cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..periods import SUBJECT_PATTERN, PeriodError, parse_period, subject_problem
from ..store import EVENT_COLUMNS as STORED_EVENT
from ..store import OBSERVATION_COLUMNS as STORED_OBSERVATION
from ..store import SpilledKeys

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_REQUIRED",
    "OBSERVATION_COLUMNS",
    "OBSERVATION_REQUIRED",
    "EventRules",
    "ObservationRules",
    "Problem",
    "formula_like",
]

# The canonical observation file (DESIGN.md 3.1), in the documented column order.
OBSERVATION_COLUMNS = (
    "indicator", "date", "value", "subject", "source", "citation", "published",
    "reliability", "credibility", "unit", "note", "end",
)  # fmt: skip
OBSERVATION_REQUIRED = ("indicator", "date", "value")
# The escalation-event file (DESIGN.md 3.2) plus optional provenance columns.
EVENT_COLUMNS = (
    "date", "subject", "kind", "severity", "title", "citation", "source", "published", "note",
)  # fmt: skip
EVENT_REQUIRED = ("date", "kind", "severity", "title")

# The tuples `check` returns, field by field: a list literal per row (the fastest way to
# build a million), so its order is written out here and must be the store's column
# order, which ingest relies on to fill `recorded_at` and `run_id` by name.
_BUILT_OBSERVATION = (
    "indicator", "subject", "period", "period_start", "period_end", "value", "value_text",
    "source_id", "citation", "published", "known_from", "recorded_at", "reliability",
    "credibility", "unit", "note", "flags", "run_id", "line", "content_hash",
)  # fmt: skip
_BUILT_EVENT = (
    "date", "date_end", "date_precision", "subject", "kind", "severity", "title",
    "citation", "source_id", "note", "known_from", "recorded_at", "run_id", "line",
    "content_hash",
)  # fmt: skip
if _BUILT_OBSERVATION != STORED_OBSERVATION or _BUILT_EVENT != STORED_EVENT:
    raise ImportError("ingest.validate builds rows in another order than the store's columns")

MAX_INTERVAL_DAYS = 366  # an exercise lasts days or weeks; a longer one is a typo
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
RELIABILITY = frozenset("ABCDEF")
CREDIBILITY = frozenset("123456")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Problem:
    """Why a row was rejected: the field (or 'row') and the reason, in a few words."""

    field: str
    reason: str


def formula_like(text: str) -> bool:
    """True for text a spreadsheet would run as a formula (and that is not a number)."""
    if not text or not text.startswith(_FORMULA_START):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def _flags(source: str, citation: str, note: str, *, announced: bool) -> str | None:
    """The row's flags: `announced` and `formula-like:<fields>` (text a spreadsheet would
    run as a formula), comma-separated, or None."""
    formula = ",".join(
        name
        for name, text in (("source", source), ("citation", citation), ("note", note))
        if text and text[0] in "=+-@\t\r" and formula_like(text)
    )
    found = ["announced"] * announced + ([f"formula-like:{formula}"] if formula else [])
    return ",".join(found) or None


def _content_hash(parts: Sequence[str]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).hexdigest()


class _Rules:
    """What observation and event rules share: limits, sources, dates, hostile text."""

    def __init__(
        self,
        default_subject: str,
        source_id: Callable[[str], int],
        today: dt.date,
        max_field_chars: int,
    ) -> None:
        self.default_subject = default_subject
        self._source_id = source_id
        self._source_ids: dict[str, int] = {}
        self.today_text = today.isoformat()
        self.max_field_chars = max_field_chars
        self._first_seen = _SeenKeys()

    def source(self, name: str) -> int | None:
        if not name:
            return None
        found = self._source_ids.get(name)
        if found is None:
            found = self._source_ids[name] = self._source_id(name)
        return found

    def text_problem(self, columns: Sequence[str], row: Sequence[str]) -> Problem | None:
        """Over-long fields and control characters (NUL and the like) in any field."""
        limit = self.max_field_chars
        for name, text in zip(columns, row, strict=False):
            if len(text) > limit:
                return Problem(name, f"{len(text):,} characters, over the limit of {limit:,}")
            if _CONTROL.search(text):
                return Problem(name, "contains a control character (NUL or similar)")
        return None

    def subject(self, text: str) -> str | Problem:
        if not text:
            return self.default_subject
        if not SUBJECT_PATTERN.fullmatch(text):
            return Problem("subject", subject_problem(text))
        return text

    def published(self, text: str) -> str | Problem:
        """The date from which a value counts as known (conservative: end of period).

        Without a publication date, a value counts as known from the day it is recorded.
        """
        if not text:
            return self.today_text
        try:
            known = parse_period(text).end
        except PeriodError as exc:
            return Problem("published", str(exc))
        if known > self.today_text:
            return Problem("published", f"{text!r} is in the future")
        return known

    def duplicate(self, key: tuple[str, ...], line: int, same: str) -> Problem | None:
        first = self._first_seen.first_line(key, line)
        if first != line:
            return Problem("row", f"duplicate of line {first} (same {same})")
        return None


class _SeenKeys:
    """The line on which each row key was first seen, in bounded memory.

    Keys are kept as 64-bit digests. The newest (up to `recent`) are in a dict; the
    rest in two sorted numpy arrays, digests and lines, 16 bytes a key (a dict of
    Python ints cost about 80), merged in whenever the dict fills. Past `in_memory`
    keys (two million: 32 MB) they go to a private temporary SQLite file on disk,
    deleted when closed, so a file of ten million rows costs no more memory than one of
    two million. (Two distinct keys share a digest with a chance of about 1 in 10^7 in
    a file of a million rows; the row is then rejected as a duplicate, visibly, never
    lost.)
    """

    def __init__(self, in_memory: int = 2_000_000, recent: int = 65_536) -> None:
        self._recent: dict[int, int] = {}
        self._recent_limit = recent
        self._keys = np.empty(0, dtype=np.int64)  # sorted
        self._lines = np.empty(0, dtype=np.int64)  # the line of each key
        self._in_memory = in_memory
        self._spill: SpilledKeys | None = None

    def first_line(self, key: tuple[str, ...], line: int) -> int:
        digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "big", signed=True)
        found = self._recent.get(number)
        if found is not None:
            return found
        keys = self._keys
        if len(keys):
            at = int(keys.searchsorted(number))
            if at < len(keys) and keys[at] == number:
                return int(self._lines[at])
        if len(keys) + len(self._recent) < self._in_memory:
            self._recent[number] = line
            if len(self._recent) >= self._recent_limit:
                self._merge()
            return line
        return self._spilled(number, line)

    def _merge(self) -> None:
        """The dict's keys into the sorted arrays (one sort of the new keys, one merge)."""
        new_keys = np.fromiter(self._recent.keys(), dtype=np.int64, count=len(self._recent))
        new_lines = np.fromiter(self._recent.values(), dtype=np.int64, count=len(self._recent))
        order = np.argsort(new_keys)
        new_keys, new_lines = new_keys[order], new_lines[order]
        at = self._keys.searchsorted(new_keys) + np.arange(len(new_keys))
        keys = np.empty(len(self._keys) + len(new_keys), dtype=np.int64)
        lines = np.empty_like(keys)
        placed = np.zeros(len(keys), dtype=bool)
        placed[at] = True
        keys[at], lines[at] = new_keys, new_lines
        keys[~placed], lines[~placed] = self._keys, self._lines
        self._keys, self._lines = keys, lines
        self._recent.clear()

    def _spilled(self, number: int, line: int) -> int:
        if self._spill is None:
            self._spill = SpilledKeys()
        return self._spill.first_line(number, line)

    def __del__(self) -> None:
        if self._spill is not None:
            self._spill.close()


class ObservationRules(_Rules):
    """Validate canonical observation rows against the catalog.

    `check(row, line)` takes the row's fields in `OBSERVATION_COLUMNS` order (missing
    optional fields as empty text) and returns either a `Problem` or the tuple to insert
    (`store.OBSERVATION_COLUMNS` order, as `_BUILT_OBSERVATION` names it, with
    `recorded_at` and `run_id` to be filled).
    """

    def __init__(
        self,
        catalog: Catalog,
        default_subject: str,
        source_id: Callable[[str], int],
        today: dt.date,
        max_field_chars: int,
    ) -> None:
        super().__init__(default_subject, source_id, today, max_field_chars)
        self.catalog = catalog
        self._units = {ind.id: ind.unit for ind in catalog}
        self._intervals = {ind.id for ind in catalog if ind.lifetime == "interval"}

    def interval_end(self, indicator: str, end: str, start: str, period_end: str) -> str | Problem:
        """The last day the value holds: the `end` column for an interval, else the end
        of the period its date names."""
        if not end:
            return period_end
        if indicator not in self._intervals:
            return Problem(
                "end", f"only a value that lives over an interval has an end; {indicator} does not"
            )
        try:
            last = parse_period(end).end
        except PeriodError as exc:
            return Problem("end", str(exc))
        if last < start:
            return Problem("end", f"{end!r} is before the period begins ({start})")
        days = (dt.date.fromisoformat(last) - dt.date.fromisoformat(start)).days + 1
        if days > MAX_INTERVAL_DAYS:
            return Problem(
                "end", f"{end!r}: an interval of {days:,} days, over a year (check the date)"
            )
        return last

    def check(self, row: Sequence[str], line: int) -> Problem | list[Any]:
        (indicator, date, value_text, subject, source, citation, published,
         reliability, credibility, unit, note) = row[:11]  # fmt: skip
        end = row[11] if len(row) > 11 else ""  # importers of published data give no end
        problem = self.text_problem(OBSERVATION_COLUMNS, row)
        if problem:
            return problem
        if not indicator:
            return Problem("indicator", "is empty")
        try:
            parse_value = self.catalog.parser(indicator)
        except KeyError:
            return Problem("indicator", f"unknown indicator {indicator[:64]!r}")
        if not date:
            return Problem("date", "is empty")
        try:
            period = parse_period(date)
        except PeriodError as exc:
            return Problem("date", str(exc))
        if not value_text:
            return Problem("value", "is empty")
        try:
            value = parse_value(value_text)
        except ValueError as exc:
            return Problem("value", str(exc))
        subject = self.subject(subject)
        if isinstance(subject, Problem):
            return subject
        known_from = self.published(published)
        if isinstance(known_from, Problem):
            return known_from
        # Published before its period begins: an announced value (a declared exercise
        # size, notified weeks ahead), kept, flagged and known from its publication.
        announced = bool(published) and known_from < period.start
        if period.start > self.today_text and not announced:
            return Problem(
                "date",
                f"{date!r} has not begun yet (forecasts are not observations; a value "
                "announced ahead gives its announcement date as 'published')",
            )
        period_end = self.interval_end(indicator, end, period.start, period.end)
        if isinstance(period_end, Problem):
            return period_end
        if reliability:
            reliability = reliability.upper()
            if reliability not in RELIABILITY:
                return Problem("reliability", f"{reliability[:10]!r} is not an Admiralty grade A-F")
        if credibility and credibility not in CREDIBILITY:
            return Problem("credibility", f"{credibility[:10]!r} is not an Admiralty grade 1-6")
        if unit and unit != self._units[indicator]:
            return Problem(
                "unit", f"{unit[:40]!r} differs from the catalog unit {self._units[indicator]!r}"
            )
        duplicate = self.duplicate(
            (indicator, subject, period.start, period_end, source),
            line,
            "indicator, subject, date and source",
        )
        if duplicate:
            return duplicate
        flags = _flags(source, citation, note, announced=announced)
        content_hash = _content_hash(
            (
                indicator,
                subject,
                period.start,
                period_end,
                repr(value),
                source,
                citation,
                published,
                reliability,
                credibility,
                unit,
                note,
            )
        )
        return [
            indicator, subject, period.text, period.start, period_end, value, value_text,
            self.source(source), citation or None, published or None, known_from,
            None,  # recorded_at, filled by the caller (store.OBSERVATION_RECORDED_AT)
            reliability or None, credibility or None, unit or None, note or None,
            flags,
            None,  # run_id, filled by the caller (store.OBSERVATION_RUN_ID)
            line, content_hash,
        ]  # fmt: skip


class EventRules(_Rules):
    """Validate escalation-event rows (`EVENT_COLUMNS` order)."""

    def check(self, row: Sequence[str], line: int) -> Problem | list[Any]:
        date, subject, kind, severity, title, citation, source, published, note = row
        problem = self.text_problem(EVENT_COLUMNS, row)
        if problem:
            return problem
        try:
            period = parse_period(date)
        except PeriodError as exc:
            return Problem("date", str(exc) if date else "is empty")
        if period.granularity not in ("day", "month", "year"):
            return Problem("date", f"{date!r}: give an event's day, month or year")
        subject = self.subject(subject)
        if isinstance(subject, Problem):
            return subject
        if not KIND_PATTERN.fullmatch(kind):
            return Problem("kind", f"{kind[:30]!r} is not a snake_case kind")
        if severity.strip() not in ("1", "2", "3"):
            return Problem("severity", f"{severity[:10]!r} is not 1, 2 or 3")
        if not title.strip():
            return Problem("title", "is empty")
        known_from = self.published(published)
        if isinstance(known_from, Problem):
            return known_from
        duplicate = self.duplicate(
            (date, subject, kind, title), line, "date, subject, kind and title"
        )
        if duplicate:
            return duplicate
        content_hash = _content_hash(
            (
                period.start,
                period.end,
                subject,
                kind,
                severity.strip(),
                title,
                citation,
                source,
                note,
            )
        )
        return [
            period.start, period.end, period.granularity, subject, kind, int(severity), title,
            citation or None,
            self.source(source), note or None, known_from if published else period.end,
            None,  # recorded_at (store.EVENT_RECORDED_AT)
            None,  # run_id (store.EVENT_RUN_ID)
            line, content_hash,
        ]  # fmt: skip
