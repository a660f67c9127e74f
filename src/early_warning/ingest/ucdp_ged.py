"""UCDP Candidate Events (GED candidate) as published: one row per event into events.

UCDP releases the candidate Georeferenced Event Dataset every month, as a CSV (the
GED columns: `id, relid, year, active_year, code_status, type_of_violence,
conflict_dset_id, conflict_new_id, conflict_name, dyad_dset_id, dyad_new_id,
dyad_name, side_a_dset_id, side_a_new_id, side_a, side_b_dset_id, side_b_new_id,
side_b, ..., country, country_id, region, ..., date_start, date_end, deaths_a,
deaths_b, deaths_civilians, deaths_unknown, best, high, low, ...`) and through its
JSON API (`{"TotalCount", "TotalPages", "PreviousPageUrl", "NextPageUrl", "Result":
[{...the same fields...}]}`; the feed joins the pages into one answer first).

Each event becomes one escalation event of its country (`country_id`, a
Gleditsch-Ward code, to ISO 3166 alpha-3 through mappings/gleditsch_ward.csv; else
the `country` name as that table spells it), dated to its first day, with its sides,
its fatalities and its UCDP id in the title, citation and note:

  kind      state_based_violence (type 1), non_state_violence (2), one_sided_violence (3)
  severity  from the best estimate of fatalities, `best`:
              3  25 or more killed (UCDP's threshold for a conflict-year, in one event)
              2  1 to 24 killed
              1  nobody killed (best = 0)
  known     a candidate release covers the month before it: an event counts as known
            from the last day of the month after it ended (or the day it is read, if
            earlier), so a backtest never sees it before it could have been known.

Re-reading the same release adds nothing (the file's SHA-256; each event's content
hash). A later release that revises an event (its deaths) adds the revised event as
a new row beside the first: the events table has no key by UCDP id (a known limit).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

from ..catalog import Catalog
from ..errors import IngestError
from .readers import Record, Table
from .ucdp import GwState, csv_rows, header_has, load_states, open_csv
from .validate import EVENT_COLUMNS, Problem

__all__ = ["SOURCE", "api_items", "looks_like_ucdp_ged", "read_ucdp_ged", "severity_of"]

SOURCE = "ucdp_ged_candidate"  # its key in sources.yaml
_REQUIRED = ("id", "type_of_violence", "side_a", "side_b", "country", "date_start", "best")
_KINDS = {"1": "state_based_violence", "2": "non_state_violence", "3": "one_sided_violence"}
_WORDS = {"1": "state-based", "2": "non-state", "3": "one-sided"}
_TITLE_CHARS = 300


def severity_of(best: int) -> str:
    """The rule in the module's docstring: 3 from 25 killed, 2 from 1, else 1."""
    return "3" if best >= 25 else "2" if best >= 1 else "1"


def looks_like_ucdp_ged(head: bytes) -> bool:
    """A CSV whose header has the GED's type_of_violence, dyad_new_id, date_start, best."""
    return header_has(head, "type_of_violence", "dyad_new_id", "date_start", "best")


def read_ucdp_ged(path: Path, catalog: Catalog, today: dt.date) -> Table:
    """A candidate GED CSV, or a JSON API answer (one page or the pages joined)."""
    states = load_states(catalog)
    by_name = {s.name.casefold(): s for s in states.values()}
    with path.open("rb") as start:
        head = start.read(64).lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith((b"{", b"[")):
        records = _json_records(path, states, by_name, today)
        table = Table("events", EVENT_COLUMNS, records)
    else:
        handle, reader, header = open_csv(path, _REQUIRED, "UCDP GED")
        records = (
            (line, row, raw) if isinstance(row, Problem)
            else _event(line, row, raw, states, by_name, today)
            for line, row, raw in csv_rows(path, handle, reader, header)
        )  # fmt: skip
        table = Table("events", EVENT_COLUMNS, records, handle.close)
    return table


