"""Daily GDELT dyad edge scores (`date,BLR_RUS,BLR_POL,...`), summed per ISO week.

Not GDELT's event exports (those are `gdelt.py`): a table already scored per day and
dyad, as gzemo/gdelt-graph-data publishes it, read through mappings/gdelt_edges.yaml.
Each day's number is a net sum over the day's events (Goldstein plus a little of the
coverage: NumSources, NumArticles, tone), so a day of cooperation and conflict nets out
and news volume leaks in (docs/catalog.md, "The daily dyad scores"). Two weekly
statistics are read from it, one per series code of the mapping:

  * `net`: the sum of the week's daily scores (`gdelt_edge_score`; lower = more
    conflictual, but attention to cooperation swamps it);
  * `negative`: the sum of the week's negative daily scores, as a positive magnitude
    (`gdelt_edge_conflict`): only the days that netted to conflict, so that a week of
    talks does not cancel the day of an invasion.

Each is written for every dyad kept and for the subject as a whole (the sum over its
kept dyads, in weeks where every one of them has a value), as `gdelt.py` does.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CatalogError
from ..periods import iso_week
from .cells import Rows, date_or_none
from .mapping import Series
from .readers import Record, raw_csv_text
from .validate import OBSERVATION_COLUMNS, Problem

__all__ = ["STATISTICS", "looks_like_dyad_scores", "read_dyad_scores"]

_EDGE_HEADER = re.compile(rb"date,[A-Z]{3}_[A-Z]{3},")
_DYAD = re.compile(r"[A-Z]{3}_[A-Z]{3}")
STATISTICS = ("net", "negative")  # the series codes this layout knows


def looks_like_dyad_scores(head: bytes) -> bool:
    """A header of `date` and `AAA_BBB` dyad columns."""
    return bool(_EDGE_HEADER.match(head.lstrip(b"\xef\xbb\xbf").lstrip()))


@dataclass
class _Week:
    """One (subject, ISO week): the sums of its days in the file."""

    net: float = 0.0
    negative: float = 0.0  # the sum of min(0, day), kept as a magnitude >= 0
    days: int = 0
    negative_days: int = 0
    last: dt.date = dt.date.min
    line: int = 0
    dyads: int = 1  # a subject's total: how many dyads it adds up

    def add(self, value: float, day: dt.date, line: int) -> None:
        self.net += value
        if value < 0:
            self.negative -= value
            self.negative_days += 1
        self.days += 1
        self.last, self.line = max(self.last, day), max(self.line, line)

    def merge(self, other: _Week) -> None:
        self.net += other.net
        self.negative += other.negative
        self.days += other.days  # dyad-days
        self.negative_days += other.negative_days
        self.last, self.line = max(self.last, other.last), max(self.line, other.line)
        self.dyads += 1

    def value(self, statistic: str) -> float:
        return self.net if statistic == "net" else self.negative

    def note(self, statistic: str) -> str:
        of = f" of {self.dyads} dyads" if self.dyads > 1 else ""
        if statistic == "net":
            return f"sum of {self.days} daily scores{of}"
        return (
            f"{self.negative_days} of {self.days} daily scores{of} negative; "
            "their sum, as a magnitude"
        )


def _statistics(rows: Rows, path: Path) -> list[tuple[str, Series]]:
    """The mapping's series, each by its statistic; an unknown code is refused."""
    found = []
    for code, series in rows.mapping.series.items():
        if code not in STATISTICS:
            raise CatalogError(
                f"{rows.mapping.path}: field 'series.{code}': the daily dyad layout knows "
                f"the series {', '.join(STATISTICS)}"
            )
        found.append((code, series))
    if not found:
        raise CatalogError(f"{rows.mapping.path}: maps no series (reading {path})")
    return found


