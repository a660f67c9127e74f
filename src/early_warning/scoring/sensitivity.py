"""Uncertainty and sensitivity analysis of the composite (OECD/JRC Handbook, step 7).

Monte Carlo: each draw takes family weights and indicator weights from Dirichlet
distributions centred on the profile's weights (concentration set by the analyst:
higher means the draws stay closer), a normalisation method for each continuous
indicator (minmax or log on the same goalposts) and an aggregation method; it rescores
every week with the same coverage rules. The result is a 5-95% band for every week,
the probability that the latest score is `high` or worse, and how stable the ranking
of the families' contributions is.

Sobol indices (SALib, Saltelli sampling): first-order and total indices of every
positive weight on the latest score, each weight varying uniformly by +-`sobol_range`.

Speed: weeks are grouped by their pattern of available indicators. Within a pattern
the draws' effective weights are fixed, so every draw's score for all those weeks is
one matrix product; a week pattern costs one small weight computation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog import Catalog
from .aggregate import FLOOR, Structure
from .index import CompositeIndex, ScoreResults
from .normalise import normalise_panel
from .profiles import AGGREGATIONS as AGG_METHODS

__all__ = [
    "MonteCarlo",
    "SensitivityResult",
    "analyse",
    "effective_weights",
    "monte_carlo",
    "rank_stability",
    "sobol_indices",
]

Progress = Callable[[int], None]


@dataclass
class MonteCarlo:
    """Scores of every draw for every week."""

    latest: np.ndarray  # the valid draws' scores in the latest week
    latest_methods: np.ndarray  # the aggregation method of each of those draws
    low: np.ndarray  # 5th percentile per week
    median: np.ndarray
    high: np.ndarray  # 95th percentile per week
    family_contribution_latest: np.ndarray  # draws x families, at the latest week
    # P(score >= level) per week over the valid draws, for each level asked for
    exceedance: dict[float, np.ndarray] = field(default_factory=dict)


@dataclass
class SensitivityResult:
    subject: str
    as_of: str
    profile: str
    profile_hash: str
    draws: int
    concentration: float
    seed: int
    band: dict[str, Any]
    p_high_or_worse: float | None
    rank_stability: dict[str, Any]
    sobol: dict[str, Any]
    history: dict[str, list[Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def draw_weights(
    rng: np.random.Generator,
    structure: Structure,
    indicator_weights: np.ndarray,
    family_weights: np.ndarray,
    concentration: float,
    draws: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet draws around the profile: (draws x indicators, draws x families)."""
    fam = np.zeros((draws, len(family_weights)))
    active = family_weights > 0
    if active.sum() == 1:
        fam[:, active] = 1.0
    else:
        alpha = concentration * family_weights[active] / family_weights[active].sum()
        fam[:, active] = rng.dirichlet(alpha, size=draws)
    ind = np.zeros((draws, len(indicator_weights)))
    for k in range(len(structure.families)):
        cols = structure.members(k)
        cols = cols[indicator_weights[cols] > 0]
        if len(cols) == 1:
            ind[:, cols] = 1.0
        elif len(cols) > 1:
            alpha = concentration * indicator_weights[cols] / indicator_weights[cols].sum()
            ind[:, cols] = rng.dirichlet(alpha, size=draws)
    return ind, fam


