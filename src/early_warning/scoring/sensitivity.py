"""Uncertainty and sensitivity analysis of the composite (OECD/JRC Handbook, step 7).

Monte Carlo: each draw takes family weights and indicator weights from Dirichlet
distributions centred on the profile's weights (concentration set by the analyst:
higher means the draws stay closer) and rescores every week with the same coverage
rules, under the profile's own aggregation and the catalog's normalisation. The result
is a 5-95% band for every week that has a score (none where it has not), the
probability that the latest score is `high` or worse, and how stable the ranking of
the families' contributions is. The band is weight uncertainty only, so the point
score lies inside it.

Method uncertainty is reported beside the band, not pooled into it
(`method_uncertainty`): the latest score under each other aggregation method, and
under the other normalisation (minmax or log on the same goalposts), that the
profile's uncertainty settings allow. Pooling them put the point score at the band's
edge: a geometric mean of the same risks is lower, by a gap that is a choice of method,
not noise around the weights.

Sobol indices (SALib's Saltelli sample and estimators): first-order and total indices
of every positive weight on the latest score, each weight varying uniformly by
+-`sobol_range`, with their 95% intervals and a note when the sample is too small to
tell first-order from total indices (`sobol_summary`). The estimators and their
bootstrap intervals are SALib's `sobol.analyze`, computed for all weights at once
(`sobol_analyze`; a test holds them to SALib's within 1e-12), and the sample's scores
are summed per family over the sampled weights only (`_latest_scores`).

Speed: the drawn weights are never rescaled per week. A week's score under a draw is
sum over families of c * (the family's drawn weights . the week's risks), where c, the
family's coefficient (its weight, the renormalisation within the family and over the
scored families), depends only on the draw and the week's pattern of available
indicators. So the products are one per family for all weeks (weeks x draws, in
chunks of weeks), the coefficients are applied on the output side, and the band takes
one partial sort on the three ranks it needs. `benchmarks/bench_scoring.py` measures
it against one product of the same shape plus that partition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..panel import Panel
from .aggregate import FLOOR, Structure
from .index import CompositeIndex, ScoreResults
from .normalise import normalise_panel

__all__ = [
    "SOBOL_RESOLUTION",
    "SOBOL_SAMPLES",
    "MonteCarlo",
    "SensitivityResult",
    "analyse",
    "effective_weights",
    "method_uncertainty",
    "monte_carlo",
    "rank_stability",
    "sobol_analyze",
    "sobol_indices",
    "sobol_summary",
]

Progress = Callable[[int], None]

# Sobol indices closer than this (a share of the score's variance) are not read as
# different: below it, an interaction is too small to change how the weights are read.
SOBOL_RESOLUTION = 0.05
# The Sobol base sample N (a power of two): on the shipped demo (52 weights in the
# score), 2048 tells every weight's first-order index from its total one at that
# resolution, in about 0.1 s (once scipy.stats is imported); 1024 left one weight, 256
# four.
SOBOL_SAMPLES = 2048


@dataclass
class MonteCarlo:
    """Scores of every draw for every week, under one aggregation method."""

    method: str  # the aggregation method of every draw (the profile's own by default)
    latest: np.ndarray  # the valid draws' scores in the latest week
    low: np.ndarray  # 5th percentile per week; NaN where the point score is NaN
    median: np.ndarray
    high: np.ndarray  # 95th percentile per week
    family_contribution_latest: np.ndarray  # draws x families, at the latest week
    indicator_draws: np.ndarray  # draws x indicators: the weights drawn
    family_draws: np.ndarray  # draws x families
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
    method_uncertainty: list[dict[str, Any]]
    p_high_or_worse: float | None
    rank_stability: dict[str, Any]
    sobol: dict[str, Any]
    history: dict[str, list[Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def method_lines(self) -> list[str]:
        """The latest score under each other method, in words (one line each), and
        where a choice of method moves the score more than the weights do."""
        band = self.band
        if band["low"] is None or band["high"] is None:
            return []
        lines = []
        for m in self.method_uncertainty:
            if m["choice"] == "aggregation":
                where = f"under {m['method']} aggregation"
            else:
                count = len(m["indicators"])
                where = f"with the other normalisation (minmax <-> log) of {count} indicator(s)"
            spread = ""
            if m.get("low") is not None:
                spread = f"; 5-95% {m['low']:.1f} .. {m['high']:.1f} with the same weight draws"
            lines.append(
                f"{where} the score would be {m['score']:.1f} ({m['shift']:+.1f} points{spread})"
            )
            if abs(m["shift"]) > (band["high"] - band["low"]) / 2:
                lines.append(
                    f"the choice of {m['choice']} moves the score more than the weights do"
                )
        return lines


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
    method: str | None = None,
) -> MonteCarlo:
    """Rescore every week under `draws` perturbations of the weights.

    The aggregation is the profile's own (or `method`) and the normalisation the
    catalog's, in every draw: the band is the uncertainty of the weights alone, so the
    point score lies inside it. Other methods are compared at the latest week by
    `method_uncertainty`, never pooled into the band. A week without a point score gets
    no band (NaN): a draw's weights may pass the coverage rules where the profile's do
    not, but that is not a score anyone was shown.
    """
    index, panel, profile = results.index, results.panel, results.profile
    method = method or profile.aggregation
    rng = np.random.default_rng(seed)
    w, families = index.weight_arrays()
    ind, fam = draw_weights(rng, index.structure, w, families, concentration, draws)
    risk = results.risk
    observed = ~np.isnan(risk)
    patterns, pattern_of_week = np.unique(observed, axis=0, return_inverse=True)
    pattern_of_week = pattern_of_week.ravel()
    coefficient, valid = _pattern_coefficients(
        patterns, index.structure, ind, fam, profile.min_family_coverage, profile.min_total_coverage
    )
    terms = np.where(observed, np.nan_to_num(risk), 0.0)
    if method == "geometric":  # a missing value is a zero term either way
        terms = np.where(observed, np.log(np.maximum(terms, FLOOR)), 0.0)
    # Only weeks with a point score get a band, and only under a pattern some draw passes.
    bandable = ~np.isnan(results.score) & valid.any(axis=0)[pattern_of_week] & observed.any(axis=1)
    rows = np.flatnonzero(bandable)
    rows = rows[np.argsort(pattern_of_week[rows], kind="stable")]  # a pattern's weeks together
    bands = np.full((3, panel.n_weeks), np.nan)
    exceed = np.full((len(exceed_levels), panel.n_weeks), np.nan)
    latest_draws = np.empty(0)
    members = [index.structure.members(k) for k in range(len(index.structure.families))]
    by_family = [(cols, np.ascontiguousarray(ind[:, cols].T)) for cols in members if len(cols)]
    by_pattern = np.ascontiguousarray(coefficient.transpose(2, 1, 0))[
        :, [k for k, cols in enumerate(members) if len(cols)]
    ]
    per_chunk = max(16, _CHUNK_CELLS // max(1, draws))
    chunks = np.array_split(rows, -(-len(rows) // per_chunk)) if len(rows) else []
    reported = 0
    for n, chunk in enumerate(chunks):
        if progress:  # in patterns, as the caller counts them
            share = len(patterns) * n // len(chunks)
            progress(share - reported)
            reported = share
        block = _chunk_scores(terms[chunk], by_family, by_pattern, pattern_of_week[chunk])
        if method == "geometric":
            np.exp(block, out=block)
        block *= 100.0
        patterns_here = pattern_of_week[chunk]
        if results.latest_row in chunk:
            at = int(np.flatnonzero(chunk == results.latest_row)[0])
            latest_draws = block[at, valid[:, patterns_here[at]]]  # a copy, in draw order
        # Weeks whose every draw is valid are summarised together (in place when that is
        # the whole chunk); the rest pattern by pattern, over that pattern's valid draws.
        full = valid[:, patterns_here].all(axis=0)
        groups = [(np.flatnonzero(full), None)] + [
            (np.flatnonzero(patterns_here == p), valid[:, p])
            for p in np.unique(patterns_here[~full])
        ]
        for here, ok in groups:
            if not len(here):
                continue
            part = block if len(here) == len(chunk) else block[here]
            if ok is not None:
                part = part[:, ok]
            for k, level in enumerate(exceed_levels):
                exceed[k, chunk[here]] = (part >= level).mean(axis=1)
            bands[:, chunk[here]] = _row_percentiles(part, (0.05, 0.5, 0.95))
    if progress:
        progress(len(patterns) - reported)
    low, median, high = bands
    latest = _family_contributions_latest(results, ind, fam)
    exceedance = {float(level): exceed[k] for k, level in enumerate(exceed_levels)}
    return MonteCarlo(
        method=method, latest=latest_draws, low=low, median=median, high=high,
        family_contribution_latest=latest, indicator_draws=ind, family_draws=fam,
        exceedance=exceedance,
    )  # fmt: skip


# Weeks scored together: each family's product and the sum are weeks x draws, about
# 4 million doubles (32 MB) each, however long the history; 400 weeks at 10,000 draws.
# (Chunks of a hundred weeks spent more on the products' fixed cost than on the sums.)
_CHUNK_CELLS = 1 << 22


def _chunk_scores(
    terms: np.ndarray,
    by_family: Sequence[tuple[np.ndarray, np.ndarray]],
    coefficient: np.ndarray,
    patterns: np.ndarray,
) -> np.ndarray:
    """Every draw's score (before the geometric exp and the x100) of some weeks.

    The drawn weights stay as drawn: one product per family for all the weeks, then
    each week's pattern coefficients applied on the output side. A week's score under
    draw d is sum_k c[p, k, d] * sum_(i in k) w[d, i] * t_i, the sum `effective_weights`
    takes, with missing values as zero terms. `by_family` holds each family's columns
    and its drawn weights (columns x draws); `coefficient` is patterns x families x
    draws, so that a week's row of coefficients is one contiguous read.
    """
    # The weeks come sorted by pattern: each run of one pattern is scaled by one row.
    starts = np.flatnonzero(np.r_[True, patterns[1:] != patterns[:-1]])
    runs = list(zip(starts, np.r_[starts[1:], len(patterns)], patterns[starts], strict=True))
    out = np.zeros((len(terms), coefficient.shape[2]))
    for k, (cols, weights) in enumerate(by_family):
        per_family = terms[:, cols] @ weights  # weeks x draws
        for a, b, p in runs:
            per_family[a:b] *= coefficient[p, k]
        out += per_family
    return out


def method_uncertainty(results: ScoreResults, mc: MonteCarlo) -> list[dict[str, Any]]:
    """The latest score under each method the profile's uncertainty settings allow.

    One choice at a time, against the profile's own: each other aggregation method, and
    the other normalisation (minmax or log on the same goalposts) for every continuous
    indicator that allows it. Each gives the point score under that method (the
    profile's weights), its shift from the profile's score, and the 5-95% band of the
    same weight draws as the profile's band. Reported beside the band, never pooled
    into it: a method is a choice, not noise around the weights.
    """
    index, profile = results.index, results.profile
    u = profile.uncertainty
    row = results.latest_row
    point = results.score[row]
    if np.isnan(point):
        return []
    observed = ~np.isnan(results.risk[row])
    v, valid = effective_weights(
        observed, index.structure, mc.indicator_draws, mc.family_draws,
        profile.min_family_coverage, profile.min_total_coverage,
    )  # fmt: skip
    out = []

    def entry(choice: str, method: str, risk: np.ndarray, aggregation: str) -> dict[str, Any]:
        score = index.aggregate(risk, method=aggregation).score[row]
        r = np.nan_to_num(risk[row])
        if aggregation == "geometric":
            draws = 100.0 * np.exp(v[valid] @ np.log(np.maximum(r, FLOOR)))
        else:
            draws = 100.0 * (v[valid] @ r)
        return {
            "choice": choice,
            "method": method,
            "score": _round(score),
            "shift": _round(score - point),
            **(_band_of(draws) if len(draws) else {"draws": 0}),
        }

    for aggregation in u.aggregation:
        if aggregation != profile.aggregation:
            out.append(entry("aggregation", aggregation, results.risk, aggregation))
    if len(u.normalisation) > 1:
        _, alternative, swapped = _normalisations(
            index.catalog, index, results.panel, u.normalisation
        )
        swapped &= observed  # only the indicators that enter the latest score
        if swapped.any():
            out.append(
                entry("normalisation", "minmax<->log", alternative, profile.aggregation)
                | {"indicators": [i for i, s in zip(index.indicators, swapped, strict=True) if s]}
            )
    return out


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
    catalog: Catalog, index: CompositeIndex, panel: Panel, allowed: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The declared normalisation and an alternative where the analyst allows one."""
    values, ids = panel.values, panel.obs_id
    declared = normalise_panel(catalog, index.indicators, values, ids=ids)
    other = {}
    for ind_id in index.indicators:
        method = catalog.indicators[ind_id].normalisation["method"]
        if method in ("minmax", "log", "ln"):
            choices = [m for m in allowed if m != method]
            if choices and method in allowed:
                other[ind_id] = choices[0]
    alternative = np.array([i in other for i in index.indicators])
    return declared, normalise_panel(catalog, index.indicators, values, other, ids), alternative


def _family_contributions_latest(
    results: ScoreResults, ind: np.ndarray, fam: np.ndarray
) -> np.ndarray:
    """Each draw's arithmetic contribution of each family to the latest score."""
    index, profile = results.index, results.profile
    row = results.latest_row
    risk = results.risk[row]
    observed = ~np.isnan(risk)
    v, valid = effective_weights(
        observed, index.structure, ind, fam, profile.min_family_coverage, profile.min_total_coverage
    )
    per_indicator = 100.0 * v * np.nan_to_num(risk)
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


def sobol_indices(
    results: ScoreResults, samples: int = SOBOL_SAMPLES, seed: int = 0
) -> dict[str, Any]:
    """First-order and total Sobol indices of the positive weights on the latest score,
    with their 95% intervals and a note when the sample cannot order them
    (`sobol_summary`). `samples` is SALib's base sample N (a power of two); the model
    runs N * (k + 2) times for k weights."""
    if np.isnan(results.agg.score[results.latest_row]):
        return {"computed": False, "reason": "no score in the latest week"}
    spread = results.profile.uncertainty.sobol_range
    names, bounds, slots = _sobol_inputs(results, spread)
    y = _latest_scores(results, *_saltelli_points(bounds, samples, seed), slots)
    if np.ptp(y) < 1e-12:
        return {"computed": False, "reason": "the latest score does not depend on the weights"}
    analysis = sobol_analyze(y, len(names), seed)
    summary = sobol_summary(names, analysis, samples)
    return {"computed": True, "samples": len(y), "range": spread, **summary}


def _sobol_inputs(
    results: ScoreResults, spread: float
) -> tuple[list[str], np.ndarray, list[tuple[str, int]]]:
    """The weights the Sobol analysis varies, their names, their bounds (+-`spread` of
    the profile's weight) and their slots: the indicators in the latest score (positive
    weight, a value, stale too) first, then the scored families with a positive weight."""
    index, row = results.index, results.latest_row
    w, families = index.weight_arrays()
    names, bounds, slots = [], [], []
    for j, ind_id in enumerate(index.indicators):
        if w[j] > 0 and not np.isnan(results.risk[row, j]):
            names.append(ind_id)
            bounds.append([w[j] * (1 - spread), w[j] * (1 + spread)])
            slots.append(("indicator", j))
    for k, fam in enumerate(index.structure.families):
        if families[k] > 0 and results.agg.sufficient[row, k]:
            names.append(f"family:{fam}")
            bounds.append([families[k] * (1 - spread), families[k] * (1 + spread)])
            slots.append(("family", k))
    return names, np.array(bounds, dtype=float).reshape(-1, 2), slots


def _latest_scores(
    results: ScoreResults, a: np.ndarray, b: np.ndarray, slots: Sequence[tuple[str, int]]
) -> np.ndarray:
    """The latest score at every row of the Saltelli sample on base points `a` and `b`
    (N x weights each, `_saltelli_points`), in SALib's order: for each point, A, then A
    with weight j from B for every j, then B. `slots` names each weight, the indicators
    first, then the families (as `_sobol_inputs` lists them).

    The rules of `aggregate` for one availability pattern, as `effective_weights` with
    no coverage minimum applies them: a family's indicator weights renormalised over
    its available indicators, the family weights over the scored families. Which
    families are scored is held as in the nominal score (the sampled families; any
    other weighs 0): the indices measure how the weights move the score, not whether a
    family crosses the coverage minimum.

    A row differs from A in one weight, which moves one family's term of A's weighted
    sum over families: an indicator's weight that family's available weight and
    weighted terms (so its mean), a family's weight its share. Each row is A's sums
    with that one term moved, so the N x (weights + 2) x weights sample is never built
    and a row costs a few operations, not a pass over every indicator (a test holds the
    result to the full rule on every row of SALib's own sample within 1e-12).
    """
    row = results.latest_row
    indicators = [j for kind, j in slots if kind == "indicator"]
    families = np.array([k for kind, k in slots if kind == "family"], dtype=int)
    m, d = len(indicators), a.shape[1]
    terms = np.nan_to_num(results.risk[row, indicators])
    geometric = results.profile.aggregation == "geometric"
    if geometric:  # a weighted mean of logs, exponentiated
        terms = np.log(np.maximum(terms, FLOOR))
    member = (results.index.structure.family_of[indicators][:, None] == families).astype(float)
    family = np.flatnonzero(member.any(axis=1))  # the indicators in a scored family
    column = member[family].argmax(axis=1)  # ... and that family's column
    with_data, weighted, ok, mean, weight, total, used = _family_sums(a, m, member, terms)
    totals = np.repeat(total[:, None], d + 2, axis=1)  # rows: A, A with weight j from B, B
    useds = np.repeat(used[:, None], d + 2, axis=1)
    # Indicator j from B changes its family's sums by its weight's change (times its term).
    change = b[:, family] - a[:, family]
    new_with_data = with_data[:, column] + change
    new_ok = new_with_data > 0
    new_weighted = weighted[:, column] + change * terms[family]
    new_mean = np.divide(new_weighted, new_with_data, out=np.zeros_like(change), where=new_ok)
    totals[:, 1 + family] += weight[:, column] * (new_mean - mean[:, column])
    useds[:, 1 + family] += weight[:, column] * (new_ok.astype(float) - ok[:, column])
    # Family f's weight from B moves only its own term.
    family_change = b[:, m:] - weight
    totals[:, 1 + m : d + 1] += family_change * mean
    useds[:, 1 + m : d + 1] += family_change * ok
    totals[:, -1], useds[:, -1] = _family_sums(b, m, member, terms)[-2:]
    y = np.divide(totals, useds, out=np.zeros_like(totals), where=useds > 0).ravel()
    return 100.0 * (np.exp(y) if geometric else y)


def _family_sums(
    points: np.ndarray, m: int, member: np.ndarray, terms: np.ndarray
) -> tuple[np.ndarray, ...]:
    """At base points (indicator weights in the first `m` columns, then the family
    weights): each family's available weight, weighted terms, whether it has a value,
    their mean and its weight; the weighted sum of the means over families (the score
    before the renormalisation, and the exp of a geometric mean) and the weight of the
    families with a value."""
    with_data = points[:, :m] @ member
    weighted = points[:, :m] @ (member * terms[:, None])
    ok = with_data > 0
    mean = np.divide(weighted, with_data, out=np.zeros_like(weighted), where=ok)
    weight = points[:, m:]
    total, used = (weight * mean).sum(axis=1), np.where(ok, weight, 0.0).sum(axis=1)
    return with_data, weighted, ok, mean, weight, total, used


def sobol_analyze(
    y: np.ndarray, d: int, seed: int, *, resamples: int = 100, conf_level: float = 0.95
) -> dict[str, np.ndarray]:
    """SALib's `analyze.sobol.analyze(problem, y, calc_second_order=False,
    num_resamples=resamples, conf_level=conf_level, seed=seed)` (SALib 1.5 and 1.6) for
    `d` inputs, for all of them at once.

    The same estimators: y centred and scaled by its std; S1 = mean(B (AB_j - A)) and
    ST = mean((A - AB_j)^2) / 2 (Saltelli 2010, Jansen), each over var([A, B]); their
    intervals Z * std(ddof=1) over `resamples` bootstrap resamples of the N base points,
    r = default_rng(seed).integers(N, size=(N, resamples)), Z the normal quantile; an
    index 0 where the variance is under the float epsilon, an interval 0 where the
    resampled outputs do not vary. SALib takes a resample's mean by gathering A[r],
    AB[r, j], B[r] again for every input (2 s of a report); here a resample's mean is
    the point's terms weighted by how often the resample drew each point, one matrix
    product for all inputs: the same sums in another order (a test holds them to SALib's
    within 1e-12). One difference: SALib draws r from numpy's global generator when
    `seed` is 0 (its `if seed:`), so its seed-0 intervals vary from run to run; here
    seed 0 is a seed like any other. Z comes from `statistics.NormalDist`, not
    scipy.stats (whose import is most of a second).
    """
    y = np.asarray(y, dtype=float)
    n = y.size // (d + 2)
    if n * (d + 2) != y.size:
        raise ValueError(f"{y.size} model outputs are not N x {d + 2} for {d} inputs")
    if not 0 < conf_level < 1:
        raise ValueError("the confidence level must be between 0 and 1")
    grid = ((y - y.mean()) / y.std()).reshape(n, d + 2)
    a, b, ab = grid[:, 0], grid[:, -1], grid[:, 1:-1]
    r = np.random.default_rng(seed).integers(n, size=(n, resamples))
    z = NormalDist().inv_cdf(0.5 + conf_level / 2)
    # The estimators' terms, inputs x points: each input's mean over the points is one
    # contiguous (pairwise) sum, as SALib's per-input mean is.
    ab = ab.T
    first = b * (ab - a)
    total = (a - ab) ** 2
    # How often each resample drew each point: resamples x points.
    drawn = np.bincount((r + n * np.arange(resamples)).ravel(), minlength=n * resamples)
    drawn = drawn.reshape(resamples, n).astype(float)
    point = (np.ptp(np.r_[a, b]), np.var(np.r_[a, b]))
    # Each resample's variance of its outputs [A[r], B[r]] from the same draw counts (the
    # mean square less the squared mean: y has mean 0 and variance 1, so nothing cancels),
    # and their joint range over every point some resample drew.
    mean = drawn @ (a + b) / (2 * n)
    resampled = (np.ptp(np.r_[a[drawn.any(axis=0)], b[drawn.any(axis=0)]]),
                 (drawn @ (a * a + b * b) / (2 * n) - mean * mean)[:, None])  # fmt: skip
    out = {}
    for key, terms, scale in (("S1", first, 1.0), ("ST", total, 0.5)):
        out[key] = _shares(scale * terms.mean(axis=1), *point)
        shares = _shares(scale * (drawn @ terms.T / n), *resampled)
        out[f"{key}_conf"] = z * shares.std(axis=0, ddof=1)
    return out


def _shares(means: np.ndarray, spread: float, variance: Any) -> np.ndarray:
    """Means of the estimator's terms over the variance of the outputs they came from
    (one variance, or one per resample for the rows of `means`), by SALib's rules:
    all 0 when the outputs do not vary (`spread`, their range, within the float
    epsilon), 0 where a variance is under the epsilon."""
    eps = np.finfo(float).eps
    if spread <= eps:
        return np.zeros(means.shape[-1])
    variance = np.broadcast_to(variance, means.shape)
    return np.divide(means, variance, out=np.zeros_like(means), where=variance > eps)


def _saltelli_points(bounds: np.ndarray, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The base points A and B (samples x inputs each) of SALib's
    `sample.sobol.sample(problem, samples, calc_second_order=False, seed=seed)` (SALib
    1.5 and 1.6) for inputs uniform within `bounds` (inputs x 2): scipy's scrambled
    Sobol points in 2 x inputs dimensions, the first half A and the second B, scaled as
    SALib's `scale_samples` does (a test holds them to SALib's rows exactly). SALib's
    sample is these rows, arranged per point as A, A with column j from B for every j,
    then B (`_latest_scores` reads it that way). Importing scipy's Sobol sequence
    imports all of scipy.stats (0.7 s), as the forecast's statsmodels does anyway."""
    from scipy.stats import qmc

    d = len(bounds)
    base = qmc.Sobol(d=2 * d, scramble=True, seed=seed).random(samples)
    low, high = bounds[:, 0], bounds[:, 1]
    a, b = np.ascontiguousarray(base[:, :d]), np.ascontiguousarray(base[:, d:])
    for points in (a, b):
        np.add(np.multiply(points, high - low, out=points), low, out=points)
    return a, b


def sobol_summary(
    names: Sequence[str], analysis: Mapping[str, Any], base_samples: int
) -> dict[str, Any]:
    """SALib's Sobol analysis as a table, largest total index first, and whether the
    sample is large enough to tell each weight's first-order index from its total one.

    In theory S1 <= ST, and ST - S1 is the share of the variance a weight causes through
    interactions. Estimated from a sample, both carry noise (SALib's 95% bootstrap
    intervals, `S1_conf` and `ST_conf`), and a small sample shows S1 > ST. A weight is
    *told apart* unless its first-order estimate exceeds the total by more than
    `SOBOL_RESOLUTION`, or the noise on the difference, c = sqrt(S1_conf^2 + ST_conf^2),
    is at least `SOBOL_RESOLUTION` while the difference |ST - S1| is within it (the
    sample can neither show an interaction nor rule one out). With any weight not told
    apart, `note` says so; `None` otherwise.
    """
    table = []
    for k, name in enumerate(names):
        s1, st = float(analysis["S1"][k]), float(analysis["ST"][k])
        s1_conf, st_conf = float(analysis["S1_conf"][k]), float(analysis["ST_conf"][k])
        noise = math.hypot(s1_conf, st_conf)
        unresolved = s1 - st > SOBOL_RESOLUTION or (
            noise >= SOBOL_RESOLUTION and abs(st - s1) <= noise
        )
        table.append(
            {
                "weight": name,
                "first_order": round(s1, 4),
                "first_order_conf": round(s1_conf, 4),
                "total": round(st, 4),
                "total_conf": round(st_conf, 4),
                "told_apart": not unresolved,
            }
        )
    table.sort(key=lambda item: -item["total"])
    unresolved = [item for item in table if not item["told_apart"]]
    note = None
    if unresolved:
        widest = max(math.hypot(i["first_order_conf"], i["total_conf"]) for i in unresolved)
        note = (
            f"sample too small to tell first-order from total indices for {len(unresolved)} "
            f"of {len(table)} weights (base sample {base_samples}: the noise on their "
            f"difference reaches \u00b1{widest:.3f}, and it must stay under "
            f"\u00b1{SOBOL_RESOLUTION:.2f} to be read)"
        )
    return {
        "base_samples": base_samples,
        "resolution": SOBOL_RESOLUTION,
        "indices": table,
        "note": note,
    }


def analyse(
    results: ScoreResults,
    *,
    draws: int | None = None,
    concentration: float | None = None,
    seed: int | None = None,
    sobol_samples: int = SOBOL_SAMPLES,
    progress: Callable[[int], None] | None = None,
) -> SensitivityResult:
    """Monte Carlo band (weights only, the profile's own methods), the latest score under
    the other methods, probability of `high` or worse, rank stability and Sobol indices
    of a scored series (the profile's own uncertainty settings unless given)."""
    profile = results.profile
    u = profile.uncertainty
    draws = draws or u.draws
    concentration = concentration or u.concentration
    seed = u.seed if seed is None else seed
    mc = monte_carlo(
        results, draws=draws, concentration=concentration, seed=seed, progress=progress
    )
    methods = method_uncertainty(results, mc)
    row = results.latest_row
    valid = mc.latest
    point = _round(results.score[row])
    high_floor = profile.band_floor("high")
    p_high = round(float(np.mean(valid >= high_floor)), 4) if len(valid) else None
    by_aggregation = {}
    if point is not None:
        by_aggregation[profile.aggregation] = {"score": point, **_band_of(valid)}
    for m in methods:
        if m["choice"] == "aggregation":
            by_aggregation[m["method"]] = {
                k: m[k] for k in ("score", "draws", "low", "median", "high") if k in m
            }
    band = {
        "score": point,
        "low": _round(mc.low[row]),
        "median": _round(mc.median[row]),
        "high": _round(mc.high[row]),
        "valid_draws": len(valid),
        "method": profile.aggregation,
        "varies": "weights",
        "by_aggregation": dict(sorted(by_aggregation.items())),
    }
    history = {
        "dates": [results.panel.date(r).isoformat() for r in range(results.panel.n_weeks)],
        "score": [_round(x) for x in results.score],
        "low": [_round(x) for x in mc.low],
        "median": [_round(x) for x in mc.median],
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
        method_uncertainty=methods,
        p_high_or_worse=p_high,
        rank_stability=rank_stability(results, mc),
        sobol=sobol_indices(results, samples=sobol_samples, seed=seed),
        history=history,
    )


def _band_of(draws: np.ndarray) -> dict[str, Any]:
    if not len(draws):
        return {"draws": 0, "low": None, "median": None, "high": None}
    low, median, high = np.percentile(draws, [5, 50, 95])
    return {"draws": len(draws), "low": _round(low), "median": _round(median), "high": _round(high)}


def _round(value: Any) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 4)
