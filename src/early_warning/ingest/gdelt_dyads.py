"""Daily GDELT dyad edge scores (`date,BLR_RUS,BLR_POL,...`), summed per ISO week.

Not GDELT's event exports (those are `gdelt.py`): a table already scored per day and
dyad, as gzemo/gdelt-graph-data publishes it, read through mappings/gdelt_edges.yaml.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IngestError
from ..periods import iso_week
from .cells import Rows, date_or_none
from .readers import Record, raw_csv_text
from .validate import OBSERVATION_COLUMNS, Problem

__all__ = ["looks_like_dyad_scores", "read_dyad_scores"]

_EDGE_HEADER = re.compile(rb"date,[A-Z]{3}_[A-Z]{3},")


def looks_like_dyad_scores(head: bytes) -> bool:
    """A header of `date` and `AAA_BBB` dyad columns."""
    return bool(_EDGE_HEADER.match(head.lstrip(b"\xef\xbb\xbf").lstrip()))


def read_dyad_scores(path: Path, rows: Rows) -> Iterator[Record]:
    """A daily series of dyad scores (`date,BLR_RUS,BLR_POL,...`) summed per ISO week.

    The layout of gzemo/gdelt-graph-data's daily Belarus row: for each day, the sum
    over the day's GDELT 2.0 events between the two countries of Goldstein + 0.025 x
    NumSources + 0.01 x NumArticles + 0.01 x AvgTone (../shared/real_data/README.md).
    Columns that are not `AAA_BBB` dyads (row sums, counts) are skipped. A week needs
    `min_days` days in the file; a day missing from the file is missing, not zero.
    """
    series = next(iter(rows.mapping.series.values()), None)
    if series is None:
        raise IngestError(f"{path}: mappings/gdelt_edges.yaml maps no series")
    min_days = int(rows.mapping.extra.get("gdelt", {}).get("min_days", 5))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(enumerate(csv.reader(handle), start=1))
    header = [h.strip() for h in table[0][1]]
    dyads = [
        (i, h.replace("_", "-"))
        for i, h in enumerate(header)
        if re.fullmatch(r"[A-Z]{3}_[A-Z]{3}", h)
    ]
    rows.skipped["columns that are not dyads"] += len(header) - 1 - len(dyads)
    dyads = [(i, subject) for i, subject in dyads if rows.keeps_dyad(subject)]
    weeks: dict[tuple[str, str], list[Any]] = {}
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
            entry = weeks.setdefault((subject, week), [0.0, 0, day, line])
            entry[0] += value
            entry[1] += 1
            entry[2] = max(entry[2], day)
            entry[3] = max(entry[3], line)

    def records() -> Iterator[Record]:
        yield from problems
        for (subject, week), (total, days, last, line) in sorted(weeks.items()):
            if days < min_days:
                rows.skipped[f"weeks with fewer than {min_days} days in the file"] += 1
                continue
            end = dt.date.fromisoformat(f"{week}-7")
            fields = dict.fromkeys(OBSERVATION_COLUMNS, "")
            fields.update(
                indicator=series.indicator, date=week, value=f"{total * series.scale:.10g}",
                subject=subject, source=rows.mapping.source, citation=series.citation,
                published=min(max(last, end), rows.today).isoformat(),
                reliability=rows.mapping.reliability, credibility=rows.mapping.credibility,
                unit=rows.units[series.indicator], note=f"sum of {days} daily scores",
            )  # fmt: skip
            yield line, list(fields.values()), None

    return records()
