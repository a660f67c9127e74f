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
S; for geometric aggregation each indicator starts from its full weight (100 s_i) and
loses the share of (100 - S) that its term s_i ln(r_i) has of ln(S/100), so the parts
add up to S and each grows with its indicator's risk.

Reference: OECD/JRC, Handbook on Constructing Composite Indicators (2008), sections 6-7.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FLOOR", "Aggregate", "Structure", "Terms", "aggregate", "prepare"]

FLOOR = 0.01  # risk below this counts as this in geometric means (a zero would zero the family)
_PER_WEEK = ("family_score", "family_coverage", "sufficient", "score", "coverage",
             "family_share", "_risk", "_with_data")  # fmt: skip
BLOCK_ROWS = 8192  # rows aggregated at a time: 8,192 x 60 indicators x 8 bytes = 4 MB


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
    """Everything the aggregation produced, for every week (rows).

    The per-indicator arrays (`indicator_share`, `contributions`) are computed on first
    use: rescoring a fleet or a slider move needs only the scores.
    """

    family_score: np.ndarray  # weeks x families, in [0, 1]; NaN: no data in the family
    family_coverage: np.ndarray  # weeks x families, in [0, 1]
    sufficient: np.ndarray  # weeks x families, bool
    score: np.ndarray  # weeks, 0-100; NaN: insufficient
    coverage: np.ndarray  # weeks, in [0, 1]
    family_share: np.ndarray  # weeks x families: W_f / sum(W_g, sufficient g)
    _risk: np.ndarray
    _structure: Structure
    _weights: np.ndarray
    _with_data: np.ndarray  # weeks x families: sum of indicator weights with data
    _geometric: bool
    _cache: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, rows: slice) -> Aggregate:
        """These weeks alone (a slice of every per-week array; nothing recomputed)."""
        return Aggregate(
            **{name: getattr(self, name)[rows] for name in _PER_WEEK},
            _structure=self._structure, _weights=self._weights, _geometric=self._geometric,
        )  # fmt: skip

    @property
    def indicator_share(self) -> np.ndarray:
        """weeks x indicators: w_i / sum(w_j in its family with data)."""
        if "share" not in self._cache:
            observed = ~np.isnan(self._risk)
            per_family = self._with_data[:, self._structure.family_of]
            weights = np.where(observed, self._weights, 0.0)
            self._cache["share"] = np.divide(
                weights, per_family, out=np.zeros_like(weights), where=per_family > 0
            )
        return self._cache["share"]

    @property
    def contributions(self) -> np.ndarray:
        """weeks x indicators, in points; each row adds up to the score exactly."""
        if "contributions" not in self._cache:
            self._cache["contributions"] = self._contributions()
        return self._cache["contributions"]

    def _contributions(self) -> np.ndarray:
        risk = self._risk
        observed = ~np.isnan(risk)
        valid = ~np.isnan(self.score)
        per_indicator = self.family_share[:, self._structure.family_of] * self.indicator_share
        if self._geometric:
            # S = 100 * prod(r_i ** s_i): each indicator takes a share of (100 - S) off
            # its full weight, in proportion to its term s_i * ln(r_i) of ln(S / 100).
            # The parts add up to S and grow with the indicator's risk.
            terms = np.log(np.maximum(np.nan_to_num(risk), FLOOR))
            log_terms = per_indicator * terms
            log_sum = log_terms.sum(axis=1, keepdims=True)
            even = np.abs(log_sum) < 1e-12  # every risk at 1: nothing is taken off
            taken = np.divide(log_terms, log_sum, out=np.zeros_like(log_terms), where=~even)
            score = np.nan_to_num(self.score)[:, None]
            out = 100.0 * per_indicator - (100.0 - score) * taken
        else:
            out = 100.0 * per_indicator * np.nan_to_num(risk)
        return np.where(valid[:, None] & observed, out, 0.0)


