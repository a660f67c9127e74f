"""Readers: turn a file (CSV, XLSX, JSON, NDJSON) into rows of text fields.

Every reader yields `(line, fields, raw)` where `fields` are in the canonical column
order of the file's kind (observations or events), missing optional columns are empty
text, and `raw` is the record as it stood in the file (its line, or lines, for CSV; None
where a reader has no such text, and it is rebuilt from the fields only when the row is
rejected). A record a reader cannot map (a JSON
object with an unknown key, say) comes as a `Problem` instead of fields.

A file whose structure is wrong as a whole (no header, unknown or missing columns, not
UTF-8, not a workbook) raises `IngestError` with one line naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

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


def read_table(path: Path, fmt: str, limits: Any) -> Table:
    """Open `path` as `fmt` within `limits` (an `ingest.Limits`); the caller iterates
    `records` inside its transaction."""
    if fmt == "csv":
        return _read_csv(path, limits)
    if fmt == "xlsx":
        return _read_xlsx(path)
    if fmt == "json":
        return _read_json(path, limits)
    if fmt == "ndjson":
        return _read_ndjson(path, limits)
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
#
# Read by physical line, never by the csv module over the whole file: one stray double
# quote would make it read on to the next quote or to the end of the file, merging every
# row in between into one field (a 100,000-row file became "2 read"). Here a line that
# ends inside a quoted field may continue onto the next lines (a multi-line note, as
# spreadsheets write it) only while the continuation is plausible: within the line
# limit and 1,000 lines, closing cleanly, and no continuation line being a whole row of
# its own. Otherwise the opening line alone is rejected ("unbalanced double quote") and
# reading resumes at the line after it, so every other row is still read.

_MAX_RECORD_LINES = 1000


class _Line(NamedTuple):
    number: int
    text: str  # with its line break
    overlong: int = 0  # characters, when the line is over the limit (text is its start)


def _physical_lines(handle: io.TextIOWrapper, limit: int, first: int) -> Iterator[_Line]:
    """The file's lines, each at most `limit` characters (a longer one is cut and
    marked, and the rest of it is read in blocks and dropped: memory stays flat)."""
    number = first
    while True:
        text = handle.readline(limit + 1)
        if not text:
            return
        if len(text) > limit and not text.endswith(("\n", "\r")):
            length = len(text)
            while rest := handle.readline(1 << 20):
                length += len(rest)
                if rest.endswith(("\n", "\r")):
                    break
            yield _Line(number, text[:65536], overlong=length)  # as much as a reject keeps
        else:
            yield _Line(number, text)
        number += 1


class _Splitter:
    """Splits one line at a time into fields with one strict csv reader, kept for the
    whole file (a reader per line costs three times as much). Returns the fields, or
    (None, "open") if the line ends inside a quoted field, or (None, the reason) if it
    is malformed. A line without a quote is split on commas directly."""

    def __init__(self) -> None:
        self._line: str | None = None
        self._reader = csv.reader(self, strict=True)

    def __iter__(self) -> _Splitter:
        return self

    def __next__(self) -> str:
        line, self._line = self._line, None
        if line is None:
            raise StopIteration
        return line

    def __call__(self, text: str) -> tuple[list[str] | None, str]:
        if '"' not in text:
            return text.rstrip("\r\n").split(","), ""
        self._line = text
        try:
            return next(self._reader, []), ""
        except csv.Error as exc:
            self._line = None
            if "unexpected end of data" in str(exc):
                return None, "open"
            return None, f"malformed CSV ({exc})"


def _read_csv(path: Path, limits: Any) -> Table:
    csv.field_size_limit(max(limits.max_line_chars, 131072))
    handle = path.open("r", encoding="utf-8-sig", newline="", errors="strict")
    try:
        lines = _physical_lines(handle, limits.max_line_chars, 1)
        first = next(lines, None)
    except UnicodeDecodeError as exc:
        handle.close()
        raise IngestError(f"{path}: not UTF-8 text in the header ({exc.reason})") from None
    if first is None:
        handle.close()
        raise IngestError(f"{path}: the file is empty; expected a header row")
    if first.overlong:
        handle.close()
        raise IngestError(
            f"{path}: line {first.number}: {first.overlong:,} characters without a line "
            "break; expected a header row"
        )
    header, problem = _Splitter()(first.text)
    if header is None:
        handle.close()
        why = "unbalanced double quote" if problem == "open" else problem
        raise IngestError(f"{path}: unreadable header on line {first.number} ({why})")
    try:
        kind, columns, where = _map_header(path, header)
    except IngestError:
        handle.close()
        raise
    width = len(header)
    # The documented columns in order, the trailing optional ones possibly left out
    # (a file written before `end` existed): each row is padded, not reordered.
    in_order = where[:width] == list(range(width)) and all(w == -1 for w in where[width:])
    records = _csv_records(path, handle, lines, where, width, in_order, limits.max_line_chars)
    return Table(kind, columns, records, handle.close)


def _csv_records(
    path: Path,
    handle: io.TextIOWrapper,
    lines: Iterator[_Line],
    where: list[int],
    width: int,
    in_order: bool,
    limit: int,
) -> Iterator[Record]:
    pushed: list[_Line] = []  # lines to read again, last first
    split = _Splitter()

    def next_line() -> _Line | None:
        if pushed:
            return pushed.pop()
        try:
            return next(lines, None)
        except UnicodeDecodeError as exc:
            raise IngestError(f"{path}: not UTF-8 text ({exc.reason})") from None

    padding = [""] * (len(where) - width) if in_order else []
    with handle:  # closed when the records run out, or by Table.close
        while (line := next_line()) is not None:
            if line.overlong:
                reason = f"{line.overlong:,} characters, over the limit of {limit:,} "
                yield line.number, Problem("row", reason + "(ingest.max_line_chars)"), line.text
                continue
            if not line.text.strip():
                continue  # a blank line is not a record
            raw = line.text
            row, problem = split(raw)
            if problem == "open":
                row, problem, taken = _continued(line, next_line, split, width, limit)
                if row is None:
                    pushed.extend(reversed(taken))
                else:
                    raw += "".join(more.text for more in taken)
            raw = raw.rstrip("\r\n")  # a reject keeps the record as the file has it
            if row is None:
                yield line.number, Problem("row", problem), raw
            elif len(row) > width:
                problem = Problem("row", f"{len(row)} fields but the header has {width}")
                yield line.number, problem, raw
            elif in_order and len(row) == width:
                yield line.number, [field.strip() for field in row] + padding, raw
            else:
                yield line.number, _reorder(row, where), raw


_AFTER_A_ROW = 20  # lines a quoted field may still run on after one that reads as a row


def _continued(
    opening: _Line,
    next_line: Callable[[], _Line | None],
    split: _Splitter,
    width: int,
    limit: int,
) -> tuple[list[str] | None, str, list[_Line]]:
    """A record whose quoted field goes on past `opening`'s line: its fields (and the
    lines it took), or None with the reason and the lines taken, to be read again as
    rows of their own.

    A field that closes cleanly into exactly the header's width is a multi-line cell,
    even if a line inside it looks like a row (a note listing sources with commas).
    One that closes into fewer fields is taken only if no line inside looked like a
    row; a stray quote is given up on soon after such a line.
    """
    unbalanced = (
        f"unbalanced double quote: a quoted field opens on line {opening.number} and does not close"
    )
    text, taken = opening.text, []
    row_like: int | None = None  # the first line inside that reads as a row of its own

    def refused(why: str) -> tuple[None, str, list[_Line]]:
        seen = f"; line {row_like} reads as a row of its own" if row_like else ""
        return None, unbalanced + why + seen, taken

    while len(taken) < _MAX_RECORD_LINES:
        line = next_line()
        if line is None:
            return refused(" before the end of the file")
        taken.append(line)
        if line.overlong or len(text) + len(line.text) > limit:
            return refused(f" within {limit:,} characters")
        text += line.text
        if '"' in line.text:
            row, problem = split(text)
            if row is not None:
                closing, _ = split(line.text)
                if closing is not None and len(closing) == width:
                    # The line that closes it is a whole row ending in a quote (12"): a
                    # stray quote met another, not a multi-line cell.
                    why = f" before line {line.number}, which reads as a row of its own"
                    return None, unbalanced + why, taken
                if len(row) == width or (len(row) < width and row_like is None):
                    return row, "", taken
                return refused(f" into the header's {width} fields (it makes {len(row)})")
            if problem != "open":
                return refused(f" cleanly ({problem})")
        if row_like is None:
            alone, _ = split(line.text)
            if alone is not None and len(alone) == width:
                row_like = line.number
        elif line.number - row_like >= _AFTER_A_ROW:
            return refused(f" within {_AFTER_A_ROW} lines after line {row_like}")
    return refused(f" within {_MAX_RECORD_LINES:,} lines")


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


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Numeral(str):
    """A JSON number kept as the text it was written as: no float rounding (`1e-400`
    is not 0), no int conversion limit (a 5,000-digit integer is a reject, not a crash)."""


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers a key written twice (or in two cases)."""

    repeated: str | None = None


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    seen: set[str] = set()
    for key, value in pairs:
        name = key.strip().lower()
        if name in seen and obj.repeated is None:
            obj.repeated = key
        seen.add(name)
        obj[key] = value
    return obj


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_pairs, parse_int=_Numeral, parse_float=_Numeral,
    parse_constant=_Numeral,
)  # fmt: skip


