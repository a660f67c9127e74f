"""Escalation forecasts and their point-in-time track record (pure: no database).

    outlook = forecast(results, events, analyst_rows)              # every horizon
    record = backtest(builder, index, events, analyst_rows, start, end)

`early_warning.services` runs both from the store (`forecast_at`, `backtest`) and
records them (`record_forecast`, `record_backtest`).

At an origin the models see only what was known then: the panel is built point in
time (`PanelBuilder`), events count only once known, and a week's label (an event in
the next H weeks) is used for training only once its H weeks have passed. Modules:
`targets` (labels), `models` (the models and the pool), `metrics` (verification),
`analysts` (the analysts' own forecasts: retrospective entries, track records, weights).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..panel import PanelBuilder
from ..scoring import CompositeIndex, ScoreResults
from .analysts import analyst_pool, horizon_pool, not_scored, score_analysts
from .metrics import alert_skill, roc_auc, summary
from .models import (
    BaseRate,
    ForecastData,
    Logistic,
    MarkovRegime,
    ModelSpec,
    Prediction,
    TrackRecord,
    Trend,
    pool,
)
from .prior import StructuralPrior, with_prior
from .targets import EventSet, event_within

__all__ = [
    "DEFAULT_HORIZONS",
    "BacktestResult",
    "Forecast",
    "ModelSpec",
    "Prediction",
    "analyst_pool",
    "backtest",
    "backtest_series",
    "change_points",
    "features",
    "forecast",
    "score_analysts",
    "track_record",
]

DEFAULT_HORIZONS = (4, 12)
EVENT_MODELS = ("logistic", "markov")
TRACK_STEP_WEEKS = 4  # `forecast`'s track record: an origin every 4 weeks ...
TRACK_WEEKS = 104  # ... over the two years before the as-of date


def features(results: ScoreResults) -> tuple[np.ndarray, list[str]]:
    """Model inputs for every week: composite, families, indicator risks, changes.

    Missing values enter as 0 with an availability flag beside them, so the model can
    tell "no data" from "no risk"; this is model input only, never a displayed score.
    """
    agg, risk = results.agg, results.risk
    composite = np.nan_to_num(results.score) / 100.0
    columns = [composite]
    names = ["composite"]
    for lag in (4, 12):
        shifted = np.full_like(results.score, np.nan)
        shifted[lag:] = results.score[:-lag]
        columns.append(np.nan_to_num(results.score - shifted) / 100.0)
        names.append(f"composite_change_{lag}w")
    for k, family in enumerate(results.index.structure.families):
        scored = agg.sufficient[:, k]
        columns += [np.where(scored, np.nan_to_num(agg.family_score[:, k]), 0.0), scored * 1.0]
        names += [f"family_{family}", f"family_{family}_scored"]
    available = ~np.isnan(risk)
    for j, indicator in enumerate(results.index.indicators):
        if available[:, j].any():
            columns += [np.nan_to_num(risk[:, j]), available[:, j] * 1.0]
            names += [f"risk_{indicator}", f"has_{indicator}"]
    return np.column_stack(columns), names


def _models(spec: ModelSpec, only: Sequence[str] = EVENT_MODELS) -> dict[str, Any]:
    """One object per model, kept across horizons and origins: the Markov and trend
    fits depend only on the series and are shared across horizons; the logistic's
    fits start where the same fit ended at the last origin."""
    every = {"logistic": Logistic(spec), "markov": MarkovRegime(spec)}
    return {name: every[name] for name in only}


# No limit on the record's span: every label whose horizon has passed is known.
_UNBOUNDED = (-(1 << 40), 1 << 40)


def _labels(
    days: np.ndarray,
    origin: int,
    events: EventSet,
    horizon: int,
    record: tuple[int, int] | None = _UNBOUNDED,
) -> np.ndarray:
    """Labels as known at the origin.

    NaN where the horizon has not passed by the origin, and outside the event record's
    span as known then (`_record_span`: its first and last usable events): a week
    before the record begins, or whose horizon runs past the last event recorded with
    no event in it, is not "quiet", it is unrecorded. Without a record (None) every
    label is unknown: a subject with no recorded event has no base rate, not 0%.
    """
    known = events.known_by(origin)
    y = event_within(days, known, horizon)
    y[days + 7 * horizon > origin] = np.nan
    if record is None:
        y[:] = np.nan
        return y
    start, end = record
    y[days < start - 7 * horizon] = np.nan
    y[(days + 7 * horizon > end) & (y == 0)] = np.nan
    return y


@dataclass
class Forecast:
    subject: str
    as_of: dt.date
    severity: int
    horizons: list[dict[str, Any]]
    change_points: list[dict[str, Any]]
    profile_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "as_of": self.as_of.isoformat(),
            "severity_at_least": self.severity,
            "profile_hash": self.profile_hash,
            "horizons": self.horizons,
            "change_points": self.change_points,
        }


def _predict(
    data: ForecastData,
    spec: ModelSpec,
    fitters: dict[str, Any] | None = None,
    track: TrackRecord | None = None,
    prior: Prediction | None = None,
    trend: Trend | None = None,
) -> dict[str, Prediction]:
    base = BaseRate(spec).fit(data)
    out = {"base_rate": base}
    for name, model in (fitters or _models(spec)).items():
        out[name] = model.fit(data)
    out["ensemble"] = pool([out[m] for m in EVENT_MODELS if m in out], base, track, prior)
    out["trend"] = (trend or Trend(spec)).fit(data)
    return out


def track_record(
    days: np.ndarray,
    composite: np.ndarray,
    x: np.ndarray,
    names: list[str],
    recorded: EventSet,
    events: EventSet,
    as_of: dt.date,
    horizon: int,
    spec: ModelSpec,
    fitters: dict[str, Any],
    *,
    step_weeks: int = TRACK_STEP_WEEKS,
    weeks: int = TRACK_WEEKS,
) -> TrackRecord:
    """The models' out-of-sample forecasts at past origins, scored on what was known
    by `as_of`: an origin every `step_weeks` over the `weeks` before it whose horizon
    has passed; at each, the models see the series up to that origin and the labels
    known then (the series itself as known at `as_of`: revisions published later are
    in it, outcomes are not)."""
    origin = as_of.toordinal()
    known = events.known_by(origin)
    # On one grid for every horizon, so the Markov fits (by series) are shared.
    grid = [origin - 7 * step_weeks * k for k in range(1, weeks // step_weeks + 1)]
    past = [d for d in grid if d + 7 * horizon <= origin]
    rows: dict[str, list[float]] = {"base_rate": [], **{m: [] for m in fitters}}
    kept = []
    for day in sorted(d for d in past if d >= int(days[0])):
        upto = int(np.searchsorted(days, day, side="right"))
        if upto < spec.min_weeks or np.isnan(composite[upto - 1]):
            continue
        labels = _labels(days[:upto], day, events, horizon, _record_span(recorded, day))
        data = ForecastData(composite[:upto], x[:upto], names, labels, 0.0, horizon)
        base = BaseRate(spec).fit(data)
        if np.isnan(base.probability):
            continue
        rows["base_rate"].append(base.probability)
        for m, model in fitters.items():
            rows[m].append(model.fit(data).probability)
        kept.append(day)
    return _resolved(np.array(kept, dtype=np.int64), rows, known, recorded, origin, horizon)


def _resolved(
    when: np.ndarray,
    forecasts: Mapping[str, Sequence[float]],
    known: EventSet,
    recorded: EventSet,
    origin: int,
    horizon: int,
    complete_through: int | None = None,
) -> TrackRecord:
    """The forecasts made on `when` whose outcomes the record resolves by the origin:
    an event in the horizon, or a quiet horizon that ends by the record's last event
    (a horizon past it is unrecorded, not quiet: `_labels`)."""
    outcomes = event_within(when, known, horizon)
    y = _labels(when, origin, known, horizon, _record_span(recorded, origin, complete_through))
    keep = ~np.isnan(y)
    return TrackRecord(
        outcomes[keep], {m: np.asarray(v, dtype=float)[keep] for m, v in forecasts.items()}
    )


def forecast(
    results: ScoreResults,
    recorded: EventSet,
    analyst_rows: Sequence[dict[str, Any]],
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    severity: int = 2,
    spec: ModelSpec | None = None,
    ensemble_records: Mapping[int, Mapping[str, Any]] | None = None,
    prior: StructuralPrior | None = None,
) -> Forecast:
    """Every model's probability for each horizon, from a series scored point in time.

    `recorded` is the event record, `analyst_rows` the analysts' own forecasts (both
    as stored); only what was known at the series' as-of date is used. The ensemble
    weighs the models by their skill in a track record of out-of-sample forecasts at
    past origins (`track_record`); when none shows skill the headline is the base rate.
    `prior`, the structural model's yearly probability (`prior.py`), converted to each
    horizon, is shown beside the models and stands in where the subject's own history
    cannot give a base rate (a different question, so never over one).
    `ensemble_records[h]` is the ensemble's track record at horizon h (`brier_skill`,
    `n_origins`, `start`, `end` of a backtest over outcomes known by then), which sets
    its share in the pool with the analysts (`analysts.skill_pool`).
    """
    spec = spec or ModelSpec(bootstrap=40)
    profile, as_of, subject = results.profile, results.panel.as_of, results.panel.subject
    x, names = features(results)
    events = recorded.at_least(severity)
    span = _record_span(recorded, as_of.toordinal())
    origin = as_of.toordinal()
    no_score = bool(np.isnan(results.score[-1])) if len(results.score) else True
    entries = []
    fitters = _models(spec)
    track_spec = replace(spec, bootstrap=0, reselect_weeks=26)
    track_fitters = _models(track_spec)
    trend = Trend(spec)
    records = score_analysts(analyst_rows, recorded.known_by(origin), as_of)
    for horizon in horizons:
        labels = _labels(results.panel.dates, origin, events, horizon, span)
        data = ForecastData(results.score, x, names, labels, profile.band_floor("high"), horizon)
        track = None
        if not no_score:
            track = track_record(
                results.panel.dates, results.score, x, names, recorded, events, as_of,
                horizon, track_spec, track_fitters,
            )  # fmt: skip
        # The structural prior answers another question (UCDP armed conflict, not the
        # subject's escalation events): shown beside the models, it stands in only where
        # the subject's own record gives no base rate (prior.py), never over one.
        predictions = with_prior(_predict(data, spec, fitters, track, None, trend), prior, horizon)
        ensemble = predictions["ensemble"]
        if no_score:
            ensemble = Prediction(
                "ensemble", predictions["base_rate"].probability, predictions["base_rate"].low,
                predictions["base_rate"].high, "insufficient data",
                "no score at the origin (too little current data); the base rate stands in",
            )  # fmt: skip
        entry = {
            "weeks": horizon,
            **{k: v for k, v in ensemble.to_dict().items() if k != "detail"},
            "models": [p.to_dict() for name, p in predictions.items() if name != "ensemble"],
        }
        if prior is not None:  # prior.py: the structural prior over this horizon
            entry["prior"] = prior.to_dict(horizon)
        entry |= horizon_pool(
            ensemble.probability, analyst_rows, records, as_of, horizon, severity,
            (ensemble_records or {}).get(horizon),
        )  # fmt: skip
        entries.append(entry)
    return Forecast(subject, as_of, severity, entries, change_points(results), profile.weights_hash)


def _record_span(
    events: EventSet, origin: int, complete_through: int | None = None
) -> tuple[int, int] | None:
    """The first and last days of the event record as known at the origin (its first
    and last events), or None when nothing is recorded: past its last event the record
    says nothing, so weeks there are not counted as quiet (the embedded record ends in
    2020; counting the years since as quiet made any near-0 forecast "beat" the base
    rate). `complete_through` declares the record complete up to a day (a generated
    record, or a source known to be complete): quiet weeks up to it then count."""
    known = events.known_by(origin)
    if not len(known):
        return None
    end = int(known.start.max())
    if complete_through is not None:
        end = max(end, min(complete_through, origin))
    return int(known.start.min()), end


def change_points(
    results: ScoreResults, threshold: float = 4.0, drift: float = 0.5, baseline: int = 26
) -> list[dict[str, Any]]:
    """Two-sided CUSUM on each indicator's weekly values: abrupt changes and their start.

    Each value is standardised against the trailing `baseline` weeks (at least 8), with
    a floor on the spread of 2% of the indicator's valid range so that a flat series
    does not make every wobble infinite. An alarm fires when the cumulative sum passes
    `threshold`; the change is dated to where that run began, and the baseline then
    restarts there, so one lasting shift is flagged once.
    """
    panel = results.panel
    catalog = results.index.catalog
    found = []
    for j, indicator in enumerate(results.index.indicators):
        seen = ~np.isnan(panel.values[:, j])
        x, days = panel.values[seen, j], panel.dates[seen]
        low, high = catalog.indicators[indicator].value_range
        floor = 0.02 * (high - low) or 1e-9
        full = _full_window_scores(x, baseline, floor)
        origin, up, down, up_start, down_start = 0, 0.0, 0.0, 0, 0
        for k in range(len(x)):
            start = max(origin, k - baseline)
            if k - start < 8:
                continue
            if start == k - baseline:  # a full trailing window, as most weeks have
                z = full[k - baseline]
            else:  # fewer weeks since the first one or since a change
                window = x[start:k]
                z = float((x[k] - window.mean()) / max(window.std(), floor))
            up_start = k if up == 0 else up_start
            down_start = k if down == 0 else down_start
            up, down = max(0.0, up + z - drift), max(0.0, down - z - drift)
            for direction, total, begun in (("up", up, up_start), ("down", down, down_start)):
                if total > threshold:
                    found.append(
                        {
                            "indicator": indicator,
                            "direction": direction,
                            "started": dt.date.fromordinal(int(days[begun])).isoformat(),
                            "detected": dt.date.fromordinal(int(days[k])).isoformat(),
                        }
                    )
                    origin, up, down = begun, 0.0, 0.0
                    break
    found.sort(key=lambda item: (item["detected"], item["indicator"]))
    return found


def _full_window_scores(x: np.ndarray, baseline: int, floor: float) -> list[float]:
    """For every k >= baseline, x[k] standardised against x[k - baseline : k] (its mean
    and its spread, at least `floor`): element k - baseline. The windows' means and
    spreads are numpy's over each window (a strided view, no copy), the same sums as
    `window.mean()` and `window.std()` of each slice, for all weeks in two calls."""
    if len(x) <= baseline:
        return []
    windows = np.lib.stride_tricks.sliding_window_view(x[:-1], baseline)
    z = (x[baseline:] - windows.mean(axis=1)) / np.maximum(windows.std(axis=1), floor)
    return z.tolist()


# -- backtests -----------------------------------------------------------------------


@dataclass
class BacktestResult:
    """Pooled predictions over all origins and their verification, per horizon."""

    subject: str
    start: dt.date
    end: dt.date
    severity: int
    profile_hash: str
    horizons: dict[int, dict[str, Any]] = field(default_factory=dict)
    seconds_preparing: float = 0.0
    seconds_fitting: float = 0.0
    n_origins: int = 0
    excluded_imprecise_events: int = 0
    analysts: dict[str, Any] = field(default_factory=dict)
    analysts_not_scored: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "severity_at_least": self.severity,
            "profile_hash": self.profile_hash,
            "n_origins": self.n_origins,
            "excluded_imprecise_events": self.excluded_imprecise_events,
            "seconds_preparing": round(self.seconds_preparing, 3),
            "seconds_fitting": round(self.seconds_fitting, 3),
            "horizons": {str(h): v for h, v in self.horizons.items()},
            "analysts": self.analysts,
            "analysts_not_scored": self.analysts_not_scored,
        }

    def headline(self, horizon: int | None = None) -> dict[str, Any]:
        """The DESIGN.md 3.4 keys for the ensemble at one horizon (the first by default)."""
        horizon = horizon or min(self.horizons)
        ensemble = self.horizons[horizon]["models"]["ensemble"]
        return {
            k: ensemble[k]
            for k in ("brier", "brier_skill", "log_loss", "auc", "n_origins", "n_events")
        }


SeriesAt = Callable[[dt.date], tuple[ScoreResults | None, np.ndarray, np.ndarray, list[str]]]


def backtest(
    builder: PanelBuilder,
    index: CompositeIndex,
    all_events: EventSet,
    analyst_rows: Sequence[dict[str, Any]],
    start: dt.date,
    end: dt.date,
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    severity: int = 2,
    step_weeks: int = 1,
    spec: ModelSpec | None = None,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Rolling-origin, expanding-window, point-in-time backtest of every model.

    At each origin the panel is rebuilt as known then (`builder`), scored with `index`,
    and the models are fitted on what had resolved by then.
    """
    profile, subject = index.profile, builder.subject
    events = all_events.at_least(severity)

    def series_at(origin: dt.date) -> tuple[ScoreResults, np.ndarray, np.ndarray, list[str]]:
        results = index.fit(builder.panel(origin, point_in_time=True))
        x, names = features(results)
        return results, results.score, x, names

    origins = _origins(start, end, step_weeks)
    result = backtest_series(
        series_at, origins, events, horizons=horizons, spec=spec,
        high_threshold=profile.band_floor("high"), verified_until=end, all_events=all_events,
        progress=progress,
    )  # fmt: skip
    result.subject, result.severity, result.profile_hash = subject, severity, profile.weights_hash
    result.analysts = score_analysts(analyst_rows, all_events, end)
    result.analysts_not_scored = not_scored(analyst_rows, end)
    return result