def effective_weights(
    observed: np.ndarray,
    structure: Structure,
    ind: np.ndarray,
    fam: np.ndarray,
    min_family: float,
    min_total: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For one pattern of available indicators: each draw's weight on each indicator.

    `observed` is a boolean vector over indicators; `ind`, `fam` are draws x weights.
    Returns (draws x indicators weights summing to 1 over scored families, valid draws),
    by the rules of `aggregate` (see `_pattern_coefficients`).
    """
    coefficient, valid = _pattern_coefficients(
        observed[None, :], structure, ind, fam, min_family, min_total
    )
    return ind * coefficient[:, structure.family_of, 0] * observed, valid[:, 0]


def _pattern_coefficients(
    patterns: np.ndarray,
    structure: Structure,
    ind: np.ndarray,
    fam: np.ndarray,
    min_family: float,
    min_total: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For every draw and availability pattern: each family's multiplier, and validity.

    A draw's score for a week with pattern p is sum_i c[f(i), p] * w_i * r_i over the
    indicators available in p; c folds in the renormalisation within the family, the
    family weight and the renormalisation over scored families (the rules of
    `aggregate`). Computed for all patterns at once with one product per family.
    Returns c (draws x families x patterns) and valid (draws x patterns).
    """
    draws, n_pat = ind.shape[0], patterns.shape[0]
    n_fam = len(structure.families)
    coefficient = np.zeros((draws, n_fam, n_pat))
    used = np.zeros((draws, n_pat))
    covered = np.zeros((draws, n_pat))
    for k in range(n_fam):
        cols = structure.members(k)
        total = ind[:, cols].sum(axis=1)[:, None]
        with_data = ind[:, cols] @ patterns[:, cols].T.astype(float)
        coverage = np.divide(with_data, total, out=np.zeros_like(with_data), where=total > 0)
        ok = (coverage >= min_family) & (with_data > 0) & (fam[:, k] > 0)[:, None]
        weight = np.where(ok, fam[:, k][:, None], 0.0)
        coefficient[:, k, :] = np.divide(
            weight, with_data, out=np.zeros_like(weight), where=with_data > 0
        )
        used += weight
        covered += weight * coverage
    active_total = np.where(fam > 0, fam, 0.0).sum(axis=1)[:, None]
    valid = (used > 0) & (covered / np.where(active_total > 0, active_total, 1.0) >= min_total)
    coefficient /= np.where(used > 0, used, 1.0)[:, None, :]
    return coefficient, valid


def monte_carlo(
    results: ScoreResults,
    *,
    draws: int,
    concentration: float,
    seed: int,
    progress: Progress | None = None,
    exceed_levels: Sequence[float] = (),
) -> MonteCarlo:
    """Rescore every week under `draws` perturbations of weights, normalisation, aggregation."""
    index, panel, profile = results.index, results.panel, results.profile
    u = profile.uncertainty
    rng = np.random.default_rng(seed)
    w, families = index.weight_arrays()
    ind, fam = draw_weights(rng, index.structure, w, families, concentration, draws)
    methods = np.array(u.aggregation)[rng.integers(0, len(u.aggregation), size=draws)]
    risk_a, risk_b, alternative = _normalisations(
        index.catalog, index, panel.values, u.normalisation
    )
    pick_b = alternative[None, :] & (rng.random((draws, len(index.indicators))) < 0.5)
    # Draws grouped by aggregation method, so each group is a slice (a view, no copy).
    by_method = np.argsort(methods, kind="stable")
    ind, fam, methods, pick_b = (
        ind[by_method],
        fam[by_method],
        methods[by_method],
        pick_b[by_method],
    )
    # One weight matrix over [declared normalisation | alternative]: one product per block.
    weight_ab = np.hstack([ind * ~pick_b, ind * pick_b])

    observed = ~np.isnan(risk_a)
    patterns, pattern_of_week = np.unique(observed, axis=0, return_inverse=True)
    pattern_of_week = pattern_of_week.ravel()
    coefficient, valid = _pattern_coefficients(
        patterns, index.structure, ind, fam, profile.min_family_coverage, profile.min_total_coverage
    )
    # Weeks sorted by pattern: each pattern's weeks are one block, scored for all draws
    # by one product per method, and summarised (percentiles) without keeping the block.
    order = np.argsort(pattern_of_week, kind="stable")
    bounds = np.searchsorted(pattern_of_week[order], np.arange(len(patterns) + 1))
    both = np.hstack([np.nan_to_num(risk_a), np.nan_to_num(risk_b)])[order]
    terms = {"arithmetic": both, "geometric": np.log(np.maximum(both, FLOOR))}
    n_ind = len(index.indicators)
    groups = {}
    for method in AGG_METHODS:
        found = np.flatnonzero(methods == method)
        if len(found):
            groups[method] = slice(found[0], found[-1] + 1)
    bands = np.full((3, panel.n_weeks), np.nan)  # in pattern order
    exceed = np.full((len(exceed_levels), panel.n_weeks), np.nan)
    latest_row = int(np.flatnonzero(order == results.latest_row)[0])
    latest_draws, latest_methods = np.empty(0), np.empty(0, dtype=str)
    for p in range(len(patterns)):
        lo, hi = bounds[p], bounds[p + 1]
        cols = np.flatnonzero(patterns[p])
        if lo == hi or not len(cols):
            continue
        cols_ab = np.concatenate([cols, cols + n_ind])
        family_ab = np.concatenate([index.structure.family_of[cols]] * 2)
        parts, labels = [], []
        for method, rows in groups.items():
            scaled = weight_ab[rows][:, cols_ab] * coefficient[rows, family_ab, p]
            part = terms[method][lo:hi][:, cols_ab] @ scaled.T
            if method == "geometric":
                np.exp(part, out=part)
            ok = valid[rows, p]
            parts.append(part if ok.all() else part[:, ok])
            labels.append(np.full(int(ok.sum()), method))
        if not parts:
            continue
        block = np.hstack(parts) if len(parts) > 1 else parts[0]  # weeks of p x valid draws
        if not block.shape[1]:
            continue  # no draw gives a score for these weeks
        block *= 100.0
        if lo <= latest_row < hi:
            latest_draws = block[latest_row - lo].copy()
            latest_methods = np.concatenate(labels)
        for k, level in enumerate(exceed_levels):
            exceed[k, lo:hi] = (block >= level).mean(axis=1)
        bands[:, lo:hi] = _row_percentiles(block, (0.05, 0.5, 0.95))
        if progress:
            progress(1)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    low, median, high = (b[inverse] for b in bands)
    latest = _family_contributions_latest(results, ind, fam, pick_b, risk_a, risk_b)
    exceedance = {float(level): exceed[k][inverse] for k, level in enumerate(exceed_levels)}
    return MonteCarlo(latest_draws, latest_methods, low, median, high, latest, exceedance)


def _row_percentiles(block: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """Quantiles of each row with linear interpolation (numpy's default), in place.

    One partial sort of the block we own, instead of np.percentile's copy per call.
    """
    n = block.shape[1]
    positions = [q * (n - 1) for q in quantiles]
    kth = sorted({int(np.floor(x)) for x in positions} | {int(np.ceil(x)) for x in positions})
    block.partition(kth, axis=1)
    out = np.empty((len(quantiles), block.shape[0]))
    for k, x in enumerate(positions):
        below, above = int(np.floor(x)), int(np.ceil(x))
        fraction = x - below
        out[k] = block[:, below] + fraction * (block[:, above] - block[:, below])
    return out


def _normalisations(
    catalog: Catalog, index: CompositeIndex, values: np.ndarray, allowed: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The declared normalisation and an alternative where the analyst allows one."""
    declared = normalise_panel(catalog, index.indicators, values)
    other = {}
    for ind_id in index.indicators:
        method = catalog.indicators[ind_id].normalisation["method"]
        if method in ("minmax", "log"):
            choices = [m for m in allowed if m != method]
            if choices and method in allowed:
                other[ind_id] = choices[0]
    alternative = np.array([i in other for i in index.indicators])
    return declared, normalise_panel(catalog, index.indicators, values, other), alternative


def _family_contributions_latest(
    results: ScoreResults,
    ind: np.ndarray,
    fam: np.ndarray,
    pick_b: np.ndarray,
    risk_a: np.ndarray,
    risk_b: np.ndarray,
) -> np.ndarray:
    """Each draw's arithmetic contribution of each family to the latest score."""
    index, profile = results.index, results.profile
    row = results.latest_row
    observed = ~np.isnan(risk_a[row])
    v, valid = effective_weights(
        observed, index.structure, ind, fam, profile.min_family_coverage, profile.min_total_coverage
    )
    risk = np.where(pick_b, np.nan_to_num(risk_b[row]), np.nan_to_num(risk_a[row]))
    per_indicator = 100.0 * v * risk
    out = np.full((ind.shape[0], len(index.structure.families)), np.nan)
    for k in range(len(index.structure.families)):
        out[:, k] = per_indicator[:, index.structure.members(k)].sum(axis=1)
    out[~valid] = np.nan
    return out


def rank_stability(results: ScoreResults, mc: MonteCarlo) -> dict[str, Any]:
    """How often each family keeps the rank of its contribution to the latest score."""
    families = results.index.structure.families
    row = results.latest_row
    nominal = np.array(
        [
            results.agg.contributions[row, results.index.structure.members(k)].sum()
            for k in range(len(families))
        ]
    )
    scored = [k for k in range(len(families)) if results.agg.sufficient[row, k]]
    if not scored:
        return {}
    draws = mc.family_contribution_latest[:, scored]
    draws = draws[~np.isnan(draws).any(axis=1)]
    nominal_rank = {k: r + 1 for r, k in enumerate(sorted(scored, key=lambda k: -nominal[k]))}
    ranks = np.argsort(np.argsort(-draws, axis=1), axis=1) + 1
    out = {}
    for position, k in enumerate(scored):
        column = ranks[:, position]
        counts = np.bincount(column, minlength=len(scored) + 1)
        out[families[k]] = {
            "rank": nominal_rank[k],
            "share_at_rank": round(float(np.mean(column == nominal_rank[k])), 4)
            if len(column)
            else None,
            "modal_rank": int(np.argmax(counts)),
            "rank_range_90": [int(np.percentile(column, 5)), int(np.percentile(column, 95))]
            if len(column)
            else None,
        }
    return out


def sobol_indices(results: ScoreResults, samples: int = 256, seed: int = 0) -> dict[str, Any]:
    """First-order and total Sobol indices of the positive weights on the latest score."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    index, profile = results.index, results.profile
    row = results.latest_row
    if np.isnan(results.agg.score[row]):
        return {"computed": False, "reason": "no score in the latest week"}
    w, families = index.weight_arrays()
    names, bounds, slots = [], [], []
    spread = profile.uncertainty.sobol_range
    for j, ind_id in enumerate(index.indicators):
        if w[j] > 0 and results.panel.status[row, j] == 0:
            names.append(ind_id)
            bounds.append([w[j] * (1 - spread), w[j] * (1 + spread)])
            slots.append(("indicator", j))
    for k, fam in enumerate(index.structure.families):
        if families[k] > 0 and results.agg.sufficient[row, k]:
            names.append(f"family:{fam}")
            bounds.append([families[k] * (1 - spread), families[k] * (1 + spread)])
            slots.append(("family", k))
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    sample = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    ind = np.tile(w, (len(sample), 1))
    fam = np.tile(families, (len(sample), 1))
    for column, (kind, position) in enumerate(slots):
        (ind if kind == "indicator" else fam)[:, position] = sample[:, column]
    # Which families are scored is held as in the nominal score: the indices measure how
    # the weights move the score, not whether a family crosses the coverage minimum.
    fam[:, ~results.agg.sufficient[row]] = 0.0
    risk = results.risk[row]
    observed = ~np.isnan(risk)
    v, _ = effective_weights(observed, index.structure, ind, fam, 0.0, 0.0)
    if profile.aggregation == "geometric":
        y = 100.0 * np.exp(v @ np.log(np.maximum(np.nan_to_num(risk), FLOOR)))
    else:
        y = 100.0 * (v @ np.nan_to_num(risk))
    if np.ptp(y) < 1e-12:
        return {"computed": False, "reason": "the latest score does not depend on the weights"}
    analysis = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed)
    table = [
        {
            "weight": name,
            "first_order": round(float(s1), 4),
            "total": round(float(st), 4),
            "total_conf": round(float(conf), 4),
        }
        for name, s1, st, conf in zip(
            names, analysis["S1"], analysis["ST"], analysis["ST_conf"], strict=True
        )
    ]
    table.sort(key=lambda item: -item["total"])
    return {"computed": True, "samples": len(sample), "range": spread, "indices": table}


def analyse(
    results: ScoreResults,
    *,
    draws: int | None = None,
    concentration: float | None = None,
    seed: int | None = None,
    sobol_samples: int = 256,
    progress: Callable[[int], None] | None = None,
) -> SensitivityResult:
    """Monte Carlo band, probability of `high` or worse, rank stability and Sobol indices
    of a scored series (the profile's own uncertainty settings unless given)."""
    profile = results.profile
    u = profile.uncertainty
    draws = draws or u.draws
    concentration = concentration or u.concentration
    seed = u.seed if seed is None else seed
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
    return SensitivityResult(
        subject=results.panel.subject,
        as_of=results.panel.as_of.isoformat(),
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


def _band_of(draws: np.ndarray) -> dict[str, Any]:
    low, median, high = np.percentile(draws, [5, 50, 95])
    return {"draws": len(draws), "low": _round(low), "median": _round(median), "high": _round(high)}


def _round(value: Any) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 4)