def _numeral_text(text: str) -> str:
    """A number as a cell would show it: `7.0` as `7`, anything else as written."""
    if "e" not in text.lower() and "." in text:
        try:
            number = float(text)
        except ValueError:
            return text
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
    return text


def _json_fields(
    obj: Any, columns: tuple[str, ...], required: Sequence[str]
) -> list[str] | Problem:
    if not isinstance(obj, dict):
        return Problem("row", f"expected an object, got {type(obj).__name__}")
    if getattr(obj, "repeated", None):
        return Problem(str(obj.repeated)[:40], "appears twice in the record (keys ignore case)")
    fields = dict.fromkeys(columns, "")
    for key, value in obj.items():
        name = str(key).strip().lower()
        if name not in fields:
            return Problem(str(key)[:40].encode("utf-8", "replace").decode(), "unknown field")
        if isinstance(value, str) and _SURROGATE.search(value):
            # "\udc80" is valid JSON but no character: it cannot be stored as UTF-8.
            return Problem(
                name, "contains an escaped lone surrogate (\\ud800-\\udfff), not a character"
            )
        if isinstance(value, dict | list):
            return Problem(name, "must be text, a number or a boolean")
        if isinstance(value, _Numeral):
            fields[name] = _numeral_text(value)
        elif isinstance(value, str):
            fields[name] = value.strip()
        else:
            fields[name] = _cell_text(value)
    for name in required:
        if not fields[name]:
            return Problem(name, "is missing")
    return list(fields.values())