def _origins(start: dt.date, end: dt.date, step_weeks: int) -> list[dt.date]:
    first = start + dt.timedelta(days=(6 - start.weekday()) % 7)  # the first Sunday
    days = []
    day = first
    while day <= end:
        days.append(day)
        day += dt.timedelta(weeks=step_weeks)
    return days


def _running_track(
    days: list[int],
    forecasts: dict[str, list[float]],
    events: EventSet,
    record: EventSet,
    day: int,
    horizon: int,
    complete_through: int | None = None,
) -> TrackRecord:
    """The forecasts made at earlier origins whose horizon has passed by `day`, with
    their outcomes as known on `day`."""
    resolved = int(np.searchsorted(np.array(days, dtype=np.int64), day - 7 * horizon, "right"))
    when = np.array(days[:resolved], dtype=np.int64)
    made = {m: v[:resolved] for m, v in forecasts.items()}
    return _resolved(when, made, events.known_by(day), record, day, horizon, complete_through)


def backtest_series(
    series_at: SeriesAt,
    origins: Sequence[dt.date],
    events: EventSet,
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    spec: ModelSpec | None = None,
    high_threshold: float = 60.0,
    verified_until: dt.date | None = None,
    models: Sequence[str] = EVENT_MODELS,
    all_events: EventSet | None = None,
    progress: Callable[[int], None] | None = None,
    complete_through: dt.date | None = None,
) -> BacktestResult:
    """The backtest engine, on any source of point-in-time series (testable alone).

    An origin's outcome is verified only when its whole horizon ends by
    `verified_until` (default: the last origin), and a quiet horizon only when it ends
    by the record's last event or by `complete_through` (a declaration that the events
    are complete up to that day); past both it is unrecorded, not quiet (`_labels`).
    """
    spec = spec or ModelSpec()
    record = all_events if all_events is not None else events
    names = ["base_rate", *models, "ensemble"]
    rows: dict[int, dict[str, list[float]]] = {h: {m: [] for m in names} for h in horizons}
    kept: dict[int, dict[str, list[Any]]] = {
        h: {"day": [], "y": [], "persistence": [], "score": []} for h in horizons
    }
    statuses: dict[int, dict[str, dict[str, int]]] = {h: {m: {} for m in names} for h in horizons}
    until = verified_until or (origins[-1] if origins else dt.date.min)
    last_known = until.toordinal()
    complete = complete_through.toordinal() if complete_through else None
    span = _record_span(record, last_known, complete)
    record_end = span[1] if span else -(1 << 40)
    preparing = fitting = 0.0
    fitters = _models(spec, models)  # one set, so fits shared across horizons are reused
    # Each horizon's running track record: the forecasts made so far, for the ensemble's
    # weights at later origins once their outcomes are known there.
    track_days: dict[int, list[int]] = {h: [] for h in horizons}
    track_p: dict[int, dict[str, list[float]]] = {
        h: {m: [] for m in ["base_rate", *models]} for h in horizons
    }
    for origin in origins:
        began = time.perf_counter()
        results, composite, x, feature_names = series_at(origin)
        day = origin.toordinal()
        days = results.panel.dates if results is not None else np.arange(len(composite))
        preparing += time.perf_counter() - began
        for horizon in horizons:
            outcome_day = day + 7 * horizon
            if outcome_day > last_known:
                continue  # the outcome is not known yet: nothing to verify
            began = time.perf_counter()
            y_train = _labels(days, day, events, horizon, _record_span(record, day, complete))
            data = ForecastData(composite, x, feature_names, y_train, high_threshold, horizon)
            preparing += time.perf_counter() - began
            began = time.perf_counter()
            base = BaseRate(spec).fit(data)
            fitted = {m: model.fit(data) for m, model in fitters.items()}
            track = _running_track(
                track_days[horizon], track_p[horizon], events, record, day, horizon, complete
            )
            fitted["ensemble"] = pool([fitted[m] for m in models], base, track)
            if not np.isnan(base.probability):
                track_days[horizon].append(day)
                for m, values in track_p[horizon].items():
                    values.append((base if m == "base_rate" else fitted[m]).probability)
            if np.isnan(composite[-1]):  # no score at the origin: as `forecast` does
                fitted["ensemble"] = Prediction(
                    "ensemble", base.probability, base.low, base.high, "insufficient data"
                )
            fitted["base_rate"] = base
            fitting += time.perf_counter() - began
            if np.isnan(base.probability):
                continue  # nothing labelled yet: no forecast to verify at this origin
            actual = event_within(np.array([day]), events, horizon)[0]
            if actual == 0 and outcome_day > record_end:
                continue  # past the record's last event: unrecorded, not a quiet horizon
            for m in names:
                rows[horizon][m].append(fitted[m].probability)
                statuses[horizon][m][fitted[m].status] = (
                    statuses[horizon][m].get(fitted[m].status, 0) + 1
                )
            recent = (
                (events.start > day - 7 * horizon) & (events.start <= day) & (events.known <= day)
            ).any()
            kept[horizon]["day"].append(day)
            kept[horizon]["y"].append(actual)
            kept[horizon]["persistence"].append(float(recent))
            kept[horizon]["score"].append(float(composite[-1]))
        if progress:
            progress(1)
    result = BacktestResult(
        "", origins[0] if origins else dt.date.min, origins[-1] if origins else dt.date.min, 0, ""
    )
    result.n_origins = len(origins)
    result.seconds_preparing, result.seconds_fitting = preparing, fitting
    result.excluded_imprecise_events = events.excluded_imprecise
    for horizon in horizons:
        y = np.array(kept[horizon]["y"])
        if not len(y):
            result.horizons[horizon] = {
                "verified_origins": 0,
                "note": "no origin's outcome is known yet",
            }
            continue
        base = np.array(rows[horizon]["base_rate"])
        persistence = np.array(kept[horizon]["persistence"])
        models = {}
        for m in names:
            p = np.array(rows[horizon][m])
            models[m] = summary(p, y, base, persistence) | {"status": statuses[horizon][m]}
        days = np.array(kept[horizon]["day"])
        scores = np.array(kept[horizon]["score"])
        has_score = ~np.isnan(scores)
        ensemble = np.array(rows[horizon]["ensemble"])
        event_days = events.start[
            (events.start >= days.min()) & (events.start <= days.max() + 7 * horizon)
        ]
        result.horizons[horizon] = {
            "verified_origins": len(y),
            "events_in_period": len(event_days),
            "profile_ranking_origins": int(has_score.sum()),
            "models": models,
            "profile_ranking_auc": roc_auc(scores[has_score], y[has_score])
            if has_score.any()
            else None,
            "alerts": [
                alert_skill(days, ensemble, event_days, threshold, horizon)
                for threshold in (0.25, 0.5)
            ],
        }
    return result
