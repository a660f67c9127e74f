"""Readers for data sets in the layouts their publishers use.

Each reader turns a published file into canonical observation records (the same
`(line, fields, raw)` the CSV reader yields, in `OBSERVATION_COLUMNS` order), so the
rows go through exactly the validation, rejects and provenance of any other file. What
becomes which indicator, with which grades and citation, is read from the mapping file
of the data set (`mappings.py`).

Layouts:
  * `worldbank`: the WDI bulk CSV (4 lines of preamble, years as columns), the long
    `Country Name,Country Code,Year,Value` layout of data packages, and the API's JSON
    (`[{page, pages, ...}, [{indicator, countryiso3code, date, value}, ...]]`);
  * `imf`: the WEO DataMapper export (`.xls`, one series, countries by years) and the
    WEO release file (tab-separated text named `.xls`, one row per country and series,
    with "Estimates Start After");
  * `sipri`: the SIPRI Military Expenditure Database workbook (one sheet per measure).

A cell without a value (`..`, `...`, `xxx`, `n/a`, `no data`, empty) is not a row: it
is counted in `Table.skipped` with the reason, as are countries outside the mapping's
subjects and projections for years that have not begun. Text where a number should be
is a reject naming the line and the column.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import IngestError
from ..numbers import format_number, format_range
from ..periods import iso_week
from .mapping import Countries, Mapping, Series, load_countries, load_mapping
from .readers import Record, Table, raw_csv_text
from .validate import OBSERVATION_COLUMNS, Problem

__all__ = ["PUBLISHED_FORMATS", "read_published", "sniff_published"]

PUBLISHED_FORMATS = ("worldbank", "imf", "sipri", "gdelt-edges")
MAPPING_FOR_FORMAT = {
    "worldbank": "worldbank",
    "imf": "imf_weo",
    "sipri": "sipri",
    "gdelt-edges": "gdelt_edges",
}
_EDGE_HEADER = re.compile(rb"date,[A-Z]{3}_[A-Z]{3},")
# Dot-decimal ASCII, as for canonical rows: "57,2", "1,693,000", "1_000" and full-width
# digits are rejects, never guessed at.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)

_NO_VALUE = {"", "..", "...", ". .", "xxx", "n/a", "na", "no data", "--", "-"}
_YEAR = re.compile(r"(1[89]|20)\d\d")
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
WB_LONG_HEADER = ["Country Name", "Country Code", "Year", "Value"]


def sniff_published(path: Path, head: bytes) -> str | None:
    """Which published layout the first bytes show, if any."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "imf"  # an old-format Excel file: the only one read is the DataMapper export
    if _decoded_head(head).startswith("WEO Country Code"):
        return "imf"
    if text.startswith(b'"Data Source"') or text.startswith(b"Data Source,"):
        return "worldbank"
    if text.startswith((b'"Country Code","Region"', b'"INDICATOR_CODE","INDICATOR_NAME"')):
        raise IngestError(
            f"{path}: a World Bank metadata file (regions and income groups, or series "
            "notes) that comes with the data file; nothing to ingest"
        )
    first = text.split(b"\n", 1)[0].decode("utf-8", "replace").strip().replace('"', "")
    if first.split(",") == WB_LONG_HEADER:
        return "worldbank"
    if text.startswith(b"[") and re.match(rb'\[\s*\{\s*"(page|message)"', text):
        return "worldbank"
    if head.startswith(b"PK\x03\x04") and _is_sipri_workbook(path):
        return "sipri"
    if _EDGE_HEADER.match(text):
        return "gdelt-edges"
    return None


def _decoded_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore")
    return head.lstrip(b"\xef\xbb\xbf").decode("latin-1")


