"""Readers: turn a file (CSV, XLSX, JSON, NDJSON) into rows of text fields.

Every reader yields `(line, fields, raw)` where `fields` are in the canonical column
order of the file's kind (observations or events), missing optional columns are empty
text, and `raw` is the record as it stood in the file (None for CSV, where it is rebuilt
from the fields only when the row is rejected). A record a reader cannot map (a JSON
object with an unknown key, say) comes as a `Problem` instead of fields.

A file whose structure is wrong as a whole (no header, unknown or missing columns, not
UTF-8, not a workbook) raises `IngestError` with one line naming the file.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IngestError
from .validate import (
    EVENT_COLUMNS,
    EVENT_REQUIRED,
    OBSERVATION_COLUMNS,
    OBSERVATION_REQUIRED,
    Problem,
)

__all__ = ["FORMATS", "Record", "Table", "detect_format", "read_table"]

FORMATS = ("csv", "xlsx", "json", "ndjson")
_SUFFIXES = {
    ".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson",
}  # fmt: skip
Record = tuple[int, "list[str] | Problem", "str | None"]


@dataclass
class Table:
    """A file opened for reading: its kind, its columns, and its records."""

    kind: str  # observations | events
    columns: tuple[str, ...]
    records: Iterator[Record]
    close: Callable[[], None] = lambda: None
    # Published layouts: cells that are not rows (no value, other countries), by reason,
    # counted as the records are read; and the hash of the mapping that read them.
    skipped: Counter[str] = field(default_factory=Counter)
    mapping_digest: str = ""


def detect_format(path: Path, declared: str | None = None) -> str:
    """The format from the declared name, the suffix, or the first bytes."""
    if declared:
        if declared not in FORMATS:
            raise IngestError(f"{path}: unknown format {declared!r} (use {', '.join(FORMATS)})")
        return declared
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise IngestError(
            f"{path}: neither an IMF DataMapper export nor a WEO release file, the only "
            ".xls files read; save it as .xlsx or .csv"
        )
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "ndjson"
    return "csv"


def read_table(path: Path, fmt: str, max_bytes: int) -> Table:
    """Open `path` as `fmt`; the caller iterates `records` inside its transaction."""
    if fmt == "csv":
        return _read_csv(path, max_bytes)
    if fmt == "xlsx":
        return _read_xlsx(path)
    if fmt == "json":
        return _read_json(path)
    if fmt == "ndjson":
        return _read_ndjson(path)
    raise IngestError(f"{path}: unknown format {fmt!r}")


# -- header mapping ------------------------------------------------------------------


def _kind_for(names: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    present = set(names)
    if "indicator" in present or "value" in present:
        return "observations", OBSERVATION_COLUMNS
    if "severity" in present or "title" in present:
        return "events", EVENT_COLUMNS
    return "observations", OBSERVATION_COLUMNS


def _map_header(path: Path, header: Sequence[str]) -> tuple[str, tuple[str, ...], list[int]]:
    """Check a header row; return the kind, its columns and where each column sits."""
    names = [str(h).strip().lower() for h in header]
    if not any(names):
        raise IngestError(f"{path}: the first line is empty; expected a header row")
    kind, columns = _kind_for(names)
    required = OBSERVATION_REQUIRED if kind == "observations" else EVENT_REQUIRED
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            raise IngestError(f"{path}: header column {position} has no name")
        if name not in columns:
            raise IngestError(
                f"{path}: unknown column {name[:40]!r} (expected {', '.join(columns)})"
            )
        if name in seen:
            raise IngestError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        raise IngestError(f"{path}: missing required column(s) {', '.join(missing)}")
    return kind, columns, [names.index(c) if c in seen else -1 for c in columns]


def _reorder(row: Sequence[str], where: Sequence[int]) -> list[str]:
    return [row[i].strip() if 0 <= i < len(row) else "" for i in where]


# -- CSV -----------------------------------------------------------------------------


def _read_csv(path: Path, max_bytes: int) -> Table:
    # A single huge cell must reach validation (and be rejected there with its size),
    # not crash the reader, so the field limit follows the file-size limit.
    csv.field_size_limit(max(max_bytes, 131072))
    handle = path.open("r", encoding="utf-8-sig", newline="", errors="strict")
    try:
        reader = csv.reader(handle)
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        handle.close()
        raise IngestError(f"{path}: not UTF-8 text in the header ({exc.reason})") from None
    except csv.Error as exc:
        handle.close()
        raise IngestError(f"{path}: unreadable header ({exc})") from None
    if header is None:
        handle.close()
        raise IngestError(f"{path}: the file is empty; expected a header row")
    try:
        kind, columns, where = _map_header(path, header)
    except IngestError:
        handle.close()
        raise
    width = len(header)
    in_order = where == list(range(len(columns)))
    records = _csv_records(path, handle, reader, where, width, in_order)
    return Table(kind, columns, records, handle.close)


def _csv_records(
    path: Path,
    handle: io.TextIOWrapper,
    reader: Any,
    where: list[int],
    width: int,
    in_order: bool,
) -> Iterator[Record]:
    line = reader.line_num
    with handle:  # closed when the records run out, or by Table.close
        while True:
            start = line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise IngestError(
                    f"{path}: not UTF-8 text near line {start} ({exc.reason})"
                ) from None
            except csv.Error as exc:
                line = reader.line_num
                yield start, Problem("row", f"malformed CSV ({exc})"), ""
                continue
            line = reader.line_num
            if not row:
                continue  # a blank line is not a record
            if len(row) > width:
                yield (
                    start,
                    Problem("row", f"{len(row)} fields but the header has {width}"),
                    None,
                )
                continue
            if in_order and len(row) == width:
                yield start, [field.strip() for field in row], None
            else:
                yield start, _reorder(row, where), None


def raw_csv_text(fields: Sequence[str]) -> str:
    """A row as CSV text (how rejected CSV rows are kept)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


