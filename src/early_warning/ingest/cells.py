"""Published cells into canonical observation rows: what every publisher's reader shares.

A reader of a published layout (`worldbank`, `imf`, `sipri`, `gdelt_dyads`) finds the
cells of its file; `Rows` turns each `Cell` into canonical fields (the same `(line,
fields, raw)` the CSV reader yields, in `OBSERVATION_COLUMNS` order), so the rows go
through exactly the validation, rejects and provenance of any other file. What becomes
which indicator, with which grades and citation, is read from the data set's mapping
file (`mapping.py`).

A cell without a value (`..`, `...`, `xxx`, `n/a`, `no data`, empty) is not a row: it
is counted in `Table.skipped` with the reason, as are countries outside the mapping's
subjects and projections for years that have not begun. Text where a number should be
is a reject naming the line and the column.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog
from ..numbers import format_number, format_range
from .mapping import Mapping, Series
from .readers import Record
from .validate import Problem

__all__ = ["NO_VALUE", "YEAR", "Cell", "Rows", "date_or_none", "emit", "is_iso3"]

# Dot-decimal ASCII, as for canonical rows: "57,2", "1,693,000", "1_000" and full-width
# digits are rejects, never guessed at.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)

NO_VALUE = {"", "..", "...", ". .", "xxx", "n/a", "na", "no data", "--", "-"}
YEAR = re.compile(r"(1[89]|20)\d\d")


@dataclass
class Cell:
    """One published value with what is known about it."""

    series: Series
    subject: str
    year: int
    text: str
    published: dt.date | None = None
    note: str = ""
    projection: bool = False
    file_date: dt.date | None = None  # the file's own date: known by then at the latest


class Rows:
    """Turns published cells into canonical fields, counting what is skipped and why."""

    def __init__(
        self,
        mapping: Mapping,
        catalog: Catalog,
        today: dt.date,
        known: dict[tuple[str, str, str], set[float]],
    ) -> None:
        self.mapping = mapping
        self.units = {ind.id: ind.unit for ind in catalog}
        self.ranges = {ind.id: ind.value_range for ind in catalog}
        self.today = today
        self.known = known
        # A mapping that lists no subjects keeps the theatres' dyads (every dyad when
        # the catalog has no theatres).
        self.dyads = {d for t in catalog.theatres for d in t.dyads} or None
        self._revision_note = ""
        self.skipped: Counter[str] = Counter()
        self.closers: list[Any] = []  # what to close if the records are never read

    def close(self) -> None:
        for close in self.closers:
            close()

    def keeps_dyad(self, dyad: str) -> bool:
        if self.mapping.subjects is not None:
            kept, among = dyad.split("-")[1] in self.mapping.subjects, "the mapping's subjects"
        else:
            kept, among = self.dyads is None or dyad in self.dyads, "the theatres' dyads"
        if kept:
            return True
        self.skipped[f"dyad columns not among {among}"] += 1
        return False

    def keeps(self, subject: str | None, name: str) -> bool:
        if subject is None:
            if self.mapping.subjects is None:
                self.skipped[f"rows of a country not in mappings/countries.csv ({name[:40]})"] += 1
            else:
                self.skipped["rows of countries not among the mapping's subjects"] += 1
            return False
        if not self.mapping.keeps(subject):
            self.skipped["rows of countries not among the mapping's subjects"] += 1
            return False
        return True

    def too_far_ahead(self, year: int, edition: dt.date | None) -> bool:
        """A projection beyond the years the mapping keeps (default: the edition's own).

        An old edition's projection for a later year is a forecast made years before;
        scored as the year's value it would pass for current data.
        """
        keep = int(self.mapping.extra.get("projection_years", 1))
        if edition is not None and year >= edition.year + keep:
            self.skipped["projections beyond the years kept (projection_years)"] += 1
            return True
        return False

    def fields(self, cell: Cell) -> list[str] | Problem | None:
        text = cell.text.strip()
        if text.lower() in NO_VALUE:
            self.skipped["cells without a value"] += 1
            return None
        if cell.year > self.today.year:
            self.skipped["projections for a year not begun (forecasts are not observations)"] += 1
            return None
        if not _NUMBER.fullmatch(text):
            return Problem(str(cell.year), f"{text[:40]!r} is not a dot-decimal number")
        number = float(text)
        value = number * cell.series.scale
        low, high = self.ranges[cell.series.indicator]
        if not math.isfinite(value) or not low <= value <= high:
            unit = self.units[cell.series.indicator]
            return Problem(
                str(cell.year),
                f"{text[:40]} ({format_number(value, unit, digits=10)}) is outside "
                f"the catalog range {format_range(low, high, digits=10)}",
            )
        earlier = self.known.get((cell.series.indicator, cell.subject, str(cell.year)))
        if (
            cell.published is None
            and earlier
            and any(math.isclose(value, v, rel_tol=1e-9) for v in earlier)
        ):
            # The same value again (another layout, a later download): already known,
            # from its first release; a second row would only move that date.
            self.skipped["values already stored from this source"] += 1
            return None
        published = self._published(cell, value)
        grade = self.mapping.projection_credibility if cell.projection else self.mapping.credibility
        note = "; ".join(n for n in (cell.note, cell.series.note, self._revision_note) if n)
        return [
            cell.series.indicator, str(cell.year), f"{value:.10g}", cell.subject,
            self.mapping.source, cell.series.citation, published, self.mapping.reliability,
            grade, self.units[cell.series.indicator], note,
        ]  # fmt: skip

    def _published(self, cell: Cell, value: float) -> str:
        """When the value became known: the file's date, else the mapping's declared lag.

        The lag stands for a first release only. A value that differs from one already
        stored from this source for the same period is a revision: it counts as known
        from the file's date (or today, if the file has none), so that an answer "as
        known on D" never changes after the fact. Never before the year begins (a
        projection made earlier is known "by then" at the latest), never after today.
        """
        start = dt.date(cell.year, 1, 1)
        self._revision_note = ""
        earlier = self.known.get((cell.series.indicator, cell.subject, str(cell.year)))
        if cell.published is not None:
            known = cell.published
        elif earlier and not any(math.isclose(value, v, rel_tol=1e-9) for v in earlier):
            known = cell.file_date or self.today
            self._revision_note = "revision of an earlier release; known from this file"
        else:
            known = _add_months(dt.date(cell.year, 12, 31), self.mapping.published_lag_months)
            if cell.file_date is not None:
                known = min(known, cell.file_date)
        return min(max(known, start), self.today).isoformat()


def _add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def emit(line: int, rows: Rows, cell: Cell, raw: str) -> Iterator[Record]:
    fields = rows.fields(cell)
    if fields is not None:
        yield line, fields, raw


def is_iso3(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def date_or_none(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None
