"""The structural model with the database: its panel, outlook and backtest from the
store, recorded when asked, and the prior the weekly forecast reads.

Inputs: the conflict record is the year-dated events of kind `armed_conflict` (the
UCDP/PRIO importer writes them); a year counts as covered from the day the UCDP
release holding it became known (the earliest `known_from` of that year's UCDP
events), so an event typed in by hand never makes a year look complete. GDP and
military spending come from `country_years` (every country); the states and their
regions from mappings/gleditsch_ward.csv; the panel holds the states for which
`country_years` has any value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..catalog import Catalog
from ..forecast.structural import (
    GDP,
    MILEX,
    ConflictRow,
    CountryYearPanel,
    State,
    StructuralOutlook,
    StructuralSpec,
    ValueRow,
    outlook,
)
from ..forecast.structural_backtest import OUTCOMES, StructuralBacktest, structural_backtest
from ..ingest.ucdp import load_states, load_ucdp_mapping
from ..store import Store

__all__ = [
    "record_structural",
    "record_structural_backtest",
    "spec_hash",
    "structural_at",
    "structural_backtest_from_store",
    "structural_panel",
    "structural_prior",
]


def structural_panel(
    store: Store, catalog: Catalog, *, last_year: int | None = None
) -> CountryYearPanel:
    """The country-year panel from the store: every row as known on its origin."""
    mapping = load_ucdp_mapping(catalog)
    values = [
        ValueRow(r["subject"], r["indicator"], int(r["year"]), float(r["value"]),
                 dt.date.fromisoformat(r["known_from"]))
        for r in store.country_year_values([GDP, MILEX])
    ]  # fmt: skip
    # The states the data speak for: those with any country-year value (a state with
    # none would look peaceful for want of data, as the world would to a regional file).
    present = {v.subject for v in values}
    states = [
        State(s.iso3, s.start, s.end, s.region)
        for s in load_states(catalog).values()
        if s.iso3 in present
    ]
    conflicts, coverage = [], {}
    for row in store.year_events(mapping.kind):
        year = int(row["date"][:4])
        known = dt.date.fromisoformat(row["known_from"])
        conflicts.append(ConflictRow(row["subject"], year, int(row["severity"]), known))
        if row["source"] == mapping.source:
            coverage[year] = min(coverage.get(year, known), known)
    if coverage:
        last_year = max(last_year or 0, max(coverage) + 2)
    return CountryYearPanel.build(states, conflicts, values, coverage, last_year=last_year)


def default_year(panel: CountryYearPanel) -> int | None:
    """The forecast year the data are made for: two years after the last covered one."""
    known = panel.years[panel.label_known < 10**8]
    return int(known.max()) + 2 if len(known) else None


def spec_hash(specs: Mapping[str, StructuralSpec]) -> str:
    text = json.dumps({k: v.to_dict() for k, v in sorted(specs.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _specs() -> dict[str, StructuralSpec]:
    return {o: StructuralSpec(o) for o in OUTCOMES}


def structural_at(
    store: Store,
    catalog: Catalog,
    subject: str,
    year: int | None = None,
    *,
    top: int = 20,
    panel: CountryYearPanel | None = None,
) -> StructuralOutlook | None:
    """Both outcomes for `year` (default: two years after the last covered one), as
    known on 31 December of the year before; None when there is no conflict record."""
    panel = panel or structural_panel(store, catalog, last_year=year)
    year = year or default_year(panel)
    if year is None or not (panel.years == year).any():
        return None
    return outlook(panel, year, subject, _specs(), top)


def record_structural(store: Store, result: StructuralOutlook) -> int:
    """Keep every country's forecast of one outlook; return how many rows were new."""
    return store.record_structural_forecasts(
        result.rows(spec_hash(_specs()), store.structural_vintage())
    )


def structural_backtest_from_store(
    store: Store, catalog: Catalog, start: int, end: int, *, draws: int = 2000
) -> StructuralBacktest:
    """The year-by-year, point-in-time backtest of both outcomes (reads only)."""
    panel = structural_panel(store, catalog, last_year=end)
    return structural_backtest(panel, start, end, _specs(), draws=draws)


def record_structural_backtest(store: Store, record: StructuralBacktest) -> int:
    """Keep each year's point-in-time forecast (as of 31 December of the year before),
    so the weekly forecasts of past weeks find the prior that stood then."""
    rows: list[dict[str, Any]] = []
    digest, vintage = spec_hash(record.specs), store.structural_vintage()
    for outcome in record.predictions:
        by_year: dict[int, list[dict[str, Any]]] = {}
        for item in record.rows(outcome):
            by_year.setdefault(item["year"], []).append(item)
        for year, items in by_year.items():
            items.sort(key=lambda r: (-r["probability"], r["subject"]))
            for rank, item in enumerate(items, start=1):
                rows.append(
                    {
                        "subject": item["subject"], "as_of": dt.date(year - 1, 12, 31).isoformat(),
                        "year": year, "outcome": outcome,
                        "probability": round(item["probability"], 6), "rank": rank,
                        "ranked": len(items), "status": "fitted", "data_year": None,
                        "drivers": "[]", "spec_hash": digest, "data_vintage": vintage,
                    }
                )  # fmt: skip
    return store.record_structural_forecasts(rows)


def structural_prior(store: Store, subject: str, on: dt.date) -> dict[str, Any] | None:
    """The recorded structural probability of armed conflict for `subject` that stood on
    `on`: for the year of `on` or the latest before it, made as of `on` or earlier."""
    row = store.structural_forecast_for(subject, on.year, on.isoformat())
    if row is None:
        return None
    return {
        "probability_year": float(row["probability"]),
        "year": int(row["year"]),
        "as_of": row["as_of"],
        "rank": row["rank"],
        "ranked": row["ranked"],
    }