# -- XLSX ----------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    import datetime as dt

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path) -> Table:
    import openpyxl

    handle = path.open("rb")  # a file object: openpyxl would otherwise judge by the suffix
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign file raises many kinds here
        handle.close()
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise IngestError(f"{path}: not a readable XLSX workbook ({reason})") from None

    def close() -> None:
        workbook.close()
        handle.close()

    if not workbook.worksheets:
        close()
        raise IngestError(f"{path}: the workbook has no worksheet")
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    try:
        header = next(rows, None)
    except Exception as exc:  # openpyxl raises many kinds on a damaged sheet
        close()
        raise IngestError(f"{path}: not a readable XLSX workbook ({exc})") from None
    if header is None:
        close()
        raise IngestError(f"{path}: the first sheet is empty; expected a header row")
    header_texts = [_cell_text(h) for h in header]
    while header_texts and not header_texts[-1]:
        header_texts.pop()  # trailing empty cells are formatting, not columns
    try:
        kind, columns, where = _map_header(path, header_texts)
    except IngestError:
        close()
        raise
    width = len(header_texts)

    def records() -> Iterator[Record]:
        try:
            for line, row in enumerate(rows, start=2):
                texts = [_cell_text(v) for v in row]
                if not any(texts):
                    continue
                if any(texts[width:]):
                    problem = Problem("row", f"values beyond the {width} header columns")
                    yield line, problem, raw_csv_text(texts)
                    continue
                yield line, _reorder(texts, where), raw_csv_text(texts[:width])
        except IngestError:
            raise
        except Exception as exc:
            raise IngestError(f"{path}: damaged workbook ({exc})") from None
        finally:
            close()

    return Table(kind, columns, records(), close)


# -- JSON and NDJSON -----------------------------------------------------------------


def _json_fields(
    obj: Any, columns: tuple[str, ...], required: Sequence[str]
) -> list[str] | Problem:
    if not isinstance(obj, dict):
        return Problem("row", f"expected an object, got {type(obj).__name__}")
    fields = dict.fromkeys(columns, "")
    for key, value in obj.items():
        name = str(key).strip().lower()
        if name not in fields:
            return Problem(str(key)[:40], "unknown field")
        if isinstance(value, dict | list):
            return Problem(name, "must be text, a number or a boolean")
        fields[name] = _cell_text(value) if not isinstance(value, str) else value.strip()
    for name in required:
        if not fields[name]:
            return Problem(name, "is missing")
    return list(fields.values())


def _json_kind(path: Path, records: list[Any]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The kind from the keys; an unknown key anywhere refuses the file, like a CSV column."""
    keys = {str(k).strip().lower() for r in records if isinstance(r, dict) for k in r}
    kind, columns = _kind_for(sorted(keys))
    unknown = sorted(keys - set(columns))
    if unknown:
        raise IngestError(
            f"{path}: unknown field {unknown[0][:40]!r} (expected {', '.join(columns)})"
        )
    required = OBSERVATION_REQUIRED if kind == "observations" else EVENT_REQUIRED
    return kind, columns, required


def _load_json_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _read_json(path: Path) -> Table:
    try:
        data = json.loads(_load_json_text(path))
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    except RecursionError:
        raise IngestError(f"{path}: JSON nested too deeply to be a table of records") from None
    if not isinstance(data, list):
        raise IngestError(f"{path}: expected a JSON array of objects")
    if not data:
        raise IngestError(f"{path}: the JSON array is empty")
    kind, columns, required = _json_kind(path, data)

    def records() -> Iterator[Record]:
        for item, obj in enumerate(data, start=1):
            raw = json.dumps(obj, ensure_ascii=False)
            yield item, _json_fields(obj, columns, required), raw

    return Table(kind, columns, records())


def _read_ndjson(path: Path) -> Table:
    parsed: list[tuple[int, str, Any]] = []  # (line, text, object or the error)
    for line, text in enumerate(_load_json_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            parsed.append((line, text, json.loads(text)))
        except json.JSONDecodeError as exc:
            parsed.append((line, text, Problem("row", f"invalid JSON ({exc.msg})")))
        except RecursionError:
            parsed.append((line, text, Problem("row", "JSON nested too deeply")))
    objects = [obj for _, _, obj in parsed if isinstance(obj, dict)]
    if not objects:
        raise IngestError(f"{path}: no line is a JSON object")
    kind, columns, required = _json_kind(path, objects)

    def records() -> Iterator[Record]:
        for line, text, obj in parsed:
            fields = obj if isinstance(obj, Problem) else _json_fields(obj, columns, required)
            yield line, fields, text

    return Table(kind, columns, records())