@dataclass(frozen=True)
class Terms:
    """What the aggregation reads of a risk array that no weight changes, made once:
    per family (in `Structure` order), its columns, the 0/1 mask of which have a value
    and the terms summed (the risk, 0 where missing; geometric: its floored log), each
    a contiguous rows x members copy. Many weights on one array (the workbench's
    slider) then cost the weighted sums alone, and a family whose indicator weights did
    not change since the last call keeps its sums (`sums`: a family slider changes no
    indicator weight). A tall array is cut in `BLOCK_ROWS` blocks, one `Terms` each
    (`blocks`)."""

    risk: np.ndarray
    geometric: bool
    members: tuple[np.ndarray, ...]
    observed: tuple[np.ndarray, ...]
    terms: tuple[np.ndarray, ...]
    blocks: tuple[Terms, ...] = ()
    # family -> (its indicator weights as bytes, weight with data, weighted sum)
    sums: dict[int, tuple[bytes, np.ndarray, np.ndarray]] = field(default_factory=dict)

    def family_sums(self, indicator_weights: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per family: the total weight, and for each row the weight with data and the
        weighted sum of the terms; a family summed last time under the same weights is
        taken from then (the very numbers: one product per family, as before)."""
        totals, with_data, sums = [], [], []
        for k, cols in enumerate(self.members):
            weights = indicator_weights[cols]
            key = weights.tobytes()
            last = self.sums.get(k)
            if last is None or last[0] != key:
                last = (key, self.observed[k] @ weights, self.terms[k] @ weights)
                self.sums[k] = last  # one tuple: a reader sees the old or the new, whole
            totals.append(weights.sum())
            with_data.append(last[1])
            sums.append(last[2])
        return np.array(totals), np.column_stack(with_data), np.column_stack(sums)


def prepare(risk: np.ndarray, structure: Structure, method: str = "arithmetic") -> Terms:
    """The weight-free part of aggregating `risk` by `method` (see `Terms`)."""
    risk = np.atleast_2d(risk)
    geometric = method == "geometric"
    if len(risk) > BLOCK_ROWS:
        blocks = tuple(
            prepare(risk[i : i + BLOCK_ROWS], structure, method)
            for i in range(0, len(risk), BLOCK_ROWS)
        )
        return Terms(risk, geometric, blocks[0].members, (), (), blocks)
    observed = ~np.isnan(risk)
    filled = np.where(observed, risk, 0.0)
    terms = np.log(np.maximum(filled, FLOOR)) * observed if geometric else filled
    members = tuple(structure.members(k) for k in range(len(structure.families)))
    # As float: the product with the weights casts a boolean mask to float anyway.
    masks = tuple(np.ascontiguousarray(observed[:, cols], dtype=float) for cols in members)
    return Terms(risk, geometric, members, masks, tuple(terms[:, cols] for cols in members))


def aggregate(
    risk: np.ndarray,
    structure: Structure,
    indicator_weights: np.ndarray,
    family_weights: np.ndarray,
    *,
    method: str = "arithmetic",
    min_family_coverage: float = 0.0,
    min_total_coverage: float = 0.0,
    terms: Terms | None = None,
) -> Aggregate:
    """Aggregate a weeks x indicators risk array (see the module docstring).

    Rows are independent, so many subjects can be scored in one call by stacking their
    weeks. A tall array (a fleet) is aggregated in blocks of `BLOCK_ROWS` rows: each
    block's temporaries stay in the processor's cache, where one pass over 200,000
    rows would stream every one of them through memory (the result is the same).
    `terms`: `prepare(risk, structure, method)` made earlier, for the same numbers
    without reading `risk` again.
    """
    settings = (indicator_weights, family_weights, min_family_coverage, min_total_coverage)
    if terms is not None and terms.geometric != (method == "geometric"):
        raise ValueError(f"the prepared terms are not those of a {method} aggregation")
    if terms is not None and terms.blocks:
        parts = [_aggregate(block, structure, *settings) for block in terms.blocks]
    elif terms is not None:
        return _aggregate(terms, structure, *settings)
    else:
        risk = np.atleast_2d(risk)
        if len(risk) <= BLOCK_ROWS:
            return _aggregate(prepare(risk, structure, method), structure, *settings)
        # Prepared and aggregated block by block, so that a block's terms are still in
        # the cache when they are summed (preparing every block first streams them all
        # through memory twice: a fleet took twice as long).
        parts = [
            _aggregate(prepare(risk[i : i + BLOCK_ROWS], structure, method), structure, *settings)
            for i in range(0, len(risk), BLOCK_ROWS)
        ]
    stacked = {
        name: np.concatenate([getattr(part, name) for part in parts])
        for name in _PER_WEEK
        if name != "_risk"
    }
    return Aggregate(**stacked, _risk=risk if terms is None else terms.risk,
                     _structure=structure, _weights=indicator_weights,
                     _geometric=method == "geometric")  # fmt: skip


def _aggregate(
    prepared: Terms,
    structure: Structure,
    indicator_weights: np.ndarray,
    family_weights: np.ndarray,
    min_family_coverage: float,
    min_total_coverage: float,
) -> Aggregate:
    geometric = prepared.geometric
    # One product per family for the weighted sums, one for the weight with data.
    totals, with_data, sums = prepared.family_sums(indicator_weights)
    has = with_data > 0
    mean = np.divide(sums, with_data, out=np.zeros_like(sums), where=has)
    family_score = np.where(has, np.exp(mean) if geometric else mean, np.nan)
    family_coverage = np.divide(with_data, totals, out=np.zeros_like(with_data), where=totals > 0)

    active = family_weights > 0
    sufficient = (family_coverage >= min_family_coverage) & has & active
    used_weight = np.where(sufficient, family_weights, 0.0)
    total_used = used_weight.sum(axis=1)
    family_share = np.divide(
        used_weight,
        total_used[:, None],
        out=np.zeros_like(used_weight),
        where=total_used[:, None] > 0,
    )
    coverage = (np.where(sufficient, family_coverage, 0.0) @ family_weights) / family_weights[
        active
    ].sum()
    if geometric:
        total = np.exp((family_share * np.where(sufficient, mean, 0.0)).sum(axis=1))
    else:
        total = (family_share * np.where(sufficient, mean, 0.0)).sum(axis=1)
    valid = (total_used > 0) & (coverage >= min_total_coverage)
    score = np.where(valid, 100.0 * total, np.nan)
    return Aggregate(
        family_score=family_score,
        family_coverage=family_coverage,
        sufficient=sufficient,
        score=score,
        coverage=coverage,
        family_share=family_share,
        _risk=prepared.risk,
        _structure=structure,
        _weights=indicator_weights,
        _with_data=with_data,
        _geometric=geometric,
    )