def read_dyad_scores(path: Path, rows: Rows) -> Iterator[Record]:
    """A daily series of dyad scores (`date,BLR_RUS,BLR_POL,...`) summed per ISO week.

    The layout of gzemo/gdelt-graph-data's daily Belarus row: for each day, the sum
    over the day's GDELT 2.0 events between the two countries of Goldstein + 0.025 x
    NumSources + 0.01 x NumArticles + 0.01 x AvgTone (../shared/real_data/README.md).
    Columns that are not `AAA_BBB` dyads (row sums, counts) are skipped. A week needs
    `min_days` days in the file; a day missing from the file is missing, not zero.
    """
    statistics = _statistics(rows, path)
    min_days = int(rows.mapping.extra.get("gdelt", {}).get("min_days", 5))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(enumerate(csv.reader(handle), start=1))
    header = [h.strip() for h in table[0][1]]
    dyads = [(i, h.replace("_", "-")) for i, h in enumerate(header) if _DYAD.fullmatch(h)]
    rows.skipped["columns that are not dyads"] += len(header) - 1 - len(dyads)
    dyads = [(i, subject) for i, subject in dyads if rows.keeps_dyad(subject)]
    weeks: dict[tuple[str, str], _Week] = {}
    problems: list[Record] = []
    for line, row in table[1:]:
        if not row:
            continue
        day = date_or_none(row[0])
        if day is None:
            problems.append(
                (line, Problem("date", f"{row[0][:20]!r} is not a date"), raw_csv_text(row))
            )
            continue
        week = iso_week(day)
        for index, subject in dyads:
            text = row[index].strip() if index < len(row) else ""
            try:
                value = float(text)
            except ValueError:
                name = header[index]
                problems.append(
                    (line, Problem(name, f"{text[:20]!r} is not a number"), raw_csv_text(row))
                )
                continue
            weeks.setdefault((subject, week), _Week()).add(value, day, line)
    full = _full_weeks(weeks, min_days, rows)
    full.update(_subject_totals(full, {subject for _, subject in dyads}))

    def records() -> Iterator[Record]:
        yield from problems
        for (subject, week), sums in sorted(full.items()):
            for statistic, series in statistics:
                yield sums.line, _fields(rows, series, subject, week, sums, statistic), None

    return records()


def _full_weeks(
    weeks: dict[tuple[str, str], _Week], min_days: int, rows: Rows
) -> dict[tuple[str, str], _Week]:
    """The weeks with at least `min_days` days; the others are counted as skipped."""
    full = {}
    for key, sums in weeks.items():
        if sums.days < min_days:
            rows.skipped[f"dyad-weeks with fewer than {min_days} days in the file"] += 1
        else:
            full[key] = sums
    return full


def _subject_totals(
    full: dict[tuple[str, str], _Week], dyads: set[str]
) -> dict[tuple[str, str], _Week]:
    """The subject as a whole (BLR for BLR-RUS, BLR-POL, ...): the sum over its dyads,
    in the weeks where every one of its dyads has a value (a partial sum would read as
    a quiet week)."""
    members: dict[str, set[str]] = {}
    for dyad in dyads:
        members.setdefault(dyad.split("-")[0], set()).add(dyad)
    totals: dict[tuple[str, str], _Week] = {}
    for subject, own in sorted(members.items()):
        for week in sorted({w for d, w in full if d in own}):
            parts = [full.get((dyad, week)) for dyad in sorted(own)]
            if any(part is None for part in parts):
                continue
            total = _Week(dyads=0)
            for part in parts:
                total.merge(part)  # type: ignore[arg-type]
            totals[(subject, week)] = total
    return totals


def _fields(
    rows: Rows, series: Series, subject: str, week: str, sums: _Week, statistic: str
) -> list[str]:
    end = dt.date.fromisoformat(f"{week}-7")
    fields = dict.fromkeys(OBSERVATION_COLUMNS, "")
    fields.update(
        indicator=series.indicator, date=week,
        value=f"{sums.value(statistic) * series.scale:.10g}", subject=subject,
        source=rows.mapping.source, citation=series.citation,
        published=min(max(sums.last, end), rows.today).isoformat(),
        reliability=rows.mapping.reliability, credibility=rows.mapping.credibility,
        unit=rows.units[series.indicator], note=sums.note(statistic),
    )  # fmt: skip
    return list(fields.values())
