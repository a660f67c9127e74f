"""The structural model's track record: year by year, point in time, every country.

    record = structural_backtest(panel, 2000, 2022)
    record.to_dict()   # {"incidence": {...}, "onset": {...}} as DESIGN.md 3.4 says

For each forecast year Y from `start` to `end` the model is fitted on what was known on
31 December of Y - 1 (`StructuralModel.fit(Y)`) and scored on Y's outcomes as finally
recorded. Beside it stand two baselines, scored the same way:

  no_change   the country's status in the latest year the record covered at the origin
              (1 if it was in conflict then, 0 otherwise): persistence
  base_rate   the share of training rows with the outcome, the same for every country

Scores: Brier, Brier skill against the base rate (and against no change) with a 90%
interval from a bootstrap over countries (a country's years stay together, so the
persistence of conflict within a country does not narrow the interval), ROC AUC, the
area under the precision-recall curve (average precision, as scikit-learn defines it),
and recall in the top 10 and top 30: of each year's events, the share among that
year's 10 (30) highest-ranked countries, pooled over the years (ties at the cut-off
share the remaining places).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import brier, roc_auc
from .structural import FEATURES, CountryYearPanel, StructuralModel, StructuralSpec

__all__ = [
    "ANCHORS",
    "OUTCOMES",
    "StructuralBacktest",
    "average_precision",
    "cluster_skill_interval",
    "recall_top",
    "structural_backtest",
    "verify",
]

OUTCOMES = ("incidence", "onset")

# The anchors' own published figures, quoted beside ours (docs/forecasting.md).
ANCHORS: tuple[dict[str, Any], ...] = (
    {
        "system": "Early Warning Project (statistical risk assessment)",
        "measure": "recall_top30",
        "value": 0.8,
        "words": "8 of 10 later onsets were among its 30 highest-ranked countries",
        "outcome": "onset of a mass killing within two years (not armed conflict)",
    },
)


def average_precision(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the precision-recall curve as a step function: the sum over the
    distinct thresholds of (recall gained) x precision (scikit-learn's definition)."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    positives = y.sum()
    if not len(y) or positives == 0:
        return None
    order = np.argsort(-p, kind="mergesort")
    p, y = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]  # the end of each tie group
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def recall_top(p: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int) -> float | None:
    """Share of the events that fall in each group's (year's) k highest-ranked rows,
    pooled over the groups; rows tied at the cut-off share its remaining places."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    events = y.sum()
    if events == 0:
        return None
    hits = 0.0
    for group in np.unique(groups):
        members = groups == group
        pg, yg = p[members], y[members]
        if len(pg) <= k:
            hits += yg.sum()
            continue
        cut = np.sort(pg)[::-1][k - 1]
        above = pg > cut
        tied = pg == cut
        places = k - above.sum()
        hits += yg[above].sum() + places * yg[tied].sum() / tied.sum()
    return float(hits / events)


def cluster_skill_interval(
    p: np.ndarray,
    y: np.ndarray,
    reference: np.ndarray,
    clusters: np.ndarray,
    *,
    draws: int = 2000,
    level: float = 0.9,
    seed: int = 20261122,
) -> tuple[float, float] | None:
    """Percentile interval of the Brier skill (1 - B / B_ref) from resampling whole
    clusters (countries) with replacement."""
    labels, where = np.unique(clusters, return_inverse=True)
    if len(labels) < 2:
        return None
    err = np.bincount(where, weights=(p - y) ** 2, minlength=len(labels))
    ref = np.bincount(where, weights=(reference - y) ** 2, minlength=len(labels))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(labels), size=(draws, len(labels)))
    num, den = err[pick].sum(axis=1), ref[pick].sum(axis=1)
    ok = den > 0
    if not ok.any():
        return None
    skill = 1.0 - num[ok] / den[ok]
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(skill, tail)), float(np.percentile(skill, 100 - tail))


def verify(
    p: np.ndarray,
    y: np.ndarray,
    years: np.ndarray,
    subjects: np.ndarray,
    base: np.ndarray,
    no_change: np.ndarray,
    *,
    draws: int = 2000,
) -> dict[str, Any]:
    """The contract's scores of one forecast against the base rate and no change."""
    b, b_ref, b_nc = brier(p, y), brier(base, y), brier(no_change, y)
    out: dict[str, Any] = {
        "auc": roc_auc(p, y),
        "aupr": average_precision(p, y),
        "brier": b,
        "brier_skill": 1.0 - b / b_ref if b_ref > 0 else None,
        "brier_skill_interval": cluster_skill_interval(p, y, base, subjects, draws=draws),
        "brier_skill_vs_no_change": 1.0 - b / b_nc if b_nc > 0 else None,
        "brier_skill_vs_no_change_interval": cluster_skill_interval(
            p, y, no_change, subjects, draws=draws
        ),
        "recall_top10": recall_top(p, y, years, 10),
        "recall_top30": recall_top(p, y, years, 30),
        "n_events": int(y.sum()),
        "n_country_years": len(y),
    }
    return out


