"""The UCDP/PRIO Armed Conflict Dataset as published: conflict-year rows into events.

Each conflict-year row (`conflict_id, location, side_a, ..., year, intensity_level,
type_of_conflict, ..., gwno_a, gwno_a_2nd, gwno_b, gwno_b_2nd, gwno_loc, region,
version`) becomes one escalation event per country taking part (mappings/ucdp.yaml
names the columns; each may list several states, comma-separated), in the
escalation-event columns, so the rows go through the validation, rejects and
provenance of any event file. Gleditsch-Ward codes become ISO 3166 alpha-3 through
mappings/gleditsch_ward.csv (`load_states`), which the structural model also reads
for the states that exist in each year.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import CatalogError, IngestError
from ..files import parse_yaml, read_bytes
from .mapping import mappings_folder
from .readers import Record, Table, raw_csv_text
from .validate import EVENT_COLUMNS, Problem

__all__ = ["GwState", "UcdpMapping", "csv_rows", "header_has", "load_states",
           "load_ucdp_mapping", "looks_like_ucdp", "open_csv", "read_ucdp"]  # fmt: skip

_REQUIRED = ("conflict_id", "side_a", "side_b", "year", "intensity_level", "type_of_conflict")
_TYPES = {"1": "extrasystemic", "2": "interstate", "3": "intrastate", "4": "internationalised"}
_INTENSITY = {"1": "minor (25-999 battle-related deaths)", "2": "war (1,000 or more)"}
_ROLES = {"gwno_a": "side A", "gwno_b": "side B", "gwno_loc": "location",
          "gwno_a_2nd": "supporting side A", "gwno_b_2nd": "supporting side B"}  # fmt: skip
_TITLE_CHARS = 300


@dataclass(frozen=True)
class GwState:
    """A row of gleditsch_ward.csv."""

    gwno: int
    iso3: str
    name: str
    start: int
    end: int | None
    region: str


@dataclass(frozen=True)
class UcdpMapping:
    """mappings/ucdp.yaml, checked."""

    source: str
    reliability: str
    credibility: str
    kind: str
    severity: dict[str, str]
    participants: tuple[str, ...]
    lag_months: int
    states: dict[int, GwState]
    digest: str


def load_states(catalog: Catalog, name: str = "gleditsch_ward.csv") -> dict[int, GwState]:
    """The Gleditsch-Ward states and their ISO codes, by code ('#' lines are comments)."""
    path = mappings_folder(catalog) / name
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CatalogError(f"{path}: file not found (Gleditsch-Ward codes -> ISO)") from None
    states: dict[int, GwState] = {}
    try:
        for row in csv.DictReader(line for line in lines if not line.startswith("#")):
            code = int(row["gwno"])
            states[code] = GwState(
                code, row["iso3"], row["name"], int(row["start"]),
                int(row["end"]) if row["end"] else None, row["region"],
            )  # fmt: skip
    except (KeyError, ValueError, csv.Error) as exc:
        raise CatalogError(f"{path}: unreadable state table ({exc})") from None
    return states


def load_ucdp_mapping(catalog: Catalog) -> UcdpMapping:
    path = mappings_folder(catalog) / "ucdp.yaml"
    raw = read_bytes(path, CatalogError, "mapping file")
    data = parse_yaml(raw, path, CatalogError)
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping")

    def need(key: str) -> Any:
        if key not in data:
            raise CatalogError(f"{path}: field {key!r}: missing")
        return data[key]

    source = need("source")
    if source not in catalog.sources:
        raise CatalogError(f"{path}: field 'source': {source!r} is not a key of sources.yaml")
    severity = {str(k): str(v) for k, v in dict(need("severity")).items()}
    if not set(severity.values()) <= {"1", "2", "3"}:
        raise CatalogError(f"{path}: field 'severity': each value is 1, 2 or 3")
    states = load_states(catalog, str(need("states")))
    return UcdpMapping(
        source=str(source),
        reliability=str(need("reliability")),
        credibility=str(need("credibility")),
        kind=str(need("kind")),
        severity=severity,
        participants=tuple(need("participants")),
        lag_months=int(data.get("published_lag_months", 6)),
        states=states,
        digest=hashlib.sha256(raw + repr(sorted(states)).encode()).hexdigest()[:16],
    )


def header_has(head: bytes, *columns: str) -> bool:
    """Whether the first line of a CSV (its first bytes) names all these columns."""
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    return set(columns) <= {c.strip().strip('"') for c in first.split(",")}


def looks_like_ucdp(head: bytes) -> bool:
    """A CSV whose header has UCDP's conflict_id, year, intensity_level and gwno_a."""
    return header_has(head, "conflict_id", "year", "intensity_level", "gwno_a")


