"""Normalisation: every indicator's values mapped to risk in [0, 1].

Pure functions on arrays (NaN in, NaN out: a missing value is never turned into a
neutral one). The method and its parameters are declared per indicator in the catalog
(`normalisation:`); the direction of risk is applied last, so 1 always means the most
risk the goalposts allow.

Methods (OECD/JRC Handbook on Constructing Composite Indicators, 2008, section 5):

  minmax   (x - lower) / (upper - lower) against fixed goalposts, clipped to [0, 1].
           Fixed goalposts, not the data's own range, so that a score does not move
           when new data arrive.
  log      the same on log(1 + x) (log1p, natural logarithm of one plus the value), so
           0 is allowed and small values are near linear; kept under this name for
           the catalogs that use it.
  ln       the same on the plain natural logarithm ln(x): each tenfold rise counts
           alike; the lower goalpost must be > 0 (values at or below it give risk 0).
  zscore   standard score against a trailing baseline window of `baseline_weeks`,
           mapped to [0, 1] by the normal distribution function; cells with fewer
           than 8 baseline values are NaN ("insufficient history").
  baseline the value judged against the same subject's own trailing distribution of
           the indicator: the share of its last `baseline_weeks` weeks (before the
           week scored, never after) whose value was lower, ties counting half (the
           mid-rank empirical distribution function). "Higher than 97 % of this
           dyad's past year" is 0.97 whatever the dyad's volume. With fewer than
           `min_history` distinct earlier values the cell is NaN ("insufficient
           history"): missing risk, never a neutral 0.5. With `baseline_from: f`
           (0 <= f < 1, default 0) the percentile p, turned first so that a high p
           is the risky side, is read as an upper tail: risk 0 at or below f, rising
           linearly to 1 at p = 1, (p - f) / (1 - f). A percentile is uniform by
           construction, so unmapped it rates 40 % of a subject's weeks 60 or more;
           mapped from 0.75 only the weeks above 90 % of its past year reach 60, and
           those above 95 % reach 80 ("how unusual against its normal").
  ordinal  level / highest level.
  boolean  the value itself (true = 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..catalog import Catalog, Indicator

__all__ = [
    "GOALPOST_METHODS",
    "MIN_BASELINE",
    "insufficient_history",
    "normalise",
    "normalise_column",
    "normalise_panel",
    "trailing_percentile",
]

GOALPOST_METHODS = ("minmax", "log", "ln")  # the methods on fixed goalposts

MIN_BASELINE = 8  # fewest baseline values a z-score may rest on [weeks]


def _minmax(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    return np.clip((x - lower) / (upper - lower), 0.0, 1.0)


def _log(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    low, high = np.log1p(lower), np.log1p(upper)
    return np.clip((np.log1p(np.maximum(x, 0.0)) - low) / (high - low), 0.0, 1.0)


def _ln(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    low, high = np.log(lower), np.log(upper)
    with np.errstate(invalid="ignore"):
        clipped = np.where(np.isnan(x), np.nan, np.maximum(x, lower))
    return np.clip((np.log(clipped) - low) / (high - low), 0.0, 1.0)


def _zscore(x: np.ndarray, window: int) -> np.ndarray:
    """Risk from the standard score of each value against the `window` values before it."""
    from scipy.special import ndtr

    out = np.full(x.shape, np.nan)
    for t in range(len(x)):
        if np.isnan(x[t]):
            continue
        base = x[max(0, t - window) : t]
        base = base[~np.isnan(base)]
        if len(base) < MIN_BASELINE:
            continue
        spread = base.std(ddof=1)
        if spread == 0:
            out[t] = 0.5 if x[t] == base.mean() else float(x[t] > base.mean())
        else:
            out[t] = ndtr((x[t] - base.mean()) / spread)
    return out


def _history(x: np.ndarray, window: int, ids: np.ndarray | None) -> np.ndarray:
    """For each row, the `window` rows before it that count as its history (NaN where
    they do not): an observation counts once, in the first row that carries it (a value
    carried forward into later weeks is not new evidence), and never in the judging of
    a row that carries that same observation."""
    n = len(x)
    fresh = ~np.isnan(x)
    if ids is not None:
        ids = np.asarray(ids, dtype=np.int64)
        fresh &= np.concatenate(([True], ids[1:] != ids[:-1]))
    padded = np.concatenate((np.full(window, np.nan), np.where(fresh, x, np.nan)))
    history = np.lib.stride_tricks.sliding_window_view(padded, window)[:n].copy()
    if ids is not None:
        padded_ids = np.concatenate((np.full(window, -2, dtype=np.int64), ids))
        same = np.lib.stride_tricks.sliding_window_view(padded_ids, window)[:n] == ids[:, None]
        history[same & (ids[:, None] >= 0)] = np.nan
    return history


def trailing_percentile(
    x: np.ndarray, window: int, min_history: int, ids: np.ndarray | None = None
) -> np.ndarray:
    """Each value's mid-rank percentile among the values of the `window` rows before
    it: (lower + half of equal) / count, in [0, 1]; NaN where the value is missing or
    fewer than `min_history` earlier values count (`_history`: with `ids`, the
    observation behind each row, a value carried forward counts once).

    Only earlier rows are read, so a week's risk is the same whenever it is computed
    (point in time), and the same inputs give the same output.
    """
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return np.empty(0)
    history = _history(x, window, ids)
    counted = ~np.isnan(history)
    n = counted.sum(axis=1)
    with np.errstate(invalid="ignore"):
        lower = (history < x[:, None]).sum(axis=1)
        equal = (history == x[:, None]).sum(axis=1)
        out = (lower + 0.5 * equal) / np.maximum(n, 1)
    out[(n < min_history) | np.isnan(x)] = np.nan
    return out


def _baseline(
    x: np.ndarray, spec: Mapping[str, Any], higher_is_riskier: bool, ids: np.ndarray | None
) -> np.ndarray:
    """The trailing percentile turned to the risky side, then its upper tail from
    `baseline_from` stretched to [0, 1]: the direction comes first here, so that the
    unusual weeks are the risky ones whichever way risk points."""
    p = trailing_percentile(x, int(spec["baseline_weeks"]), int(spec["min_history"]), ids)
    if not higher_is_riskier:
        p = 1.0 - p
    start = float(spec.get("baseline_from", 0.0))
    return np.clip((p - start) / (1.0 - start), 0.0, 1.0)


def insufficient_history(
    x: np.ndarray, spec: Mapping[str, Any], ids: np.ndarray | None = None
) -> np.ndarray:
    """Where a `baseline` indicator has a value but too short a history to judge it."""
    x = np.asarray(x, dtype=float)
    if spec.get("method") != "baseline" or len(x) == 0:
        return np.zeros(len(x), dtype=bool)
    counted = ~np.isnan(_history(x, int(spec["baseline_weeks"]), ids))
    return ~np.isnan(x) & (counted.sum(axis=1) < int(spec["min_history"]))


def normalise(
    x: np.ndarray,
    method: str,
    spec: Mapping[str, Any],
    *,
    higher_is_riskier: bool,
    top_level: int = 1,
    ids: np.ndarray | None = None,
) -> np.ndarray:
    """Risk in [0, 1] for raw values `x` (1-D, NaN for missing); `ids`, the observation
    behind each row, lets `baseline` count a value carried forward only once."""
    x = np.asarray(x, dtype=float)
    if method == "minmax":
        lower, upper = spec["goalposts"]
        risk = _minmax(x, lower, upper)
    elif method == "log":
        lower, upper = spec["goalposts"]
        risk = _log(x, lower, upper)
    elif method == "ln":
        lower, upper = spec["goalposts"]
        risk = _ln(x, lower, upper)
    elif method == "zscore":
        risk = _zscore(x, int(spec["baseline_weeks"]))
    elif method == "baseline":
        return _baseline(x, spec, higher_is_riskier, ids)
    elif method == "ordinal":
        risk = np.clip(x / top_level, 0.0, 1.0)
    elif method == "boolean":
        risk = np.clip(x, 0.0, 1.0)
    else:
        raise ValueError(f"unknown normalisation method {method!r}")
    return risk if higher_is_riskier else 1.0 - risk


def normalise_column(
    ind: Indicator, x: np.ndarray, method: str | None = None, ids: np.ndarray | None = None
) -> np.ndarray:
    """Normalise one indicator's column with its declared (or an alternative) method."""
    spec = dict(ind.normalisation)
    chosen = method or spec["method"]
    if chosen in GOALPOST_METHODS and "goalposts" not in spec:
        chosen = spec["method"]  # no goalposts to try an alternative with
    elif chosen == "log" and spec.get("goalposts", (0, 0))[0] < 0:
        chosen = spec["method"]  # a scale with negative values (tone, Goldstein) has no log
    elif chosen == "ln" and spec.get("goalposts", (0, 0))[0] <= 0:
        chosen = spec["method"]  # ln needs a lower goalpost above 0
    top = max(ind.levels) if ind.levels else 1
    return normalise(
        x, chosen, spec, higher_is_riskier=ind.higher_is_riskier, top_level=top, ids=ids
    )


def normalise_panel(
    catalog: Catalog,
    indicators: Sequence[str],
    values: np.ndarray,
    method_for: Mapping[str, str] | None = None,
    ids: np.ndarray | None = None,
) -> np.ndarray:
    """Normalise every column of a weeks x indicators array (`ids`: the observation
    behind each cell, as the panel's `obs_id`, for the `baseline` method)."""
    method_for = method_for or {}
    out = np.empty_like(values, dtype=float)
    for j, indicator in enumerate(indicators):
        column_ids = None if ids is None else ids[:, j]
        out[:, j] = normalise_column(
            catalog.indicators[indicator], values[:, j], method_for.get(indicator), column_ids
        )
    return out
