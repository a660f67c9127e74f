"""ACLED events as its API gives them: one row per event into events.

ACLED's API (`https://acleddata.com/api/acled/read`, JSON by default) answers
`{"status": 200, "success": true, "count": N, "data": [{...}], ...}`, one object per
event with the fields of ACLED's codebook: `event_id_cnty, event_date (YYYY-MM-DD),
year, time_precision, disorder_type, event_type, sub_event_type, actor1,
assoc_actor_1, inter1, actor2, assoc_actor_2, inter2, interaction,
civilian_targeting, iso (ISO 3166 numeric), region, country, admin1, admin2, admin3,
location, latitude, longitude, geo_precision, source, source_scale, notes,
fatalities, tags, timestamp` (the row's last update, Unix seconds). The feed
(`feeds.py`, `feed = "acled"`) fetches the pages and joins their `data` into one
answer first; `ingest --format acled FILE` reads such an answer from a file.

Each event becomes one escalation event of its country (the `country` name to ISO
3166 alpha-3 through mappings/countries.csv), dated to its `event_date`, with its
sides, fatalities and ACLED id in the title, citation and note:

  kind      its `event_type` in snake case: battles, explosions_remote_violence,
            violence_against_civilians, protests, riots, strategic_developments
  severity  from `fatalities`, the rule UCDP's events follow (`ucdp_ged.severity_of`):
            3 from 25 killed, 2 from 1, 1 when nobody was killed
  known     from the day of its `timestamp` (when ACLED last updated it), or the day it
            is read if that is missing or later

Re-reading the same answer adds nothing (the file's SHA-256; each event's content
hash). An event ACLED revises (a new `timestamp`, other fatalities) is added as a new
row beside the first: the events table has no key by ACLED id (as for UCDP).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from .mapping import Countries, load_countries
from .readers import Record, Table
from .ucdp_ged import api_items, severity_of
from .validate import EVENT_COLUMNS, Problem

__all__ = ["SOURCE", "read_acled"]

SOURCE = "acled"  # its key in sources.yaml
_REQUIRED = ("event_id_cnty", "event_date", "event_type", "actor1", "country", "fatalities")
_TITLE_CHARS = 300
_NOTE_CHARS = 1500


def read_acled(path: Path, catalog: Catalog, today: dt.date) -> Table:
    """An ACLED API answer (one page, or the feed's pages joined)."""
    countries = load_countries(catalog)
    return Table("events", EVENT_COLUMNS, _records(path, countries, today))


def _records(path: Path, countries: Countries, today: dt.date) -> Iterator[Record]:
    """The answer's `data` items (item n is "line" n of the answer)."""
    for number, row, raw in api_items(path, "data", "ACLED", _REQUIRED):
        if isinstance(row, Problem):
            yield number, row, raw
        else:
            yield _event(number, row, raw, countries, today)


def _event(
    line: int, row: dict[str, str], raw: str, countries: Countries, today: dt.date
) -> Record:
    try:
        day = dt.date.fromisoformat(row["event_date"][:10])
    except ValueError:
        return line, Problem("event_date", f"{row['event_date'][:30]!r} is not a date"), raw
    fatalities = row["fatalities"]
    if not fatalities.isdigit():
        return line, Problem("fatalities", f"{fatalities[:20]!r} is not a number"), raw
    kind = re.sub(r"[^a-z0-9]+", "_", row["event_type"].lower()).strip("_")
    if not kind:
        return line, Problem("event_type", "empty"), raw
    iso3 = countries.code(row["country"])
    if iso3 is None:
        return line, Problem("country", f"{row['country'][:40]!r}: no ISO code known"), raw
    fields = [day.isoformat(), iso3, kind, severity_of(int(fatalities)), _title(row),
              _citation(row), SOURCE, _known(row, today).isoformat(), _note(row)]  # fmt: skip
    return line, fields, raw


def _sides(row: dict[str, str]) -> tuple[str, str]:
    def side(actor: str, associated: str) -> str:
        return f"{row[actor]} (with {row[associated]})" if row.get(associated) else row[actor]

    first = side("actor1", "assoc_actor_1")
    second = side("actor2", "assoc_actor_2") if row.get("actor2") else ""
    return first, second


def _title(row: dict[str, str]) -> str:
    first, second = _sides(row)
    what = row.get("sub_event_type") or row["event_type"]
    title = f"ACLED {row['event_id_cnty']}: {what}: {first}" + (f" vs {second}" if second else "")
    return title if len(title) <= _TITLE_CHARS else title[: _TITLE_CHARS - 3] + "..."


def _citation(row: dict[str, str]) -> str:
    sources = f"; its sources: {row['source']}" if row.get("source") else ""
    return f"ACLED (Raleigh et al. 2010), event {row['event_id_cnty']}{sources}"


def _note(row: dict[str, str]) -> str:
    first, second = _sides(row)
    place = ", ".join(row[k] for k in ("location", "admin1") if row.get(k))
    kind = row["event_type"] + (f" / {row['sub_event_type']}" if row.get("sub_event_type") else "")
    parts: list[Any] = [
        kind,
        f"side 1 {first}" + (f"; side 2 {second}" if second else ""),
        f"{row['fatalities']} killed (ACLED's estimate)",
        place,
        row.get("notes", ""),
    ]
    note = "; ".join(p for p in parts if p)
    return note if len(note) <= _NOTE_CHARS else note[: _NOTE_CHARS - 3] + "..."


def _known(row: dict[str, str], today: dt.date) -> dt.date:
    stamp = row.get("timestamp", "")
    if stamp.isdigit():
        updated = dt.datetime.fromtimestamp(int(stamp), dt.UTC).date()
        return min(updated, today)
    return today