def _json_kind(path: Path, keys: set[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The kind from the keys; an unknown key anywhere refuses the file, like a CSV column."""
    kind, columns = _kind_for(sorted(keys))
    unknown = sorted(keys - set(columns))
    if unknown:
        raise IngestError(
            f"{path}: unknown field {unknown[0][:40]!r} (expected {', '.join(columns)})"
        )
    required = OBSERVATION_REQUIRED if kind == "observations" else EVENT_REQUIRED
    return kind, columns, required


def _keys_of(obj: Any) -> set[str]:
    return {str(k).strip().lower() for k in obj} if isinstance(obj, dict) else set()


class _JsonArray:
    """The items of a JSON array file, parsed one at a time from a sliding window, so a
    large file never sits in memory whole (each item may be up to `item_chars` long)."""

    def __init__(self, path: Path, item_chars: int) -> None:
        self.path, self.item_chars = path, item_chars

    def __iter__(self) -> Iterator[tuple[int, Any, str]]:
        path = self.path
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            window = _Window(handle, path)
            window.skip_space()
            if window.peek() != "[":
                raise IngestError(f"{path}: expected a JSON array of objects")
            window.pos += 1
            item = 0
            while True:
                window.skip_space()
                if window.peek() == "]" and item == 0:
                    window.pos += 1
                    break
                item += 1
                yield item, *window.value(self.item_chars)
                window.skip_space()
                mark = window.peek()
                window.pos += 1
                if mark == "]":
                    break
                if mark != ",":
                    raise window.invalid("expected ',' or ']' after an item")
            window.skip_space()
            if window.peek():
                raise window.invalid("text after the end of the array")
            if item == 0:
                raise IngestError(f"{path}: the JSON array is empty")


class _Window:
    """A text file read in blocks, with a position and the line number it is on."""

    def __init__(self, handle: io.TextIOWrapper, path: Path) -> None:
        self.handle, self.path = handle, path
        self.text, self.pos, self.lines_before, self.done = "", 0, 0, False

    def _more(self) -> bool:
        if self.done:
            return False
        block = self.handle.read(1 << 20)
        if not block:
            self.done = True
            return False
        if self.pos > 1 << 20:  # drop what has been read, keep the line count
            self.lines_before += self.text.count("\n", 0, self.pos)
            self.text, self.pos = self.text[self.pos :], 0
        self.text += block
        return True

    def peek(self) -> str:
        while self.pos >= len(self.text):
            if not self._more():
                return ""
        return self.text[self.pos]

    def skip_space(self) -> None:
        while self.peek() in (" ", "\t", "\r", "\n"):
            self.pos += 1

    def value(self, item_chars: int) -> tuple[Any, str]:
        """The next JSON value and its text."""
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.text) - self.pos < item_chars and self._more():
                    continue  # the item may be cut by the end of the block
                if len(self.text) - self.pos >= item_chars:
                    raise IngestError(
                        f"{self.path}: line {self.line(self.pos)}: a JSON item of more than "
                        f"{item_chars:,} characters (ingest.max_line_chars)"
                    ) from None
                raise self.invalid(exc.msg, exc.pos) from None
            except RecursionError:
                raise IngestError(
                    f"{self.path}: JSON nested too deeply to be a table of records"
                ) from None
            raw = self.text[self.pos : end]
            self.pos = end
            return obj, raw

    def line(self, pos: int) -> int:
        return self.lines_before + self.text.count("\n", 0, pos) + 1

    def invalid(self, why: str, pos: int | None = None) -> IngestError:
        at = self.line(self.pos if pos is None else pos)
        return IngestError(f"{self.path}: invalid JSON at line {at} ({why})")


def _read_json(path: Path, limits: Any) -> Table:
    items = _JsonArray(path, limits.max_line_chars)
    keys: set[str] = set()
    for _, obj, _ in items:  # a first pass: the kind and the columns from every key
        keys |= _keys_of(obj)
    kind, columns, required = _json_kind(path, keys)

    def records() -> Iterator[Record]:
        for item, obj, raw in items:
            yield item, _json_fields(obj, columns, required), raw

    return Table(kind, columns, records())


def _ndjson_lines(path: Path, limit: int) -> Iterator[tuple[int, Any, str]]:
    """(line, object or Problem, text) for each non-blank line. Lines end at LF only:
    U+2028 or U+0085 inside a string are text, not line breaks."""
    with path.open("rb") as handle:
        number = 0
        while block := handle.readline(limit + 1):
            number += 1
            if len(block) > limit and not block.endswith(b"\n"):
                length = len(block)
                while rest := handle.readline(1 << 20):
                    length += len(rest)
                    if rest.endswith(b"\n"):
                        break
                reason = f"{length:,} bytes, over the limit of {limit:,} (ingest.max_line_chars)"
                yield number, Problem("row", reason), block[:200].decode("utf-8", "replace")
                continue
            text = block.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            if not text.strip():
                continue
            try:
                obj, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip()))
                if text[end:].strip():
                    raise json.JSONDecodeError("text after the value", text, end)
            except json.JSONDecodeError as exc:
                obj = Problem("row", f"invalid JSON ({exc.msg})")
            except RecursionError:
                obj = Problem("row", "JSON nested too deeply")
            yield number, obj, text


def _read_ndjson(path: Path, limits: Any) -> Table:
    keys: set[str] = set()
    objects = 0
    for _, obj, _ in _ndjson_lines(path, limits.max_line_chars):
        if isinstance(obj, dict):
            objects += 1
            keys |= _keys_of(obj)
    if not objects:
        raise IngestError(f"{path}: no line is a JSON object")
    kind, columns, required = _json_kind(path, keys)

    def records() -> Iterator[Record]:
        for line, obj, text in _ndjson_lines(path, limits.max_line_chars):
            fields = obj if isinstance(obj, Problem) else _json_fields(obj, columns, required)
            yield line, fields, text

    return Table(kind, columns, records())
