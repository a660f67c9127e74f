"""Services: the only floor that joins the store and the pure core.

Each function reads what it needs from the store, hands it to the core, and writes
back only where its name says so (`record_*`): reading never writes.

    results = score(store, catalog, profile, "BLR", as_of)      # a ScoreResults
    record_scores(store, catalog, results, [results.latest_row])
    forecast = forecast_at(store, catalog, profile, "BLR", as_of)
    record_forecast(store, forecast, profile)
    warning = assess_week(store, catalog, profile, rules, "BLR", as_of)   # one level
"""

from __future__ import annotations

from .forecasting import backtest, forecast_at, record_backtest, record_forecast
from .scoring import (
    load_panel,
    panel_builder,
    record_scores,
    record_sensitivity,
    score,
    sensitivity,
)
from .warning import assess_week, ranking_note, record_warning

__all__ = [
    "assess_week",
    "backtest",
    "forecast_at",
    "load_panel",
    "panel_builder",
    "ranking_note",
    "record_backtest",
    "record_forecast",
    "record_scores",
    "record_sensitivity",
    "record_warning",
    "score",
    "sensitivity",
]
