"""The composite escalation-risk score: normalise, weight, aggregate, then test it.

Pure: a panel in, numbers out; nothing here reads or writes the database (that is
`early_warning.services`: `score`, `record_scores`, `sensitivity`).

    results = CompositeIndex(catalog, profile).fit(panel)   # every week of the panel
    results.week(-1)             # the `score --json` record of the latest week
    results.drivers(-1)          # what moved it since the week before
    analysis = analyse(results)  # Monte Carlo band, rank stability, Sobol indices

Modules: `normalise` (risk in [0, 1] per indicator), `aggregate` (families and the
composite, with coverage), `profiles` (weight profiles in YAML), `index` (the
`CompositeIndex(...).fit(panel) -> ScoreResults` model), `sensitivity` (Monte Carlo
bands and Sobol indices).
"""

from __future__ import annotations

from .index import CompositeIndex, Driver, ScoreResults
from .profiles import Profile, list_profiles, load_profile, parse_profile, save_profile
from .sensitivity import SensitivityResult, analyse, monte_carlo, rank_stability, sobol_indices

__all__ = [
    "CompositeIndex",
    "Driver",
    "Profile",
    "ScoreResults",
    "SensitivityResult",
    "analyse",
    "list_profiles",
    "load_profile",
    "monte_carlo",
    "parse_profile",
    "rank_stability",
    "save_profile",
    "sobol_indices",
]
