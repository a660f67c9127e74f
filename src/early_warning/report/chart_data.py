"""What each chart of the report shows, as plain numbers and words (no matplotlib).

`chart_specs(data)` gives, for each chart, everything its drawing reads (the weeks as
ISO dates, the series, the bands, the events and alerts, the weights, the reliability
bins), or None when there is nothing to draw. `charts.draw(name, spec)` draws one; a
spec is also the key under which its PNG is kept across processes (`build_report`),
since the same spec always gives the same pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import ReportData

__all__ = ["BAND_COLOURS", "band_arrays", "chart_specs", "families_spec", "reliability_spec",
           "trend_spec"]  # fmt: skip

# Colour-blind-safe, light enough to print behind a dark line.
BAND_COLOURS = {
    "low": "#e8f1e4",
    "guarded": "#f3f0d7",
    "elevated": "#fbe3c4",
    "high": "#f7c9b5",
    "severe": "#eda7a7",
}


def chart_specs(data: ReportData) -> dict[str, dict[str, Any] | None]:
    return {
        "trend": trend_spec(data),
        "families": families_spec(data),
        "reliability": reliability_spec(data),
    }


def _days(data: ReportData, rows: range) -> list[str]:
    assert data.results is not None
    return [data.results.panel.date(r).isoformat() for r in rows]


def band_arrays(data: ReportData, rows: range) -> tuple[np.ndarray, np.ndarray]:
    """The 5-95% band of the trend chart's weeks: NaN in every week without a score."""
    assert data.uncertainty is not None and data.results is not None
    history = data.uncertainty.history
    low = np.array([np.nan if v is None else v for v in history["low"]], float)[rows]
    high = np.array([np.nan if v is None else v for v in history["high"]], float)[rows]
    gap = np.isnan(data.results.score[rows]) | np.isnan(low) | np.isnan(high)
    low[gap] = high[gap] = np.nan
    return low, high


def trend_spec(data: ReportData) -> dict[str, Any] | None:
    """The weekly score with band shading, the 5-95% band, events and alerts."""
    if data.results is None or np.isnan(data.results.score[data.trend_rows]).all():
        return None
    rows = data.trend_rows
    band = band_arrays(data, rows) if data.uncertainty is not None else None
    return {
        "days": _days(data, rows),
        "score": data.results.score[rows].tolist(),
        "bands": list(data.profile.bands),
        "band": None if band is None else [band[0].tolist(), band[1].tolist()],
        "events": [[str(e["date"])[:10], int(e["severity"] or 1)] for e in data.events],
        "alerts": [[a.as_of, a.severity] for a in data.alerts],
    }


def families_spec(data: ReportData) -> dict[str, Any] | None:
    """Small multiples: each family's score over the trend window (NaN: not scored)."""
    if data.results is None:
        return None
    results, rows = data.results, data.trend_rows
    names = list(results.index.structure.families)
    return {
        "days": _days(data, rows),
        "bands": list(data.profile.bands),
        "families": [
            {
                "name": name,
                "weight": data.profile.family_weights[name],
                "series": np.where(
                    results.agg.sufficient[rows, k],
                    100 * results.agg.family_score[rows, k],
                    np.nan,
                ).tolist(),
            }
            for k, name in enumerate(names)
        ],
    }


def reliability_spec(data: ReportData) -> dict[str, Any] | None:
    """The ensemble backtest's reliability bins per horizon (those with forecasts)."""
    found = {
        h: m["ensemble"]["metrics"].get("reliability")
        for h, m in data.backtest.items()
        if "ensemble" in m
    }
    horizons = [
        [h, [[b["mean_probability"], b["observed_frequency"], b["forecasts"]]
             for b in bins if b["forecasts"]]]
        for h, bins in sorted(found.items())
        if bins
    ]  # fmt: skip
    return {"horizons": horizons} if horizons else None
