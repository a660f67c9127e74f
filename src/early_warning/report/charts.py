"""The report's charts, drawn with matplotlib (Agg) to PNG bytes.

`draw(name, spec)` draws one chart from what `chart_data` says it shows; `trend`,
`families` and `reliability` take the report's data and return PNG bytes, or None when
there is nothing to draw (the layout then writes the reason in words instead of an
empty chart). Output is deterministic:
a fixed size and resolution, the DejaVu font that ships with matplotlib, and no
timestamp in the PNG metadata.

Cheap by construction (issue 19): a `Figure` on its own Agg canvas, not pyplot
(cheaper to import, and no global figure registry to leak into); a fixed layout in
inches instead of the constrained-layout engine, which measured every tick label and
title of every axis and then drew the figure twice; date ticks found once, not by a
date locator at every draw. The margins are the ones constrained layout chose for these
charts at this resolution (measured to 1e-6 in; their texts do not vary: y ticks 0-100,
the band names, one title line), so the pixels are those it drew.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from ..numbers import format_number
from ..scoring.profiles import BAND_NAMES
from .chart_data import BAND_COLOURS, band_arrays, families_spec, reliability_spec, trend_spec
from .data import ReportData

__all__ = ["BAND_COLOURS", "band_arrays", "draw", "families", "reliability", "trend"]
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


def _figure(width: float, height: float, margins: tuple[float, float, float, float]) -> Figure:
    """A figure on its own Agg canvas with fixed `margins` (left, bottom, right, top) in
    inches, kept by `subplots`/`add_subplot` through the figure's subplot parameters."""
    left, bottom, right, top = margins
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(
        left=left / width, bottom=bottom / height, right=1 - right / width, top=1 - top / height
    )
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


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


def _date_ticks(axis: Any, locator: mdates.DateLocator, style: str) -> None:
    """The date ticks `locator` gives over the axis's limits (set before), found once
    and fixed: a date locator redoes its calendar arithmetic (dateutil rrules) each
    time an axis sharing it is measured or drawn."""
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_locator(FixedLocator(locator()))
    axis.xaxis.set_major_formatter(mdates.DateFormatter(style))


def draw(name: str, spec: dict[str, Any]) -> bytes:
    """One chart's PNG from its spec (`chart_data.chart_specs`)."""
    return {"trend": _draw_trend, "families": _draw_families, "reliability": _draw_reliability}[
        name
    ](spec)


def trend(data: ReportData) -> bytes | None:
    """The weekly score with band shading, the 5-95% band, events and alerts."""
    spec = trend_spec(data)
    return None if spec is None else _draw_trend(spec)


def families(data: ReportData) -> bytes | None:
    """Small multiples: each family's score over the trend window."""
    spec = families_spec(data)
    return None if spec is None else _draw_families(spec)


def reliability(data: ReportData) -> bytes | None:
    """Reliability diagram of the ensemble's backtest, one line per horizon."""
    spec = reliability_spec(data)
    return None if spec is None else _draw_reliability(spec)


def _days(spec: dict[str, Any]) -> list[dt.date]:
    return [dt.date.fromisoformat(day) for day in spec["days"]]


def _draw_trend(spec: dict[str, Any]) -> bytes:
    days = _days(spec)
    score = np.array(spec["score"], float)
    with matplotlib.rc_context(_STYLE):
        figure = _figure(7.2, 3.0, (0.51489, 0.493034, 0.46031, 0.083879))
        axis = figure.add_subplot()
        _band_background(axis, tuple(spec["bands"]))
        if spec["band"] is not None:
            low, high = (np.array(side, float) for side in spec["band"])
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
        for day, severity in spec["events"]:
            width = {1: 0.6, 2: 1.0, 3: 1.6}.get(severity, 0.6)
            axis.axvline(
                dt.date.fromisoformat(day), color="#6a3d9a", linewidth=width, alpha=0.6, zorder=1
            )
        if spec["events"]:
            axis.plot([], [], color="#6a3d9a", linewidth=1.0, label="escalation event")
        for day, severity in spec["alerts"]:
            axis.plot(
                dt.date.fromisoformat(day),
                97,
                marker="v",
                color=SEVERITY_COLOURS[severity],
                markersize=6,
                linestyle="none",
                zorder=4,
            )
        if spec["alerts"]:
            axis.plot([], [], marker="v", color="#b00020", linestyle="none", label="alert")
        axis.set_ylim(0, 100)
        axis.set_xlim(days[0], days[-1])
        axis.set_ylabel("score (0-100)")
        _date_ticks(axis, mdates.MonthLocator(bymonth=(1, 7)), "%b %Y")
        axis.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=6.5, frameon=False, ncols=4
        )
        return _png(figure)


def _draw_families(spec: dict[str, Any]) -> bytes:
    names = [family["name"] for family in spec["families"]]
    days = _days(spec)
    columns = 2
    lines = math.ceil(len(names) / columns)
    with matplotlib.rc_context(_STYLE):
        height = 1.55 * lines
        left, bottom, right, top = margins = (0.345142, 0.250003, 0.443235, 0.219974)
        figure = _figure(7.2, height, margins)
        # Between the axes, in inches: the left column's band names, and a title line.
        across, down = 0.788377, 0.330546
        axis_width = (7.2 - left - right - across * (columns - 1)) / columns
        axis_height = (height - bottom - top - down * (lines - 1)) / lines
        figure.subplots_adjust(wspace=across / axis_width, hspace=down / axis_height)
        axes = figure.subplots(lines, columns, sharex=True, squeeze=False)
        for k, family in enumerate(spec["families"]):
            axis = axes[k // columns][k % columns]
            series = np.array(family["series"], float)
            _band_background(axis, tuple(spec["bands"]))
            name, weight = family["name"], family["weight"]
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
            # y given: the title sits where matplotlib would put it (nothing above the
            # axes to avoid), without measuring every tick label to find that out.
            axis.set_title(title, loc="left", y=1.0)
            axis.set_ylim(0, 100)
            axis.set_xlim(days[0], days[-1])
        _date_ticks(axes[0][0], mdates.YearLocator(), "%Y")  # shared by every axis
        for k in range(len(names), lines * columns):
            axes[k // columns][k % columns].set_visible(False)
        return _png(figure)


def _draw_reliability(spec: dict[str, Any]) -> bytes:
    with matplotlib.rc_context(_STYLE):
        figure = _figure(3.4, 3.0, (0.48364, 0.419752, 0.12917, 0.083879))
        axis = figure.add_subplot()
        axis.plot(
            [0, 1],
            [0, 1],
            color="#888888",
            linewidth=0.8,
            linestyle="--",
            label="perfectly calibrated",
        )
        for (horizon, bins), marker in zip(spec["horizons"], "os^d", strict=False):
            x = [b[0] for b in bins]
            y = [b[1] for b in bins]
            n = [b[2] for b in bins]
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
