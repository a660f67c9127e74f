"""The IMF's World Economic Outlook layouts.

  * the WEO DataMapper export (`.xls`, one series, countries by years);
  * the WEO release file (tab-separated text named `.xls`, one row per country and
    series, with "Estimates Start After").

Neither file carries its edition's date: it is read from the file's name, and years
from the edition's on are projections (kept for `projection_years`, graded with the
mapping's `projection_credibility`). Series codes become indicators through
mappings/imf_weo.yaml.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IngestError
from .cells import NO_VALUE, YEAR, Cell, Rows, date_or_none, emit, is_iso3
from .mapping import Countries
from .readers import Record, raw_csv_text

__all__ = ["looks_like_imf", "read_imf"]

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}


def looks_like_imf(head: bytes) -> bool:
    """An old-format Excel file (the only one read is the DataMapper export), or a WEO
    release file by its first column."""
    return head.startswith(b"\xd0\xcf\x11\xe0") or _decoded_head(head).startswith(
        "WEO Country Code"
    )


def read_imf(path: Path, rows: Rows, countries: Countries) -> Iterator[Record]:
    head = path.read_bytes()[:512]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return _imf_datamapper(path, rows, countries)
    if _decoded_head(head).startswith("WEO Country Code"):
        return _imf_weo_release(path, rows)
    raise IngestError(f"{path}: neither an IMF DataMapper export nor a WEO release file")


def _edition_date(path: Path) -> tuple[dt.date | None, str]:
    """The WEO edition a file belongs to, from its name (the files carry no date)."""
    name = path.name
    match = re.search(r"(20\d\d)(\d\d)(\d\d)", name)
    if match:
        day = date_or_none(f"{match[1]}-{match[2]}-{match[3]}")
        if day:
            return day, f"DataMapper export of {day.isoformat()}"
    match = re.search(r"WEO(Jan|Apr|Jul|Oct|Sep)(20\d\d)", name, re.IGNORECASE)
    if match:
        year, month = int(match[2]), _MONTHS[match[1].lower()[:3]]
        # Only the month is in the name: take its last day, so that no backtest knows
        # a figure before it could have been read (as in sources.yaml).
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
        return last, f"WEO {match[1].title()} {year}"
    return None, "WEO"


def _imf_datamapper(path: Path, rows: Rows, countries: Countries) -> Iterator[Record]:
    import xlrd

    edition, label = _edition_date(path)
    if edition is None:
        raise IngestError(
            f"{path}: cannot tell the export date; keep the DataMapper name "
            "imf-dm-export-YYYYMMDD.xls (projections are judged from it)"
        )
    try:
        # IMF exports are often flagged as damaged by xlrd's strict check, though the
        # data are intact (see the note in ../shared/real_data/README.md).
        book = xlrd.open_workbook(
            str(path), ignore_workbook_corruption=True, on_demand=True, logfile=io.StringIO()
        )
    except Exception as exc:  # xlrd raises many kinds on a foreign file
        raise IngestError(f"{path}: not a readable .xls workbook ({exc})") from None
    rows.closers.append(book.release_resources)
    sheet = book.sheet_by_index(0)
    code = sheet.name.strip()
    series = rows.mapping.series.get(code)
    if series is None:
        raise IngestError(
            f"{path}: series {code!r} (the sheet name) is not in mappings/imf_weo.yaml"
        )
    header = sheet.row_values(0)
    years = [(i, int(v)) for i, v in enumerate(header) if isinstance(v, float) and i > 0]
    if not years:
        raise IngestError(f"{path}: no year columns in the first row")

    def records() -> Iterator[Record]:
        for r in range(1, sheet.nrows):
            row = sheet.row_values(r)
            name = str(row[0]).strip()
            if not name or name.startswith("©") or all(v == "" for v in row[1:]):
                continue
            subject = countries.code(name)
            if not rows.keeps(subject, name):
                continue
            raw = raw_csv_text([str(v) for v in row])
            for index, year in years:
                value = row[index] if index < len(row) else ""
                projection = year >= edition.year
                if _xls_text(value).strip().lower() not in NO_VALUE and rows.too_far_ahead(
                    year, edition
                ):
                    continue
                cell = Cell(
                    series, str(subject), year, _xls_text(value), edition,
                    _imf_note(label, projection, assumed=True), projection,
                )  # fmt: skip
                yield from emit(r + 1, rows, cell, raw)
        book.release_resources()

    return records()


def _imf_note(label: str, projection: bool, *, assumed: bool) -> str:
    if not projection:
        return f"IMF {label}"
    how = " (years from the export year on are taken as projections)" if assumed else ""
    return f"projection: IMF {label}{how}"


def _xls_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _imf_weo_release(path: Path, rows: Rows) -> Iterator[Record]:
    edition, label = _edition_date(path)
    text = _read_weo_text(path)
    lines = text.splitlines()
    header = lines[0].split("\t")
    try:
        iso_at, code_at = header.index("ISO"), header.index("WEO Subject Code")
    except ValueError:
        raise IngestError(f"{path}: the header lacks 'ISO' or 'WEO Subject Code'") from None
    estimates_at = (
        header.index("Estimates Start After") if "Estimates Start After" in header else -1
    )
    years = [(i, int(h)) for i, h in enumerate(header) if YEAR.fullmatch(h.strip())]

    def records() -> Iterator[Record]:
        for number, line in enumerate(lines[1:], start=2):
            row = line.split("\t")
            if len(row) < len(header) // 2:
                continue  # the release ends with an "International Monetary Fund, ..." line
            series = rows.mapping.series.get(row[code_at].strip())
            if series is None:
                rows.skipped["series not in mappings/imf_weo.yaml"] += 1
                continue
            subject = row[iso_at].strip()
            if not rows.keeps(subject if is_iso3(subject) else None, subject):
                continue
            after = row[estimates_at].strip() if 0 <= estimates_at < len(row) else ""
            last_actual = int(after) if after.isdigit() else None
            raw = raw_csv_text(row)
            for index, year in years:
                value = row[index] if index < len(row) else ""
                projection = edition is not None and year >= edition.year
                if value.strip().lower() not in NO_VALUE and rows.too_far_ahead(year, edition):
                    continue
                estimate = last_actual is not None and year > last_actual
                note = _imf_note(label, projection, assumed=False)
                if estimate and not projection:
                    note = f"IMF staff estimate: {note}"
                cell = Cell(series, subject, year, value, edition, note, projection)
                yield from emit(number, rows, cell, raw)

    return records()


def _read_weo_text(path: Path) -> str:
    """WEO release files have been UTF-16, UTF-8 and Windows-1252 over the years."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _decoded_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore")
    return head.lstrip(b"\xef\xbb\xbf").decode("latin-1")