def _json_records(
    path: Path,
    states: dict[int, GwState],
    by_name: dict[str, GwState],
    today: dt.date,
) -> Iterator[Record]:
    """The API's `Result` items (item n is "line" n of the answer)."""
    for number, row, raw in api_items(path, "Result", "UCDP", _REQUIRED):
        if isinstance(row, Problem):
            yield number, row, raw
        else:
            yield _event(number, row, raw, states, by_name, today)


def api_items(
    path: Path, key: str, publisher: str, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str] | Problem, str]]:
    """The items of a JSON API answer's list `key` (or of a bare list) as rows of text,
    item n as "line" n, with its raw JSON; an item that is not an object or lacks a
    required field is a Problem. UCDP's answers and ACLED's share this shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path}: not a {publisher} API answer (invalid JSON: {exc})") from None
    items = data.get(key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise IngestError(f"{path}: not a {publisher} API answer (no {key!r} list)")
    word = "result" if key == "Result" else key
    for number, item in enumerate(items, 1):
        raw = json.dumps(item, ensure_ascii=False)[:4000]
        if not isinstance(item, dict):
            yield number, Problem("row", f"an API {word} item is not an object"), raw
            continue
        missing = [c for c in required if c not in item]
        if missing:
            yield number, Problem(missing[0], f"missing from the API {word} item"), raw
            continue
        yield number, {k: "" if v is None else str(v).strip() for k, v in item.items()}, raw


def _day(text: str) -> dt.date | None:
    """'2024-01-05', or the API's and older files' '2024-01-05 00:00:00.000' / 'T...'."""
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _event(
    line: int,
    row: dict[str, str],
    raw: str,
    states: dict[int, GwState],
    by_name: dict[str, GwState],
    today: dt.date,
) -> Record:
    start = _day(row["date_start"])
    if start is None:
        return line, Problem("date_start", f"{row['date_start'][:30]!r} is not a date"), raw
    end = _day(row.get("date_end", "")) or start
    kind = _KINDS.get(row["type_of_violence"])
    if kind is None:
        reason = f"{row['type_of_violence'][:10]!r} is not 1, 2 or 3"
        return line, Problem("type_of_violence", reason), raw
    best = row["best"]
    if not best.isdigit():
        return line, Problem("best", f"{best[:20]!r} is not a number of deaths"), raw
    state = None
    code = row.get("country_id", "")
    if code:
        if not code.isdigit():
            return line, Problem("country_id", f"{code[:10]!r} is not a Gleditsch-Ward code"), raw
        state = states.get(int(code))
    if state is None:
        state = by_name.get(row["country"].casefold())
    if state is None:
        return line, Problem("country", f"{row['country'][:40]!r}: no ISO code known"), raw
    title = f"UCDP GED {row['id']}: {row['side_a']} vs {row['side_b']}"
    if len(title) > _TITLE_CHARS:
        title = title[: _TITLE_CHARS - 3] + "..."
    deaths = ", ".join(
        f"{label} {row[key]}"
        for key, label in (("deaths_a", "side A"), ("deaths_b", "side B"),
                           ("deaths_civilians", "civilians"), ("deaths_unknown", "unknown"))
        if row.get(key, "")
    )  # fmt: skip
    note = (
        f"{_WORDS[row['type_of_violence']]} violence; side A {row['side_a']}; side B "
        f"{row['side_b']}; {best} killed (best estimate"
        + (f", low {row['low']}, high {row['high']}" if row.get("low") and row.get("high") else "")
        + ")"
        + (f"; deaths: {deaths}" if deaths else "")
        + (f"; conflict {row['conflict_name']}" if row.get("conflict_name") else "")
        + (f"; until {end.isoformat()}" if end != start else "")
    )
    citation = (
        f"UCDP Candidate Events Dataset (Hegre et al. 2020; Sundberg and Melander 2013), "
        f"event {row['id']}" + (f", relid {row['relid']}" if row.get("relid") else "")
    )
    published = min(_month_after(end), today).isoformat()
    fields = [start.isoformat(), state.iso3, kind, severity_of(int(best)), title, citation,
              SOURCE, published, note]  # fmt: skip
    return line, fields, raw


def _month_after(day: dt.date) -> dt.date:
    y, m = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.date(y, m, calendar.monthrange(y, m)[1])
