"""Weighting and aggregation: from normalised risk to family scores and the composite.

Pure functions on arrays, vectorised over weeks. With risk r_i in [0, 1] (NaN where
missing), indicator weights w_i and family weights W_f:

  family coverage   C_f = sum(w_i, i in f with data) / sum(w_i, i in f)
  family score      F_f = sum(w_i r_i) / sum(w_i)        over i in f with data
                    (geometric: exp(sum(w_i ln r_i) / sum(w_i)), r floored at FLOOR)
  a family counts only if C_f >= the profile's minimum family coverage ("sufficient");
  composite         S = 100 * sum(W_f F_f) / sum(W_f)     over sufficient families
                    (geometric: 100 * exp(sum(W_f ln F_f) / sum(W_f)))
  coverage          sum(W_f C_f, sufficient f) / sum(W_f, all f with W_f > 0):
                    the share of the profile's weight that is backed by data and used.
  No score (NaN) when no family is sufficient or coverage < the minimum total coverage.

Missing values are never filled: weights are renormalised over what is there, and
the coverage says how much that is. Contributions decompose the score exactly:
for arithmetic aggregation c_i = 100 (W_f / sum W) (w_i / sum w) r_i, which add up to
S; for geometric aggregation the log-score is split the same way and each indicator
gets the share of S that its term has of ln(S/100).

Reference: OECD/JRC, Handbook on Constructing Composite Indicators (2008), sections 6-7.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FLOOR", "Aggregate", "Structure", "aggregate"]

FLOOR = 0.01  # risk below this counts as this in geometric means (a zero would zero the family)


@dataclass(frozen=True)
class Structure:
    """Which family each indicator belongs to, in column order."""

    families: tuple[str, ...]
    family_of: np.ndarray  # column -> family index

    @classmethod
    def build(cls, families: Sequence[str], indicator_families: Sequence[str]) -> Structure:
        index = {f: k for k, f in enumerate(families)}
        return cls(tuple(families), np.array([index[f] for f in indicator_families]))

    def members(self, k: int) -> np.ndarray:
        return np.flatnonzero(self.family_of == k)


@dataclass
class Aggregate:
    """Everything the aggregation produced, for every week (rows)."""

    family_score: np.ndarray  # weeks x families, in [0, 1]; NaN: no data in the family
    family_coverage: np.ndarray  # weeks x families, in [0, 1]
    sufficient: np.ndarray  # weeks x families, bool
    score: np.ndarray  # weeks, 0-100; NaN: insufficient
    coverage: np.ndarray  # weeks, in [0, 1]
    contributions: np.ndarray  # weeks x indicators, points; sum over a row = score
    family_share: np.ndarray  # weeks x families: W_f / sum(W_g, sufficient g)
    indicator_share: np.ndarray  # weeks x indicators: w_i / sum(w_j in its family with data)


def aggregate(
    risk: np.ndarray,
    structure: Structure,
    indicator_weights: np.ndarray,
    family_weights: np.ndarray,
    *,
    method: str = "arithmetic",
    min_family_coverage: float = 0.0,
    min_total_coverage: float = 0.0,
) -> Aggregate:
    """Aggregate a weeks x indicators risk array (see the module docstring)."""
    risk = np.atleast_2d(risk)
    weeks, n_fam = risk.shape[0], len(structure.families)
    observed = ~np.isnan(risk)
    weights = np.where(observed, indicator_weights, 0.0)
    family_score = np.full((weeks, n_fam), np.nan)
    family_coverage = np.zeros((weeks, n_fam))
    indicator_share = np.zeros_like(risk)
    geometric = method == "geometric"
    terms = np.log(np.maximum(np.nan_to_num(risk), FLOOR)) if geometric else np.nan_to_num(risk)

    for k in range(n_fam):
        cols = structure.members(k)
        total = indicator_weights[cols].sum()
        with_data = weights[:, cols].sum(axis=1)
        if total > 0:
            family_coverage[:, k] = with_data / total
        has = with_data > 0
        share = np.divide(
            weights[:, cols],
            with_data[:, None],
            out=np.zeros((weeks, len(cols))),
            where=has[:, None],
        )
        indicator_share[:, cols] = share
        mean = (share * terms[:, cols]).sum(axis=1)
        family_score[has, k] = np.exp(mean[has]) if geometric else mean[has]

    active = family_weights > 0
    sufficient = (family_coverage >= min_family_coverage) & ~np.isnan(family_score) & active
    used_weight = np.where(sufficient, family_weights, 0.0)
    total_used = used_weight.sum(axis=1)
    family_share = np.divide(
        used_weight,
        total_used[:, None],
        out=np.zeros_like(used_weight),
        where=total_used[:, None] > 0,
    )
    all_weight = family_weights[active].sum()
    coverage = (np.where(sufficient, family_coverage, 0.0) * family_weights).sum(
        axis=1
    ) / all_weight
    if geometric:
        log_total = (family_share * np.log(np.where(sufficient, family_score, 1.0))).sum(axis=1)
        total = np.exp(log_total)
    else:
        total = (family_share * np.nan_to_num(family_score)).sum(axis=1)
    valid = (total_used > 0) & (coverage >= min_total_coverage)
    score = np.where(valid, 100.0 * total, np.nan)

    # Exact decomposition of the score into indicator contributions.
    per_indicator = family_share[:, structure.family_of] * indicator_share
    if geometric:
        log_terms = per_indicator * terms
        log_sum = log_terms.sum(axis=1, keepdims=True)
        even = np.abs(log_sum) < 1e-12  # every risk at 1: split by weight instead
        shares = np.where(
            even,
            per_indicator,
            np.divide(log_terms, log_sum, out=np.zeros_like(log_terms), where=~even),
        )
        contributions = shares * np.nan_to_num(score)[:, None]
    else:
        contributions = 100.0 * per_indicator * np.nan_to_num(risk)
    contributions = np.where(valid[:, None] & observed, contributions, 0.0)
    return Aggregate(
        family_score=family_score,
        family_coverage=family_coverage,
        sufficient=sufficient,
        score=score,
        coverage=coverage,
        contributions=contributions,
        family_share=family_share,
        indicator_share=indicator_share,
    )
