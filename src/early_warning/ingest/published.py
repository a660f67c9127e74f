"""Data sets in the layouts their publishers use: which layout a file is, and its reader.

One module per publisher reads its layouts (`worldbank`, `imf`, `sipri`, and
`gdelt_dyads` for daily GDELT dyad scores, `ucdp` for the UCDP/PRIO conflict-years
and `ucdp_ged` for UCDP's candidate events, both read as events; GDELT's event
exports are `gdelt`), on the building blocks of `cells`: each turns a published file
into canonical records, so the rows go through exactly the validation, rejects and
provenance of any other file. What becomes which indicator, with which grades and
citation, is read from the mapping file of the data set (`mapping.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from ..catalog import Catalog
from ..errors import IngestError
from .acled import read_acled
from .cells import Rows
from .gdelt_dyads import looks_like_dyad_scores, read_dyad_scores
from .imf import looks_like_imf, read_imf
from .mapping import load_countries, load_mapping
from .readers import Table
from .sipri import looks_like_sipri, read_sipri
from .ucdp import looks_like_ucdp, read_ucdp
from .ucdp_ged import looks_like_ucdp_ged, read_ucdp_ged
from .validate import OBSERVATION_COLUMNS
from .worldbank import looks_like_worldbank, read_worldbank

__all__ = ["EVENT_FORMATS", "PUBLISHED_FORMATS", "read_published", "sniff_published"]

PUBLISHED_FORMATS = ("worldbank", "imf", "sipri", "gdelt-edges", "ucdp", "ucdp-ged", "acled")
EVENT_FORMATS = ("ucdp", "ucdp-ged", "acled")  # published layouts read as events
MAPPING_FOR_FORMAT = {
    "worldbank": "worldbank",
    "imf": "imf_weo",
    "sipri": "sipri",
    "gdelt-edges": "gdelt_edges",
}


def sniff_published(path: Path, head: bytes) -> str | None:
    """Which published layout the first bytes show, if any."""
    if looks_like_imf(head):
        return "imf"
    if looks_like_worldbank(path, head):
        return "worldbank"
    if looks_like_sipri(path, head):
        return "sipri"
    if looks_like_dyad_scores(head):
        return "gdelt-edges"
    if looks_like_ucdp(head):
        return "ucdp"
    if looks_like_ucdp_ged(head):
        return "ucdp-ged"
    return None


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
    The UCDP/PRIO conflict-years, the UCDP candidate events and ACLED's events are
    read as events (`ucdp.read_ucdp`, `ucdp_ged.read_ucdp_ged`, `acled.read_acled`).
    """
    if fmt == "ucdp":
        return read_ucdp(path, catalog, today)
    if fmt == "ucdp-ged":
        return read_ucdp_ged(path, catalog, today)
    if fmt == "acled":
        return read_acled(path, catalog, today)
    mapping = load_mapping(catalog, MAPPING_FOR_FORMAT[fmt])
    indicators = sorted({s.indicator for s in mapping.series.values()})
    rows = Rows(mapping, catalog, today, known(mapping.source, indicators) if known else {})
    if fmt == "worldbank":
        records = read_worldbank(path, rows)
    elif fmt == "imf":
        records = read_imf(path, rows, load_countries(catalog))
    elif fmt == "sipri":
        records = read_sipri(path, rows, load_countries(catalog))
    elif fmt == "gdelt-edges":
        records = read_dyad_scores(path, rows)
    else:
        raise IngestError(f"{path}: unknown published format {fmt!r}")
    table = Table("observations", OBSERVATION_COLUMNS, records, rows.close)
    table.skipped = rows.skipped
    table.mapping_digest = mapping.digest
    return table
