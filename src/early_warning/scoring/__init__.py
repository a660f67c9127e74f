"""The composite escalation-risk score: normalise, weight, aggregate, then test it.

    results = score(store, catalog, profile, "BLR", as_of)      # every week up to as_of
    results.week(-1)             # the `score --json` record of the latest week
    results.drivers(-1)          # what moved it since the week before
    analysis = sensitivity(store, catalog, profile, "BLR", as_of)

Modules: `normalise` (risk in [0, 1] per indicator), `aggregate` (families and the
composite, with coverage), `profiles` (weight profiles in YAML), `index` (the
`CompositeIndex(...).fit(panel) -> ScoreResults` model), `sensitivity` (Monte Carlo
bands and Sobol indices).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..panel import PanelBuilder
from ..store import Store
from .index import CompositeIndex, Driver, ScoreResults
from .profiles import Profile, list_profiles, load_profile, parse_profile, save_profile
from .sensitivity import SensitivityResult, monte_carlo, rank_stability, sobol_indices

__all__ = [
    "CompositeIndex",
    "Driver",
    "Profile",
    "ScoreResults",
    "SensitivityResult",
    "list_profiles",
    "load_profile",
    "parse_profile",
    "record_scores",
    "save_profile",
    "score",
    "sensitivity",
]


def score(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    as_of: dt.date,
    *,
    point_in_time: bool = False,
    start: dt.date | None = None,
    builder: PanelBuilder | None = None,
) -> ScoreResults:
    """Score every week of a subject up to `as_of` under a profile."""
    builder = builder or PanelBuilder.from_store(store, catalog, subject, start=start, end=as_of)
    panel = builder.panel(as_of, point_in_time=point_in_time)
    return CompositeIndex(catalog, profile).fit(panel)


def record_scores(
    store: Store, catalog: Catalog, results: ScoreResults, rows: list[int] | None = None
) -> None:
    """Store weekly scores with the profile hash and data vintage; audit the profile."""
    profile = results.profile
    content = profile.to_yaml(catalog)
    store.record_profile(profile.name, profile.weights_hash, content, "used")
    vintage = store.data_vintage(results.panel.subject)
    now = store.now()
    rows = list(range(results.panel.n_weeks)) if rows is None else rows
    records = []
    for row in rows:
        if np.isnan(results.score[row]):
            continue
        week = results.week(row)
        records.append(
            {
                "subject": week["subject"],
                "week_date": week["week_date"],
                "as_of": results.panel.as_of.isoformat(),
                "point_in_time": int(results.panel.point_in_time),
                "profile": profile.name,
                "profile_hash": profile.weights_hash,
                "catalog_version": catalog.version,
                "data_vintage": vintage,
                "score": week["score"],
                "band": week["band"],
                "coverage": week["coverage"],
                "record": json.dumps(week, ensure_ascii=False),
                "computed_at": now,
            }
        )
    store.record_scores(records)


def sensitivity(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    as_of: dt.date,
    *,
    point_in_time: bool = False,
    draws: int | None = None,
    concentration: float | None = None,
    seed: int | None = None,
    sobol_samples: int = 256,
    progress: Callable[[int], None] | None = None,
    results: ScoreResults | None = None,
) -> SensitivityResult:
    """Monte Carlo band, probability of `high` or worse, rank stability and Sobol indices."""
    u = profile.uncertainty
    draws = draws or u.draws
    concentration = concentration or u.concentration
    seed = u.seed if seed is None else seed
    results = results or score(store, catalog, profile, subject, as_of, point_in_time=point_in_time)
    mc = monte_carlo(
        results, draws=draws, concentration=concentration, seed=seed, progress=progress
    )
    row = results.latest_row
    valid = mc.latest
    high_floor = profile.band_floor("high")
    p_high = round(float(np.mean(valid >= high_floor)), 4) if len(valid) else None
    band = {
        "score": _round(results.score[row]),
        "low": _round(mc.low[row]),
        "median": _round(mc.median[row]),
        "high": _round(mc.high[row]),
        "valid_draws": len(valid),
        "by_aggregation": {
            method: _band_of(valid[mc.latest_methods == method])
            for method in sorted(set(mc.latest_methods.tolist()))
        },
    }
    history = {
        "dates": [results.panel.date(r).isoformat() for r in range(results.panel.n_weeks)],
        "score": [_round(x) for x in results.score],
        "low": [_round(x) for x in mc.low],
        "high": [_round(x) for x in mc.high],
    }
    outcome = SensitivityResult(
        subject=subject,
        as_of=as_of.isoformat(),
        profile=profile.name,
        profile_hash=profile.weights_hash,
        draws=draws,
        concentration=concentration,
        seed=seed,
        band=band,
        p_high_or_worse=p_high,
        rank_stability=rank_stability(results, mc),
        sobol=sobol_indices(results, samples=sobol_samples, seed=seed),
        history=history,
    )
    store.record_sensitivity(
        {
            "subject": subject,
            "as_of": as_of.isoformat(),
            "point_in_time": int(point_in_time),
            "profile": profile.name,
            "profile_hash": profile.weights_hash,
            "data_vintage": store.data_vintage(subject),
            "draws": draws,
            "concentration": concentration,
            "seed": seed,
            "result": json.dumps(outcome.to_dict()),
        }
    )
    return outcome


def _band_of(draws: np.ndarray) -> dict[str, Any]:
    low, median, high = np.percentile(draws, [5, 50, 95])
    return {"draws": len(draws), "low": _round(low), "median": _round(median), "high": _round(high)}


def _round(value: Any) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 4)
