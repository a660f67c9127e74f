"""The World Bank's layouts: World Development Indicators as published.

  * the WDI bulk CSV (4 lines of preamble, years as columns);
  * the long `Country Name,Country Code,Year,Value` layout of data packages;
  * the API's JSON (`[{page, pages, ...}, [{indicator, countryiso3code, date, value}, ...]]`),
    a page or all of them (a URL's ingest fetches the rest: `fetch_remaining_pages`).

Series codes become indicators through mappings/worldbank.yaml; the cells become rows
through `cells.Rows`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import FetchError, IngestError
from .cells import YEAR, Cell, Rows, date_or_none, emit, is_iso3
from .fetch import Fetcher, fetch_bytes
from .mapping import Series
from .readers import Record, raw_csv_text
from .results import Limits
from .validate import Problem

__all__ = [
    "WB_LONG_HEADER",
    "fetch_remaining_pages",
    "looks_like_worldbank",
    "read_worldbank",
    "worldbank_page_count",
]

WB_LONG_HEADER = ["Country Name", "Country Code", "Year", "Value"]


def looks_like_worldbank(path: Path, head: bytes) -> bool:
    """A WDI CSV (bulk or long) or an API answer; a WDI metadata file is refused."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b'"Data Source"') or text.startswith(b"Data Source,"):
        return True
    if text.startswith((b'"Country Code","Region"', b'"INDICATOR_CODE","INDICATOR_NAME"')):
        raise IngestError(
            f"{path}: a World Bank metadata file (regions and income groups, or series "
            "notes) that comes with the data file; nothing to ingest"
        )
    first = text.split(b"\n", 1)[0].decode("utf-8", "replace").strip().replace('"', "")
    if first.split(",") == WB_LONG_HEADER:
        return True
    return text.startswith(b"[") and bool(re.match(rb'\[\s*\{\s*"(page|message)"', text))


def read_worldbank(path: Path, rows: Rows) -> Iterator[Record]:
    head = path.read_bytes()[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        return _worldbank_json(path, rows)
    return _worldbank_csv(path, rows)


def _wb_series(rows: Rows, code: str) -> Series | None:
    series = rows.mapping.series.get(code)
    if series is None:
        rows.skipped[f"series {code[:40]} not in mappings/worldbank.yaml"] += 1
    return series


def _worldbank_csv(path: Path, rows: Rows) -> Iterator[Record]:
    handle = path.open(encoding="utf-8-sig", newline="")
    rows.closers.append(handle.close)
    reader = csv.reader(handle)
    updated: dt.date | None = None
    header: list[str] | None = None
    for line_row in reader:
        cells = [c.strip() for c in line_row]
        if cells[:1] == ["Last Updated Date"] and len(cells) > 1:
            updated = date_or_none(cells[1])
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
        if name and not YEAR.fullmatch(name):
            handle.close()
            raise IngestError(f"{path}: header column {position} ({name[:20]!r}) is not a year")
    return _wb_wide(path, handle, reader, rows, header, updated)


def _wb_long(
    path: Path, handle: Any, reader: Any, rows: Rows, series: Series, updated: dt.date | None
) -> Iterator[Record]:
    with handle:
        for cells in _csv_rows(path, reader):
            line, row = cells
            if len(row) != 4:
                yield line, Problem("row", f"{len(row)} fields but the header has 4"), None
                continue
            _, code, year, value = (c.strip() for c in row)
            if not rows.keeps(code if is_iso3(code) else None, code):
                continue
            if not YEAR.fullmatch(year):
                yield line, Problem("Year", f"{year[:20]!r} is not a year"), raw_csv_text(row)
                continue
            cell = Cell(series, code, int(year), value, file_date=updated)
            yield from emit(line, rows, cell, raw_csv_text(row))


def _wb_wide(
    path: Path, handle: Any, reader: Any, rows: Rows, header: list[str], updated: dt.date | None
) -> Iterator[Record]:
    years = [(i, int(h)) for i, h in enumerate(header) if YEAR.fullmatch(h) and i >= 4]
    with handle:
        for line, row in _csv_rows(path, reader):
            if len(row) < 4:
                yield line, Problem("row", f"{len(row)} fields; expected at least 4"), None
                continue
            code, series_code = row[1].strip(), row[3].strip()
            if not rows.keeps(code if is_iso3(code) else None, code):
                continue
            series = _wb_series(rows, series_code)
            if series is None:
                continue
            raw = raw_csv_text(row)
            for index, year in years:
                text = row[index] if index < len(row) else ""
                cell = Cell(series, code, year, text, file_date=updated)
                yield from emit(line, rows, cell, raw)


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


def _worldbank_json(path: Path, rows: Rows) -> Iterator[Record]:
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
        updated = date_or_none(str(meta.get("lastupdated", ""))) or updated
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
                if not rows.keeps(code if is_iso3(code) else None, code):
                    continue
                series = _wb_series(rows, str(item["indicator"]["id"]))
                if series is None:
                    continue
                value = item.get("value")
                text = "" if value is None else str(value)
                cell = Cell(series, code, int(item["date"]), text, file_date=updated)
                yield from emit(number, rows, cell, raw)

    return records()


def _wb_json_problem(item: Any) -> Problem | None:
    if not isinstance(item, dict):
        return Problem("row", f"expected an object, got {type(item).__name__}")
    indicator = item.get("indicator")
    if not isinstance(indicator, dict) or not isinstance(indicator.get("id"), str):
        return Problem("indicator", "missing indicator.id")
    date = str(item.get("date", ""))
    if not YEAR.fullmatch(date):
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


def fetch_remaining_pages(
    path: Path, url: str, limits: Limits, fetcher: Fetcher | None = None
) -> None:
    """A World Bank API answer split into pages: fetch the rest and append them.

    The API pages its answers (50 rows by default). The pages are fetched by setting
    `page=` in the same URL and joined into one file, so the file hash and the run
    cover the whole answer.
    """
    page, pages = worldbank_page_count(path)
    if pages <= 1 or page != 1:
        return
    if pages > 1000:
        raise FetchError(f"{url}: the answer claims {pages:,} pages; ask for per_page=20000")
    combined = json.loads(path.read_text(encoding="utf-8-sig"))
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "page"]
    for number in range(2, pages + 1):
        page_url = parts._replace(query=urllib.parse.urlencode([*query, ("page", str(number))]))
        body = fetch_bytes(urllib.parse.urlunsplit(page_url), limits, fetcher)
        try:
            data = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            data = None
        if not isinstance(data, list) or len(data) != 2:
            raise FetchError(f"{url}: page {number} is not a World Bank API answer")
        combined += data
    path.write_text(json.dumps(combined), encoding="utf-8")