def open_csv(path: Path, required: tuple[str, ...], layout: str) -> tuple[Any, Any, list[str]]:
    """A UCDP CSV opened: its handle, a csv reader past the header, and the header; a
    missing header or column refuses the file, naming it."""
    handle = path.open(encoding="utf-8-sig", newline="")
    reader = csv.reader(handle)
    try:
        header = [c.strip() for c in next(reader)]
    except StopIteration:
        handle.close()
        raise IngestError(f"{path}: the file is empty; expected UCDP's header row") from None
    missing = [c for c in required if c not in header]
    if missing:
        handle.close()
        raise IngestError(f"{path}: not the {layout} layout: no column {missing[0]!r}")
    return handle, reader, header


def read_ucdp(path: Path, catalog: Catalog, today: dt.date) -> Table:
    mapping = load_ucdp_mapping(catalog)
    handle, reader, header = open_csv(path, (*_REQUIRED, *mapping.participants), "UCDP/PRIO")
    skipped: Counter[str] = Counter()
    table = Table("events", EVENT_COLUMNS, _records(path, handle, reader, header, mapping,
                                                    today, skipped), handle.close)  # fmt: skip
    table.skipped = skipped
    table.mapping_digest = mapping.digest
    return table


def _records(
    path: Path,
    handle: Any,
    reader: Any,
    header: list[str],
    mapping: UcdpMapping,
    today: dt.date,
    skipped: Counter[str],
) -> Iterator[Record]:
    for line, row, raw in csv_rows(path, handle, reader, header):
        if isinstance(row, Problem):
            yield line, row, raw
        else:
            yield from _events(line, row, raw, mapping, today, skipped)


def csv_rows(
    path: Path, handle: Any, reader: Any, header: list[str]
) -> Iterator[tuple[int, dict[str, str] | Problem, str]]:
    """A UCDP CSV's rows after its header: (line, {column: stripped cell}, raw text), or
    a Problem for a row of the wrong width; blank rows are left out, and the file is
    closed at the end. Malformed CSV refuses the file, naming the line."""
    at = {name: i for i, name in enumerate(header)}
    with handle:
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise IngestError(f"{path}: line {line}: malformed CSV ({exc})") from None
            if not any(c.strip() for c in cells):
                continue
            raw = raw_csv_text(cells)
            if len(cells) != len(header):
                reason = f"{len(cells)} fields but the header has {len(header)}"
                yield line, Problem("row", reason), raw
                continue
            yield line, {name: cells[i].strip() for name, i in at.items()}, raw


def _events(
    line: int,
    row: dict[str, str],
    raw: str,
    mapping: UcdpMapping,
    today: dt.date,
    skipped: Counter[str],
) -> Iterator[Record]:
    year = row["year"]
    if not (year.isdigit() and len(year) == 4):
        yield line, Problem("year", f"{year[:20]!r} is not a year"), raw
        return
    severity = mapping.severity.get(row["intensity_level"])
    if severity is None:
        level = row["intensity_level"][:10]
        reason = f"{level!r} is not one of {', '.join(mapping.severity)}"
        yield line, Problem("intensity_level", reason), raw
        return
    roles: dict[str, list[str]] = {}
    for column in mapping.participants:
        for part in filter(None, (p.strip() for p in row.get(column, "").split(","))):
            if not part.isdigit():
                yield line, Problem(column, f"{part[:10]!r} is not a Gleditsch-Ward code"), raw
                return
            state = mapping.states.get(int(part))
            if state is None:
                skipped[f"participants with a Gleditsch-Ward code not in "
                        f"gleditsch_ward.csv ({part})"] += 1  # fmt: skip
                continue
            roles.setdefault(state.iso3, [])
            if _ROLES[column] not in roles[state.iso3]:
                roles[state.iso3].append(_ROLES[column])
    if not roles:
        skipped["conflict-years with no participant in gleditsch_ward.csv"] += 1
        return
    conflict, kind = row["conflict_id"], _TYPES.get(row["type_of_conflict"], "armed")
    version = row.get("version", "")
    title = (f"Armed conflict (UCDP {conflict}, {kind}, "
             f"{_INTENSITY[row['intensity_level']].split(' ')[0]}): "
             f"{row['side_a']} vs {row['side_b']}")  # fmt: skip
    if len(title) > _TITLE_CHARS:
        title = title[: _TITLE_CHARS - 3] + "..."
    citation = (f"UCDP/PRIO Armed Conflict Dataset v{version} (Davies, Pettersson and Öberg "
                f"2023; Gleditsch et al. 2002), conflict {conflict}, {year}")  # fmt: skip
    published = min(_lag_date(int(year), mapping.lag_months), today).isoformat()
    for iso3, taken in sorted(roles.items()):
        note = (f"{', '.join(taken)}; {kind}; intensity {row['intensity_level']}, "
                f"{_INTENSITY[row['intensity_level']]}")  # fmt: skip
        location = row.get("location", "")
        if location:
            note += f"; location {location}"
        yield line, [year, iso3, mapping.kind, severity, title, citation, mapping.source,
                     published, note], raw  # fmt: skip


def _lag_date(year: int, months: int) -> dt.date:
    month0 = 11 + months
    y, m = year + month0 // 12, month0 % 12 + 1
    return dt.date(y, m, calendar.monthrange(y, m)[1])
