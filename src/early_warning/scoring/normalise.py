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
  ordinal  level / highest level.
  boolean  the value itself (true = 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..catalog import Catalog, Indicator

__all__ = ["GOALPOST_METHODS", "MIN_BASELINE", "normalise", "normalise_column", "normalise_panel"]

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


def normalise(
    x: np.ndarray,
    method: str,
    spec: Mapping[str, Any],
    *,
    higher_is_riskier: bool,
    top_level: int = 1,
) -> np.ndarray:
    """Risk in [0, 1] for raw values `x` (1-D, NaN for missing)."""
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
    elif method == "ordinal":
        risk = np.clip(x / top_level, 0.0, 1.0)
    elif method == "boolean":
        risk = np.clip(x, 0.0, 1.0)
    else:
        raise ValueError(f"unknown normalisation method {method!r}")
    return risk if higher_is_riskier else 1.0 - risk


def normalise_column(ind: Indicator, x: np.ndarray, method: str | None = None) -> np.ndarray:
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
    return normalise(x, chosen, spec, higher_is_riskier=ind.higher_is_riskier, top_level=top)


def normalise_panel(
    catalog: Catalog,
    indicators: Sequence[str],
    values: np.ndarray,
    method_for: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Normalise every column of a weeks x indicators array."""
    method_for = method_for or {}
    out = np.empty_like(values, dtype=float)
    for j, indicator in enumerate(indicators):
        out[:, j] = normalise_column(
            catalog.indicators[indicator], values[:, j], method_for.get(indicator)
        )
    return out