def _is_sipri_workbook(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            workbook = archive.read("xl/workbook.xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        return False
    return b'name="Share of GDP"' in workbook and b"Current US$" in workbook


def read_published(
    path: Path,
    fmt: str,
    catalog: Catalog,
    today: dt.date,
    known: Callable[[str, list[str]], dict[tuple[str, str, str], set[float]]] | None = None,
) -> Table:
    """Open a published file as canonical observation records.

    `known(source, indicators)` gives the values already stored from the mapping's
    source, by (indicator, subject, period): a value that differs from them is a
    revision and counts as known from the file's date, or today, never from the lag
    date of the first release.
    """
    mapping = load_mapping(catalog, MAPPING_FOR_FORMAT[fmt])
    indicators = sorted({s.indicator for s in mapping.series.values()})
    rows = _Rows(mapping, catalog, today, known(mapping.source, indicators) if known else {})
    if fmt == "worldbank":
        records = _worldbank(path, rows)
    elif fmt == "imf":
        records = _imf(path, rows, load_countries(catalog))
    elif fmt == "sipri":
        records = _sipri(path, rows, load_countries(catalog))
    elif fmt == "gdelt-edges":
        records = _gdelt_edges(path, rows)
    else:
        raise IngestError(f"{path}: unknown published format {fmt!r}")
    table = Table("observations", OBSERVATION_COLUMNS, records, rows.close)
    table.skipped = rows.skipped
    table.mapping_digest = mapping.digest
    return table


# -- building canonical rows ---------------------------------------------------------


@dataclass
class _Cell:
    """One published value with what is known about it."""

    series: Series
    subject: str
    year: int
    text: str
    published: dt.date | None = None
    note: str = ""
    projection: bool = False
    file_date: dt.date | None = None  # the file's own date: known by then at the latest


class _Rows:
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
        self._revision_note = ""
        self.skipped: Counter[str] = Counter()
        self.closers: list[Any] = []  # what to close if the records are never read

    def close(self) -> None:
        for close in self.closers:
            close()

    def keeps_dyad(self, dyad: str) -> bool:
        if self.mapping.subjects is None or dyad.split("-")[1] in self.mapping.subjects:
            return True
        self.skipped["dyad columns not among the mapping's subjects"] += 1
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

    def fields(self, cell: _Cell) -> list[str] | Problem | None:
        text = cell.text.strip()
        if text.lower() in _NO_VALUE:
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
        unit = self.units[cell.series.indicator]
        if not math.isfinite(value) or not low <= value <= high:
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

    def _published(self, cell: _Cell, value: float) -> str:
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


def _emit(line: int, rows: _Rows, cell: _Cell, raw: str) -> Iterator[Record]:
    fields = rows.fields(cell)
    if fields is not None:
        yield line, fields, raw


# -- World Bank ----------------------------------------------------------------------


def _worldbank(path: Path, rows: _Rows) -> Iterator[Record]:
    head = path.read_bytes()[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        return _worldbank_json(path, rows)
    return _worldbank_csv(path, rows)


def _wb_series(rows: _Rows, code: str) -> Series | None:
    series = rows.mapping.series.get(code)
    if series is None:
        rows.skipped[f"series {code[:40]} not in mappings/worldbank.yaml"] += 1
    return series


def _worldbank_csv(path: Path, rows: _Rows) -> Iterator[Record]:
    handle = path.open(encoding="utf-8-sig", newline="")
    rows.closers.append(handle.close)
    reader = csv.reader(handle)
    updated: dt.date | None = None
    header: list[str] | None = None
    for line_row in reader:
        cells = [c.strip() for c in line_row]
        if cells[:1] == ["Last Updated Date"] and len(cells) > 1:
            updated = _date_or_none(cells[1])
        if cells[:2] == ["Country Name", "Country Code"]:
            header = cells
            break
    if header is None:
        handle.close()
        raise IngestError(f"{path}: no 'Country Name,Country Code,...' header row")
    if header[:4] == WB_LONG_HEADER:
        code = rows.mapping.long_layout_series
        if not code:
            handle.close()
            raise IngestError(
                f"{path}: a long Country Name,Country Code,Year,Value file does not say its "
                "series; set long_layout_series in mappings/worldbank.yaml"
            )
        return _wb_long(path, handle, reader, rows, rows.mapping.series[code], updated)
    if header[2:4] != ["Indicator Name", "Indicator Code"]:
        handle.close()
        raise IngestError(f"{path}: expected 'Indicator Name,Indicator Code' in columns 3-4")
    for position, name in enumerate(header[4:], start=5):
        if name and not _YEAR.fullmatch(name):
            handle.close()
            raise IngestError(f"{path}: header column {position} ({name[:20]!r}) is not a year")
    return _wb_wide(path, handle, reader, rows, header, updated)


def _wb_long(
    path: Path, handle: Any, reader: Any, rows: _Rows, series: Series, updated: dt.date | None
) -> Iterator[Record]:
    with handle:
        for cells in _csv_rows(path, reader):
            line, row = cells
            if len(row) != 4:
                yield line, Problem("row", f"{len(row)} fields but the header has 4"), None
                continue
            _, code, year, value = (c.strip() for c in row)
            if not rows.keeps(code if _is_iso3(code) else None, code):
                continue
            if not _YEAR.fullmatch(year):
                yield line, Problem("Year", f"{year[:20]!r} is not a year"), raw_csv_text(row)
                continue
            cell = _Cell(series, code, int(year), value, file_date=updated)
            yield from _emit(line, rows, cell, raw_csv_text(row))


def _wb_wide(
    path: Path, handle: Any, reader: Any, rows: _Rows, header: list[str], updated: dt.date | None
) -> Iterator[Record]:
    years = [(i, int(h)) for i, h in enumerate(header) if _YEAR.fullmatch(h) and i >= 4]
    with handle:
        for line, row in _csv_rows(path, reader):
            if len(row) < 4:
                yield line, Problem("row", f"{len(row)} fields; expected at least 4"), None
                continue
            code, series_code = row[1].strip(), row[3].strip()
            if not rows.keeps(code if _is_iso3(code) else None, code):
                continue
            series = _wb_series(rows, series_code)
            if series is None:
                continue
            raw = raw_csv_text(row)
            for index, year in years:
                text = row[index] if index < len(row) else ""
                cell = _Cell(series, code, year, text, file_date=updated)
                yield from _emit(line, rows, cell, raw)


def _csv_rows(path: Path, reader: Any) -> Iterator[tuple[int, list[str]]]:
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise IngestError(f"{path}: not UTF-8 text near line {start} ({exc.reason})") from None
        except csv.Error as exc:
            raise IngestError(f"{path}: line {start}: malformed CSV ({exc})") from None
        if row and any(c.strip() for c in row):
            yield start, row


def _worldbank_json(path: Path, rows: _Rows) -> Iterator[Record]:
    data = _load_json(path)
    pages = data if _is_paged_list(data) else None
    if pages is None:
        if data and isinstance(data[0], dict) and "message" in data[0]:
            message = json.dumps(data[0]["message"])[:160]
            raise IngestError(f"{path}: the World Bank API answered with an error: {message}")
        raise IngestError(
            f"{path}: expected the World Bank API layout [{{page, pages, ...}}, [records]]"
        )
    updated = None
    for meta in pages[0::2]:
        updated = _date_or_none(str(meta.get("lastupdated", ""))) or updated
    present = {int(m.get("page", 1)) for m in pages[0::2] if str(m.get("page", "")).isdigit()}
    total = max((int(m.get("pages", 1)) for m in pages[0::2] if str(m.get("pages", "")).isdigit()),
                default=1)  # fmt: skip
    if len(present) < total:
        # A saved page of a longer answer: read what is here, and say what is not.
        rows.skipped[f"pages of the API answer not in the file (of {total}; ingest the URL)"] += (
            total - len(present)
        )

    def records() -> Iterator[Record]:
        number = 0
        for block in pages[1::2]:
            for item in block or []:
                number += 1
                raw = json.dumps(item, ensure_ascii=False)
                problem = _wb_json_problem(item)
                if problem:
                    yield number, problem, raw
                    continue
                code = str(item.get("countryiso3code") or "")
                if not rows.keeps(code if _is_iso3(code) else None, code):
                    continue
                series = _wb_series(rows, str(item["indicator"]["id"]))
                if series is None:
                    continue
                value = item.get("value")
                text = "" if value is None else str(value)
                cell = _Cell(series, code, int(item["date"]), text, file_date=updated)
                yield from _emit(number, rows, cell, raw)

    return records()


def _wb_json_problem(item: Any) -> Problem | None:
    if not isinstance(item, dict):
        return Problem("row", f"expected an object, got {type(item).__name__}")
    indicator = item.get("indicator")
    if not isinstance(indicator, dict) or not isinstance(indicator.get("id"), str):
        return Problem("indicator", "missing indicator.id")
    date = str(item.get("date", ""))
    if not _YEAR.fullmatch(date):
        return Problem("date", f"{date[:20]!r} is not a year (only annual series are read)")
    value = item.get("value")
    if value is not None and not isinstance(value, int | float | str):
        return Problem("value", "must be a number")
    return None


def _is_paged_list(data: Any) -> bool:
    return (
        isinstance(data, list)
        and len(data) >= 2
        and len(data) % 2 == 0
        and all(isinstance(m, dict) and "page" in m for m in data[0::2])
        and all(isinstance(b, list) or b is None for b in data[1::2])
    )


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    except RecursionError:
        raise IngestError(f"{path}: JSON nested too deeply") from None


def _is_iso3(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def _date_or_none(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def worldbank_page_count(path: Path) -> tuple[int, int]:
    """(page, pages) of a World Bank API answer, or (1, 1) if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return 1, 1
    if not _is_paged_list(data):
        return 1, 1
    meta = data[0]
    try:
        return int(meta.get("page", 1)), int(meta.get("pages", 1))
    except (TypeError, ValueError):
        return 1, 1


# -- IMF World Economic Outlook ------------------------------------------------------


def _imf(path: Path, rows: _Rows, countries: Countries) -> Iterator[Record]:
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
        day = _date_or_none(f"{match[1]}-{match[2]}-{match[3]}")
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


def _imf_datamapper(path: Path, rows: _Rows, countries: Countries) -> Iterator[Record]:
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
                if _xls_text(value).strip().lower() not in _NO_VALUE and rows.too_far_ahead(
                    year, edition
                ):
                    continue
                cell = _Cell(
                    series, str(subject), year, _xls_text(value), edition,
                    _imf_note(label, projection, assumed=True), projection,
                )  # fmt: skip
                yield from _emit(r + 1, rows, cell, raw)
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


def _imf_weo_release(path: Path, rows: _Rows) -> Iterator[Record]:
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
    years = [(i, int(h)) for i, h in enumerate(header) if _YEAR.fullmatch(h.strip())]

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
            if not rows.keeps(subject if _is_iso3(subject) else None, subject):
                continue
            after = row[estimates_at].strip() if 0 <= estimates_at < len(row) else ""
            last_actual = int(after) if after.isdigit() else None
            raw = raw_csv_text(row)
            for index, year in years:
                value = row[index] if index < len(row) else ""
                projection = edition is not None and year >= edition.year
                if value.strip().lower() not in _NO_VALUE and rows.too_far_ahead(year, edition):
                    continue
                estimate = last_actual is not None and year > last_actual
                note = _imf_note(label, projection, assumed=False)
                if estimate and not projection:
                    note = f"IMF staff estimate: {note}"
                cell = _Cell(series, subject, year, value, edition, note, projection)
                yield from _emit(number, rows, cell, raw)

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


# -- SIPRI ---------------------------------------------------------------------------


def _sipri(path: Path, rows: _Rows, countries: Countries) -> Iterator[Record]:
    import openpyxl

    handle = path.open("rb")
    try:
        with warnings.catch_warnings():
            # SIPRI's workbook has no default style; openpyxl warns and carries on.
            warnings.filterwarnings("ignore", "Workbook contains no default style")
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign file raises many kinds here
        handle.close()
        raise IngestError(f"{path}: not a readable XLSX workbook ({exc})") from None
    rows.closers += [book.close, handle.close]
    wanted = [name for name in rows.mapping.series if name in book.sheetnames]
    if not wanted:
        book.close()
        handle.close()
        raise IngestError(
            f"{path}: none of the sheets in mappings/sipri.yaml "
            f"({', '.join(rows.mapping.series)}) is in the workbook"
        )

    def records() -> Iterator[Record]:
        try:
            for name in wanted:
                yield from _sipri_sheet(book[name], rows, rows.mapping.series[name], countries)
        finally:
            book.close()
            handle.close()

    return records()


def _sipri_sheet(sheet: Any, rows: _Rows, series: Series, countries: Countries) -> Iterator[Record]:
    years: list[tuple[int, int]] = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = list(row)
        if not years:
            years = _year_columns(cells)
            continue
        name = str(cells[0] or "").strip()
        values = [cells[i] if i < len(cells) else None for i, _ in years]
        if not name or all(v is None or v == "" for v in values):
            continue  # region headings and blank lines
        subject = countries.code(name)
        if not rows.keeps(subject, name):
            continue
        raw = f"{sheet.title}: " + raw_csv_text(["" if c is None else str(c) for c in cells])
        for (_, year), value in zip(years, values, strict=True):
            text = (
                "" if value is None else (repr(value) if isinstance(value, float) else str(value))
            )
            cell = _Cell(series, str(subject), year, text, note=f"SIPRI sheet {sheet.title!r}")
            yield from _emit(number, rows, cell, raw)


def _year_columns(cells: Iterable[Any]) -> list[tuple[int, int]]:
    """The (column, year) pairs of a header row: at least five year numbers."""
    found = [
        (i, int(v))
        for i, v in enumerate(cells)
        if isinstance(v, int | float) and not isinstance(v, bool) and 1900 <= v <= 2100
    ]
    return found if len(found) >= 5 else []


# -- daily GDELT dyad edge scores ------------------------------------------------------


def _gdelt_edges(path: Path, rows: _Rows) -> Iterator[Record]:
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
        day = _date_or_none(row[0])
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