@dataclass
class StructuralBacktest:
    """Per outcome: every forecast made, and its scores beside the baselines'."""

    start: int
    end: int
    specs: dict[str, StructuralSpec]
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    n_countries: int = 0

    @property
    def n_onsets(self) -> int:
        onset = self.predictions.get("onset")
        return int(onset["y"].sum()) if onset else 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "n_countries": self.n_countries,
            "n_onsets": self.n_onsets,
        }
        for outcome in OUTCOMES:
            if outcome in self.scores:
                out[outcome] = self.scores[outcome] | {"n_onsets": self.n_onsets}
        out["status"] = self.statuses
        out["anchors"] = list(ANCHORS)
        out["spec"] = {name: spec.to_dict() for name, spec in self.specs.items()}
        return _rounded(out)

    def rows(self, outcome: str) -> list[dict[str, Any]]:
        """Every forecast of one outcome: year, country, probability, what happened."""
        data = self.predictions.get(outcome)
        if not data:
            return []
        return [
            {"year": int(yr), "subject": str(s), "probability": float(p), "outcome": int(o)}
            for yr, s, p, o in zip(data["year"], data["subject"], data["p"], data["y"], strict=True)
        ]


def structural_backtest(
    panel: CountryYearPanel,
    start: int,
    end: int,
    specs: Mapping[str, StructuralSpec] | None = None,
    *,
    draws: int = 2000,
) -> StructuralBacktest:
    """Fit each outcome's model for every year from `start` to `end`, as known on the
    year's origin, and score the forecasts on the years whose outcomes are recorded."""
    specs = dict(specs or {o: StructuralSpec(o) for o in OUTCOMES})
    result = StructuralBacktest(start, end, specs)
    last_idx = FEATURES.index("conflict_last")
    for outcome, spec in specs.items():
        collected: dict[str, list[Any]] = {k: [] for k in ("year", "subject", "p", "y", "nc", "br")}
        statuses: dict[str, int] = {}
        y_all = panel.outcome(outcome)
        for year in range(start, end + 1):
            rows = (panel.years == year) & ~np.isnan(y_all)
            if not rows.any():
                continue  # the record does not cover the year (yet)
            fitted = StructuralModel(panel, spec).fit(year)
            statuses[fitted.status] = statuses.get(fitted.status, 0) + 1
            p = fitted.predict(rows)
            if np.isnan(p).any():
                continue
            collected["year"] += [year] * int(rows.sum())
            collected["subject"] += panel.subjects[rows].tolist()
            collected["p"] += p.tolist()
            collected["y"] += y_all[rows].tolist()
            collected["nc"] += panel.x[rows, last_idx].tolist()
            collected["br"] += [fitted.train_rate] * int(rows.sum())
        arrays = {k: np.array(v) for k, v in collected.items()}
        arrays["subject"] = np.array(collected["subject"], dtype=object)
        result.predictions[outcome] = arrays
        result.statuses[outcome] = statuses
        if not len(arrays["y"]):
            result.scores[outcome] = {"note": "no forecast year's outcome is recorded"}
            continue
        args = (arrays["year"], arrays["subject"])
        scores = verify(arrays["p"], arrays["y"], *args, arrays["br"], arrays["nc"], draws=draws)
        baselines = {
            "no_change": verify(arrays["nc"], arrays["y"], *args, arrays["br"], arrays["nc"],
                                draws=draws),
            "base_rate": verify(arrays["br"], arrays["y"], *args, arrays["br"], arrays["nc"],
                                draws=draws),
        }  # fmt: skip
        result.scores[outcome] = scores | {"baselines": baselines}
    countries: set[str] = set()
    for data in result.predictions.values():
        countries |= set(data["subject"].tolist()) if len(data["subject"]) else set()
    result.n_countries = len(countries)
    return result


def _rounded(data: Any) -> Any:
    if isinstance(data, float):
        return None if math.isnan(data) else round(data, 6)
    if isinstance(data, dict):
        return {k: _rounded(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_rounded(v) for v in data]
    return data
