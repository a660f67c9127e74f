"""The SIPRI Military Expenditure Database workbook (one sheet per measure).

The sheets read, and the indicator each becomes, are those named in mappings/sipri.yaml;
countries are named as SIPRI spells them (mappings/countries.csv).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import IngestError
from .cells import Cell, Rows, emit
from .mapping import Countries, Series
from .readers import Record, raw_csv_text

__all__ = ["looks_like_sipri", "read_sipri"]


def looks_like_sipri(path: Path, head: bytes) -> bool:
    """An XLSX workbook with SIPRI's "Share of GDP" and "Current US$" sheets."""
    return head.startswith(b"PK\x03\x04") and _is_sipri_workbook(path)


def read_sipri(path: Path, rows: Rows, countries: Countries) -> Iterator[Record]:
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


def _sipri_sheet(sheet: Any, rows: Rows, series: Series, countries: Countries) -> Iterator[Record]:
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
            cell = Cell(series, str(subject), year, text, note=f"SIPRI sheet {sheet.title!r}")
            yield from emit(number, rows, cell, raw)


def _year_columns(cells: Iterable[Any]) -> list[tuple[int, int]]:
    """The (column, year) pairs of a header row: at least five year numbers."""
    found = [
        (i, int(v))
        for i, v in enumerate(cells)
        if isinstance(v, int | float) and not isinstance(v, bool) and 1900 <= v <= 2100
    ]
    return found if len(found) >= 5 else []


def _is_sipri_workbook(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            workbook = archive.read("xl/workbook.xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        return False
    return b'name="Share of GDP"' in workbook and b"Current US$" in workbook
