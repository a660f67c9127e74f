"""The report's charts, drawn with matplotlib (Agg) to PNG bytes.

Each function returns PNG bytes, or None when there is nothing to draw (the layout
then writes the reason in words instead of an empty chart). Output is deterministic:
a fixed size and resolution, the DejaVu font that ships with matplotlib, and no
timestamp in the PNG metadata.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from ..numbers import format_number
from ..scoring.profiles import BAND_NAMES
from .data import ReportData

__all__ = ["BAND_COLOURS", "band_arrays", "families", "reliability", "trend"]

# Colour-blind-safe, light enough to print behind a dark line.
BAND_COLOURS = {
    "low": "#e8f1e4",
    "guarded": "#f3f0d7",
    "elevated": "#fbe3c4",
    "high": "#f7c9b5",
    "severe": "#eda7a7",
}
SEVERITY_COLOURS = {"watch": "#1f4e79", "amber": "#b36b00", "red": "#b00020"}
DPI = 160
_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "early-warning",
}


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _dates(data: ReportData, rows: range) -> list[dt.date]:
    assert data.results is not None
    return [data.results.panel.date(r) for r in rows]


def _band_background(axis: Any, bands: tuple[float, ...]) -> None:
    edges = [0.0, *bands, 100.0]
    for name, low, high in zip(BAND_NAMES, edges[:-1], edges[1:], strict=True):
        axis.axhspan(low, high, color=BAND_COLOURS[name], zorder=0, linewidth=0)
        axis.text(
            1.005,
            (low + high) / 2,
            name,
            transform=axis.get_yaxis_transform(),
            va="center",
            fontsize=6.5,
            color="#555555",
        )


def band_arrays(data: ReportData, rows: range) -> tuple[np.ndarray, np.ndarray]:
    """The 5-95% band of the trend chart's weeks: NaN in every week without a score."""
    assert data.uncertainty is not None and data.results is not None
    history = data.uncertainty.history
    low = np.array([np.nan if v is None else v for v in history["low"]], float)[rows]
    high = np.array([np.nan if v is None else v for v in history["high"]], float)[rows]
    gap = np.isnan(data.results.score[rows]) | np.isnan(low) | np.isnan(high)
    low[gap] = high[gap] = np.nan
    return low, high


def trend(data: ReportData) -> bytes | None:
    """The weekly score with band shading, the 5-95% band, events and alerts."""
    if data.results is None or np.isnan(data.results.score[data.trend_rows]).all():
        return None
    rows = data.trend_rows
    days = _dates(data, rows)
    score = data.results.score[rows]
    with plt.rc_context(_STYLE):
        figure, axis = plt.subplots(figsize=(7.2, 3.0), layout="constrained")
        _band_background(axis, data.profile.bands)
        if data.uncertainty is not None:
            low, high = band_arrays(data, rows)
            axis.fill_between(
                days,
                low,
                high,
                where=~np.isnan(low),  # a gap where there is no score, never bridged
                color="#4a6fa5",
                alpha=0.25,
                linewidth=0,
                label="5-95% under weight uncertainty",
            )
        axis.plot(days, score, color="#1b1b1b", linewidth=1.4, label="score")
        for event in data.events:
            day = dt.date.fromisoformat(str(event["date"])[:10])
            width = {1: 0.6, 2: 1.0, 3: 1.6}.get(int(event["severity"] or 1), 0.6)
            axis.axvline(day, color="#6a3d9a", linewidth=width, alpha=0.6, zorder=1)
        if data.events:
            axis.plot([], [], color="#6a3d9a", linewidth=1.0, label="escalation event")
        for alert in data.alerts:
            day = dt.date.fromisoformat(alert.as_of)
            axis.plot(
                day,
                97,
                marker="v",
                color=SEVERITY_COLOURS[alert.severity],
                markersize=6,
                linestyle="none",
                zorder=4,
            )
        if data.alerts:
            axis.plot([], [], marker="v", color="#b00020", linestyle="none", label="alert")
        axis.set_ylim(0, 100)
        axis.set_xlim(days[0], days[-1])
        axis.set_ylabel("score (0-100)")
        axis.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 7)))
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
        axis.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=6.5, frameon=False, ncols=4
        )
        return _png(figure)


def families(data: ReportData) -> bytes | None:
    """Small multiples: each family's score over the trend window."""
    if data.results is None:
        return None
    results, rows = data.results, data.trend_rows
    names = list(results.index.structure.families)
    days = _dates(data, rows)
    columns = 2
    lines = math.ceil(len(names) / columns)
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(
            lines,
            columns,
            figsize=(7.2, 1.55 * lines),
            sharex=True,
            layout="constrained",
            squeeze=False,
        )
        for k, name in enumerate(names):
            axis = axes[k // columns][k % columns]
            series = np.where(
                results.agg.sufficient[rows, k], 100 * results.agg.family_score[rows, k], np.nan
            )
            _band_background(axis, data.profile.bands)
            weight = data.profile.family_weights[name]
            title = f"{name} (weight {format_number(weight, digits=6)})"
            if weight == 0:
                axis.text(
                    0.5,
                    0.5,
                    "context only (weight 0): not part of the score",
                    ha="center",
                    va="center",
                    transform=axis.transAxes,
                    fontsize=7.5,
                )
            elif np.isnan(series).all():
                axis.text(
                    0.5,
                    0.5,
                    "insufficient data in this period",
                    ha="center",
                    va="center",
                    transform=axis.transAxes,
                    fontsize=7.5,
                )
            else:
                axis.plot(days, series, color="#1b1b1b", linewidth=1.1)
                gaps = np.isnan(series).mean()
                if gaps > 0:
                    axis.text(
                        0.01,
                        0.9,
                        f"not scored in {gaps:.0%} of weeks (coverage)",
                        transform=axis.transAxes,
                        fontsize=6.5,
                        color="#444444",
                    )
            axis.set_title(title, loc="left")
            axis.set_ylim(0, 100)
            axis.set_xlim(days[0], days[-1])
            axis.xaxis.set_major_locator(mdates.YearLocator())
            axis.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        for k in range(len(names), lines * columns):
            axes[k // columns][k % columns].set_visible(False)
        return _png(figure)


def reliability(data: ReportData) -> bytes | None:
    """Reliability diagram of the ensemble's backtest, one line per horizon."""
    found = {
        h: m["ensemble"]["metrics"].get("reliability")
        for h, m in data.backtest.items()
        if "ensemble" in m
    }
    found = {h: bins for h, bins in found.items() if bins}
    if not found:
        return None
    with plt.rc_context(_STYLE):
        figure, axis = plt.subplots(figsize=(3.4, 3.0), layout="constrained")
        axis.plot(
            [0, 1],
            [0, 1],
            color="#888888",
            linewidth=0.8,
            linestyle="--",
            label="perfectly calibrated",
        )
        for (horizon, bins), marker in zip(sorted(found.items()), "os^d", strict=False):
            x = [b["mean_probability"] for b in bins if b["forecasts"]]
            y = [b["observed_frequency"] for b in bins if b["forecasts"]]
            n = [b["forecasts"] for b in bins if b["forecasts"]]
            axis.plot(x, y, marker=marker, linewidth=1.0, label=f"{horizon} weeks")
            for xi, yi, ni in zip(x, y, n, strict=True):
                axis.annotate(
                    str(ni), (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("forecast probability")
        axis.set_ylabel("observed frequency")
        axis.legend(fontsize=6.5, loc="upper left")
        return _png(figure)
