"""Forecasting with the database: forecast and backtest a subject as known, and record.

The core (`early_warning.forecast`) fits the models on a scored series and the event
record; this module reads those from the store (always point in time) and writes the
results only when asked (`record_forecast`, `record_backtest`).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..catalog import Catalog
from ..forecast import DEFAULT_HORIZONS, BacktestResult, Forecast, ModelSpec
from ..forecast import backtest as backtest_panel
from ..forecast import forecast as forecast_series
from ..forecast.prior import StructuralPrior
from ..forecast.targets import events_from_rows
from ..scoring import CompositeIndex, Profile
from ..store import Store
from .kept import fingerprint, kept
from .scoring import panel_builder
from .structural import structural_prior

__all__ = [
    "backtest",
    "ensemble_records",
    "forecast_at",
    "forecast_rows",
    "record_backtest",
    "record_forecast",
]


def forecast_at(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    as_of: dt.date,
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    severity: int = 2,
    spec: ModelSpec | None = None,
) -> Forecast:
    """Every model's probability for each horizon, as known on `as_of` (reads only).

    The structural probability recorded for the subject (`services.structural`) that
    stood on `as_of` is the forecast's prior, if there is one. The analysts' forecasts
    of the week are pooled with the ensemble by track record: theirs as known on
    `as_of`, the ensemble's from its newest stored backtest under this profile whose
    outcomes were all known by `as_of` (`ensemble_records`).
    """
    stood = structural_prior(store, subject, as_of)
    events, analysts = store.events(subject), store.analyst_forecasts(subject)
    records = ensemble_records(store, subject, profile, as_of, severity)
    # Same inputs, same forecast (deterministic): a report, its warning level, the
    # pipeline and the workbench ask for the same one, in one process and across them.
    parts = (
        catalog.version, profile.weights_hash, subject, as_of.isoformat(), list(horizons),
        severity, repr(spec), store.data_vintage(subject), events, analysts, records, stood,
    )  # fmt: skip
    key = fingerprint(*parts)
    with _LOCK:  # the workbench asks from several threads
        cached = _FORECASTS.get(key)
        if cached is not None:
            _FORECASTS.move_to_end(key)
            return copy.deepcopy(cached)

    def compute() -> Forecast:
        builder = panel_builder(store, catalog, subject, end=as_of)
        results = CompositeIndex(catalog, profile).fit(builder.panel(as_of, point_in_time=True))
        return forecast_series(
            results, events_from_rows(events), analysts,
            horizons=horizons, severity=severity, spec=spec, ensemble_records=records,
            prior=StructuralPrior.from_dict(stood) if stood else None,
        )  # fmt: skip

    made = kept(store, "forecast", parts, compute, _forecast_json, _forecast_from_json)
    with _LOCK:
        _FORECASTS[key] = copy.deepcopy(made)
        if len(_FORECASTS) > _CACHED:
            _FORECASTS.popitem(last=False)
    return made


# The forecasts this process made or read back, by the fingerprint of everything they
# read: the observations are append-only, so their vintage (newest record, count) names
# them. Across processes, `kept` keeps them in the store.
_FORECASTS: OrderedDict[str, Forecast] = OrderedDict()
_CACHED = 32
_LOCK = threading.Lock()


def _forecast_json(made: Forecast) -> dict[str, Any]:
    return {"as_of": made.as_of.isoformat()} | {
        name: getattr(made, name)
        for name in ("subject", "severity", "horizons", "change_points", "profile_hash")
    }


def _forecast_from_json(value: dict[str, Any]) -> Forecast:
    return Forecast(**(value | {"as_of": dt.date.fromisoformat(value["as_of"])}))


def ensemble_records(
    store: Store, subject: str, profile: Profile, as_of: dt.date, severity: int
) -> dict[int, dict[str, Any]]:
    """The ensemble's track record per horizon: the newest stored backtest of this
    profile for this severity that ends by `as_of` (its Brier skill, origins, period)."""
    found: dict[int, dict[str, Any]] = {}
    for row in store.backtests(subject, profile.weights_hash):  # oldest first
        if row["model"] != "ensemble" or row["severity"] != severity:
            continue
        if not row["end"] or row["end"] > as_of.isoformat():
            continue  # it saw outcomes after the as-of date
        found[int(row["horizon_weeks"])] = {
            key: row[key] for key in ("brier_skill", "n_origins", "start", "end")
        }
    return found


def backtest(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    start: dt.date,
    end: dt.date,
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    severity: int = 2,
    step_weeks: int = 1,
    spec: ModelSpec | None = None,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Rolling-origin, expanding-window, point-in-time backtest of every model (reads only)."""
    return backtest_panel(
        panel_builder(store, catalog, subject, end=end),
        CompositeIndex(catalog, profile), events_from_rows(store.events(subject)),
        store.analyst_forecasts(subject), start, end, horizons=horizons, severity=severity,
        step_weeks=step_weeks, spec=spec, progress=progress,
    )  # fmt: skip


def forecast_rows(forecast: Forecast, profile: Profile, vintage: str) -> Iterator[dict[str, Any]]:
    """The rows of `forecasts` for one forecast: each model, the ensemble (the horizon's
    own row) and, where analysts forecast the same target, the pool with them."""
    for horizon in forecast.horizons:
        for model in [*horizon["models"], horizon, *_pooled(horizon)]:
            yield {
                "subject": forecast.subject, "as_of": forecast.as_of.isoformat(),
                "horizon_weeks": horizon["weeks"], "severity": forecast.severity,
                "model": model["model"], "probability": model["probability"],
                "low": model["low"], "high": model["high"], "status": model["status"],
                "note": model["note"], "profile_hash": profile.weights_hash,
                "data_vintage": vintage,
            }  # fmt: skip


def record_forecast(store: Store, forecast: Forecast, profile: Profile) -> None:
    """Keep a forecast: every model's row with its note, and the analyst pool if any."""
    store.record_forecasts(forecast_rows(forecast, profile, store.data_vintage(forecast.subject)))


def _pooled(horizon: dict[str, Any]) -> list[dict[str, Any]]:
    if "pooled_with_analysts" not in horizon:
        return []
    return [
        {
            "model": "pooled_with_analysts", "probability": horizon["pooled_with_analysts"],
            "low": None, "high": None, "status": "fitted", "note": horizon["pool_rule"],
        }
    ]  # fmt: skip


def record_backtest(store: Store, result: BacktestResult, profile: Profile) -> None:
    """Keep the track record per model, profile and data vintage."""
    vintage = store.data_vintage(result.subject)
    for horizon, info in result.horizons.items():
        for model, metrics in info.get("models", {}).items():
            store.record_backtest(
                {
                    "subject": result.subject,
                    "start": result.start.isoformat(),
                    "end": result.end.isoformat(),
                    "horizon_weeks": horizon,
                    "severity": result.severity,
                    "model": model,
                    "profile": profile.name,
                    "profile_hash": profile.weights_hash,
                    "data_vintage": vintage,
                    "n_origins": metrics["n_origins"],
                    "n_events": metrics["n_events"],
                    "brier": metrics["brier"],
                    "brier_skill": metrics["brier_skill"],
                    "metrics": json.dumps(
                        metrics
                        | {
                            "profile_ranking_auc": info["profile_ranking_auc"],
                            "alerts": info["alerts"],
                        }
                    ),
                }
            )
