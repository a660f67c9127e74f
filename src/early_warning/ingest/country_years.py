"""Published annual values for every country, into `country_years` (the structural model's
inputs): the World Bank's GDP and SIPRI's military spending, read by their own readers
(`worldbank`, `sipri`) with their own mappings, but for every state of
mappings/gleditsch_ward.csv instead of the mapping's few subjects.

They are kept apart from `observations` so that the world does not become 200 subjects
of the weekly pipeline; the validation (numbers, catalog ranges), the rejects, the run
and the point-in-time rule (a value is known from its mapping's publication lag, a
revision from its file) are the same. `ingest(..., country_years=True)` uses this.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import IngestError
from ..store import COUNTRY_YEAR_COLUMNS
from .cells import Rows
from .mapping import load_countries, load_mapping
from .published import MAPPING_FOR_FORMAT
from .readers import Table
from .sipri import read_sipri
from .ucdp import load_states
from .validate import OBSERVATION_COLUMNS, Problem
from .worldbank import read_worldbank

__all__ = ["COUNTRY_YEAR_FORMATS", "CountryYearRules", "read_country_years"]

COUNTRY_YEAR_FORMATS = ("worldbank", "sipri")
_AT = {name: i for i, name in enumerate(OBSERVATION_COLUMNS)}


def read_country_years(
    path: Path,
    fmt: str,
    catalog: Catalog,
    today: dt.date,
    known: Callable[[str, list[str]], dict[tuple[str, str, str], set[float]]],
) -> Table:
    """Open a World Bank or SIPRI file as country-year rows for every state."""
    if fmt not in COUNTRY_YEAR_FORMATS:
        raise IngestError(
            f"{path}: read as {fmt}; country-year values come from the World Bank and SIPRI "
            "layouts (and conflicts from UCDP's, as events)"
        )
    codes = frozenset(state.iso3 for state in load_states(catalog).values())
    mapping = dataclasses.replace(load_mapping(catalog, MAPPING_FOR_FORMAT[fmt]), subjects=codes)
    indicators = sorted({s.indicator for s in mapping.series.values()})
    rows = Rows(mapping, catalog, today, known(mapping.source, indicators))
    if fmt == "worldbank":
        records = read_worldbank(path, rows)
    else:
        records = read_sipri(path, rows, load_countries(catalog))
    table = Table("country_years", OBSERVATION_COLUMNS, records, rows.close)
    table.skipped = rows.skipped
    table.mapping_digest = mapping.digest
    return table


class CountryYearRules:
    """Canonical fields (already checked by `cells.Rows`) into a `country_years` row."""

    def check(self, fields: Sequence[str], line: int) -> Problem | list[Any]:
        year = fields[_AT["date"]]
        if not (year.isdigit() and len(year) == 4):
            return Problem("date", f"{year[:20]!r} is not a year")
        return [
            fields[_AT["subject"]], int(year), fields[_AT["indicator"]],
            float(fields[_AT["value"]]), fields[_AT["source"]], fields[_AT["citation"]],
            fields[_AT["note"]], fields[_AT["published"]], None, None,
        ]  # fmt: skip


RECORDED_AT = COUNTRY_YEAR_COLUMNS.index("recorded_at")
RUN_ID = COUNTRY_YEAR_COLUMNS.index("run_id")
__all__ += ["RECORDED_AT", "RUN_ID"]
