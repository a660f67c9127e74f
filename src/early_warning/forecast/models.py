"""Forecasting models: `Model(spec).fit(data) -> Results` with `predict` and `summary`.

Every model answers the same question: the probability of an escalation event of
severity >= S within H weeks of the origin, given only what was known at the origin.

  base_rate    the share of training weeks followed by an event (Jeffreys interval);
               also the fallback of every other model, flagged as such
  logistic     L2-penalised logistic regression on family scores, indicator risks and
               changes of the composite; the penalty chosen by rolling-origin
               cross-validation (log loss), sigmoid-calibrated when events allow
  markov       two-regime Markov-switching regression on the standardised composite
               (statsmodels' default start values fail far from zero, so the series is
               centred and scaled first): the probability of the high-tension regime,
               turned into an event probability with each regime's event rate in the
               training weeks
  trend        Holt's damped trend on the composite, simulated forward: the
               probability that the score reaches the `high` band within H weeks
               (a different target, reported beside the others, not pooled)
  ensemble     the equal-weight linear pool of the event models that could be fitted
               (logistic, markov); the base rate when none could

"Insufficient history" is a status, never a fitted-looking number: a model that cannot
be fitted answers with the base rate and says so, in one of two words: INSUFFICIENT
("insufficient history (base rate)": too few training weeks, events or quiet weeks to
try) or NOT_FITTED ("not fitted (base rate)": tried, and the fit failed or the regimes
did not separate), with the reason in its note.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..numbers import format_number
from .metrics import log_loss

__all__ = [
    "INSUFFICIENT",
    "NOT_FITTED",
    "BaseRate",
    "ForecastData",
    "Logistic",
    "MarkovRegime",
    "ModelSpec",
    "Prediction",
    "Trend",
    "pool",
]


INSUFFICIENT = "insufficient history (base rate)"  # too little to try a fit
NOT_FITTED = "not fitted (base rate)"  # tried: the fit failed or says nothing


@dataclass(frozen=True)
class ModelSpec:
    """Settings shared by the models (from `models/forecast.yaml` or defaults)."""

    min_events: int = 5  # fewest positive training weeks a model may rest on
    min_weeks: int = 52  # fewest training weeks with a score
    cv_folds: int = 4
    penalties: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    calibrate_min_events: int = 15
    bootstrap: int = 0  # refits for the logistic interval (0: no interval)
    simulations: int = 500
    seed: int = 20261122


@dataclass
class ForecastData:
    """What the models see at one origin, for one horizon.

    Rows are the weeks up to the origin; `y` is known only for rows whose horizon has
    passed by the origin (NaN otherwise); the last row is the origin itself.
    """

    composite: np.ndarray  # weeks, 0-100 (NaN: no score)
    features: np.ndarray  # weeks x k
    feature_names: list[str]
    y: np.ndarray  # weeks: 1 event within H, 0 none, NaN unknown at the origin
    high_threshold: float
    horizon_weeks: int

    @property
    def train(self) -> np.ndarray:
        """Rows usable for training: label known and a score that week."""
        return ~np.isnan(self.y) & ~np.isnan(self.composite)


@dataclass(frozen=True)
class Prediction:
    model: str
    probability: float
    low: float | None = None
    high: float | None = None
    status: str = "fitted"  # fitted | INSUFFICIENT | NOT_FITTED | base rate | ...
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "probability": round(self.probability, 6),
            "low": None if self.low is None else round(self.low, 6),
            "high": None if self.high is None else round(self.high, 6),
            "status": self.status,
            "note": self.note,
            **({"detail": self.detail} if self.detail else {}),
        }


def _jeffreys(k: float, n: float) -> tuple[float, float, float]:
    """Base rate and its 90% Jeffreys interval (a, b: successes, trials)."""
    from scipy.stats import beta  # imported here: scipy.stats costs half a second to load

    if n <= 0:
        return 0.5, 0.0, 1.0
    a, b = k + 0.5, n - k + 0.5
    # Brown, Cai and DasGupta (2001): at k = 0 (or k = n) the bound on that side is 0
    # (or 1), so the interval always holds the observed rate.
    low = 0.0 if k <= 0 else float(beta.ppf(0.05, a, b))
    high = 1.0 if k >= n else float(beta.ppf(0.95, a, b))
    return float(k / n), low, high


class BaseRate:
    """The share of labelled weeks followed by an event.

    Labelled weeks are those since the event record began whose horizon has passed;
    the interval treats the weeks as `n / H` independent windows, because neighbouring
    weeks share most of their H-week windows.
    """

    name = "base_rate"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec or ModelSpec()

    def fit(self, data: ForecastData) -> Prediction:
        y = data.y[~np.isnan(data.y)]
        if not len(y):
            return Prediction(self.name, math.nan, None, None, "insufficient history",
                              "no labelled week yet")  # fmt: skip
        rate = float(y.mean())
        independent = max(len(y) / data.horizon_weeks, 1.0)
        _, low, high = _jeffreys(rate * independent, independent)
        note = f"{int(y.sum())} of {len(y)} weeks (about {independent:.0f} independent windows)"
        return Prediction(self.name, rate, min(low, rate), max(high, rate), "fitted", note)


def _fallback(name: str, data: ForecastData, reason: str, status: str = INSUFFICIENT) -> Prediction:
    base = BaseRate().fit(data)
    return Prediction(name, base.probability, base.low, base.high, status, reason)


def _enough(data: ForecastData, spec: ModelSpec) -> str | None:
    """Why a model cannot be fitted on this training window, or None."""
    rows = data.train
    y = data.y[rows]
    if rows.sum() < spec.min_weeks:
        return f"{int(rows.sum())} training weeks with a score (needs {spec.min_weeks})"
    if y.sum() < spec.min_events:
        return f"{int(y.sum())} weeks followed by an event (needs {spec.min_events})"
    if (1 - y).sum() < spec.min_events:
        return f"{int((1 - y).sum())} quiet weeks (needs {spec.min_events})"
    return None


class Logistic:
    name = "logistic"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec or ModelSpec()

    def fit(self, data: ForecastData) -> Prediction:
        reason = _enough(data, self.spec)
        if reason:
            return _fallback(self.name, data, reason)
        rows = data.train
        x, y = data.features[rows], data.y[rows]
        x_now = data.features[-1:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on tiny windows
            penalty = self._choose_penalty(x, y)
            model = self._model(penalty, y)
            model.fit(x, y)
            p = float(model.predict_proba(x_now)[0, 1])
            low, high = self._interval(x, y, x_now, penalty, p)
        return Prediction(
            self.name,
            p,
            low,
            high,
            "fitted",
            f"C={format_number(penalty, digits=6)}, {int(y.sum())} event weeks of {len(y)}",
            {"penalty_C": penalty},
        )

    def _model(self, penalty: float, y: np.ndarray) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import TimeSeriesSplit
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        base = make_pipeline(StandardScaler(), LogisticRegression(C=penalty, max_iter=500))
        folds = TimeSeriesSplit(3)
        # Calibrate only with enough events, and only if every time-ordered training
        # fold has both outcomes (a fold without an event cannot be fitted).
        if y.sum() >= self.spec.calibrate_min_events and all(
            len(set(y[train])) == 2 for train, _ in folds.split(y)
        ):
            return CalibratedClassifierCV(base, method="sigmoid", cv=folds)
        return base

    def _choose_penalty(self, x: np.ndarray, y: np.ndarray) -> float:
        """Rolling-origin cross-validation: train on the past, score the next block.

        Within a fold the penalties are tried from strongest to weakest on one warm-
        started model, each fit starting where the last one ended.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import TimeSeriesSplit
        from sklearn.preprocessing import StandardScaler

        penalties = sorted(self.spec.penalties)
        losses = dict.fromkeys(penalties, 0.0)
        folds = 0
        for train, test in TimeSeriesSplit(self.spec.cv_folds).split(x):
            if len(set(y[train])) < 2:
                continue
            folds += 1
            scaler = StandardScaler().fit(x[train])
            x_train, x_test = scaler.transform(x[train]), scaler.transform(x[test])
            model = LogisticRegression(max_iter=500, warm_start=True)
            for c in penalties:
                model.set_params(C=c).fit(x_train, y[train])
                losses[c] += _log_loss(y[test], model.predict_proba(x_test))
        if not folds:
            return 1.0
        return min(losses, key=lambda c: (losses[c], -c))

    def _interval(
        self, x: np.ndarray, y: np.ndarray, x_now: np.ndarray, penalty: float, point: float
    ) -> tuple[float | None, float | None]:
        """5-95% of block-bootstrap refits (blocks of 13 weeks keep autocorrelation).

        The refits are uncalibrated (calibrating each would need its own folds), so
        their spread around the uncalibrated fit is moved onto the reported point.
        """
        if not self.spec.bootstrap:
            return None, None
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rng = np.random.default_rng(self.spec.seed)
        n, block = len(y), 13
        starts = np.arange(0, max(n - block, 1))
        draws = []
        for _ in range(self.spec.bootstrap):
            picks = rng.choice(starts, size=math.ceil(n / block))
            index = np.concatenate([np.arange(s, min(s + block, n)) for s in picks])[:n]
            if len(set(y[index])) < 2:
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(C=penalty, max_iter=500))
            model.fit(x[index], y[index])
            draws.append(float(model.predict_proba(x_now)[0, 1]))
        if len(draws) < 10:
            return None, None
        centre = make_pipeline(StandardScaler(), LogisticRegression(C=penalty, max_iter=500))
        centre.fit(x, y)
        shift = point - float(centre.predict_proba(x_now)[0, 1])
        low, high = np.percentile(draws, [5, 95]) + shift
        return float(np.clip(min(low, point), 0, 1)), float(np.clip(max(high, point), 0, 1))


class MarkovRegime:
    name = "markov"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec or ModelSpec()
        self._cache: tuple[int, np.ndarray | str] | None = None

    def fit(self, data: ForecastData) -> Prediction:
        reason = _enough(data, self.spec)
        if reason:
            return _fallback(self.name, data, reason)
        scored = ~np.isnan(data.composite)
        series = data.composite[scored]
        if np.ptp(series) < 1e-6:
            return _fallback(self.name, data, "the composite does not move", NOT_FITTED)
        regimes = self._regimes(series)
        if isinstance(regimes, str):
            return _fallback(self.name, data, regimes, NOT_FITTED)
        high_regime_probability = regimes
        p_high = np.full(len(data.composite), np.nan)
        p_high[scored] = high_regime_probability
        rows = data.train & ~np.isnan(p_high)
        y, w = data.y[rows], p_high[rows]
        rate_high = _weighted_rate(y, w)
        rate_low = _weighted_rate(y, 1 - w)
        recent = p_high[-4:][~np.isnan(p_high[-4:])]
        if np.isnan(p_high[-1]) and not len(recent):
            return _fallback(self.name, data, "no score at the origin", NOT_FITTED)
        now = float(p_high[-1]) if not np.isnan(p_high[-1]) else float(recent.mean())
        if min(w.sum(), (1 - w).sum()) < self.spec.min_events:
            return _fallback(
                self.name,
                data,
                "the regimes did not separate: one regime holds almost every week",
                NOT_FITTED,
            )
        p = now * rate_high[0] + (1 - now) * rate_low[0]
        low = now * rate_high[1] + (1 - now) * rate_low[1]
        high = now * rate_high[2] + (1 - now) * rate_low[2]
        return Prediction(
            self.name,
            float(p),
            float(low),
            float(high),
            "fitted",
            f"P(high-tension regime) {now:.2f}; event rate {rate_high[0]:.2f} in it, "
            f"{rate_low[0]:.2f} outside",
            {"p_high_regime": now},
        )

    def _regimes(self, series: np.ndarray) -> np.ndarray | str:
        """Filtered P(high-tension regime) per week, or why the model did not fit.

        Fitted on the standardised series: statsmodels starts the regime means and
        variances near zero and one, and on the raw 0-100 score the fit stops in a
        degenerate corner (one regime with all the weeks). Standardising changes
        nothing else: the regimes, their order and the filtered probabilities are the
        same functions of the data. The fit depends only on the composite, not on the
        horizon, so the last one is kept and reused when the same series comes again
        (a forecast or a backtest asks once per horizon at every origin).
        """
        key = hash(series.tobytes())
        if self._cache and self._cache[0] == key:
            return self._cache[1]
        from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels warns on flat likelihood regions
            try:
                z = (series - series.mean()) / series.std()
                # EM to convergence (statsmodels' tolerance), no quasi-Newton polish and
                # no numerical Hessian: the regime probabilities are what is used, and
                # the polish moved the log-likelihood by under 1 unit at ten times the cost.
                fitted = MarkovRegression(z, k_regimes=2, switching_variance=True).fit(
                    disp=False, em_iter=200, maxiter=0, cov_type="none"
                )
                means = np.asarray(fitted.params[2:4])
                filtered = np.asarray(fitted.filtered_marginal_probabilities)
                outcome: np.ndarray | str = filtered[:, int(np.argmax(means))]
            except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
                outcome = f"the regime model did not fit ({exc})"
        self._cache = (key, outcome)
        return outcome


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """sklearn's `log_loss(y, proba[:, 1], labels=[0, 1])` without its input checks
    (`metrics.log_loss`, the one the backtest reports)."""
    return log_loss(proba[:, 1], y)


def _weighted_rate(y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    return _jeffreys(float((w * y).sum()), float(w.sum()))


class Trend:
    """Probability that the composite reaches the `high` band within the horizon."""

    name = "trend"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec or ModelSpec()

    def fit(self, data: ForecastData) -> Prediction:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        series = data.composite
        recent = series[~np.isnan(series)]
        if len(recent) < 26 or np.isnan(series[-1]):
            return Prediction(self.name, math.nan, status="insufficient history",
                              note=f"{len(recent)} weeks with a score (needs 26)")  # fmt: skip
        recent = recent[-260:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = ExponentialSmoothing(recent, trend="add", damped_trend=True).fit()
            paths = fitted.simulate(
                data.horizon_weeks,
                repetitions=self.spec.simulations,
                error="add",
                random_state=np.random.default_rng(self.spec.seed),
            )
        paths = np.asarray(paths).reshape(data.horizon_weeks, -1)
        crosses = (paths.max(axis=0) >= data.high_threshold).mean()
        _, low, high = _jeffreys(float(crosses * paths.shape[1]), float(paths.shape[1]))
        return Prediction(
            self.name,
            float(crosses),
            low,
            high,
            "fitted",
            f"reaches {format_number(data.high_threshold, digits=6)} within "
            f"{data.horizon_weeks} weeks in "
            f"{crosses:.0%} of {paths.shape[1]} simulated paths",
            {"target": "score reaches the high band"},
        )


def pool(predictions: Sequence[Prediction], base: Prediction) -> Prediction:
    """The ensemble: equal-weight linear pool of the event models that were fitted."""
    fitted = [p for p in predictions if p.status == "fitted"]
    if not fitted:
        status = "base rate" if base.status == "fitted" else "insufficient history"
        return Prediction(
            "ensemble", base.probability, base.low, base.high, status,
            "no event model could be fitted; the base rate stands in",
        )  # fmt: skip
    p = float(np.mean([f.probability for f in fitted]))
    lows = [f.low for f in fitted if f.low is not None]
    highs = [f.high for f in fitted if f.high is not None]
    return Prediction(
        "ensemble",
        p,
        float(np.mean(lows)) if len(lows) == len(fitted) else None,
        float(np.mean(highs)) if len(highs) == len(fitted) else None,
        "fitted",
        "equal-weight pool of " + ", ".join(f.model for f in fitted),
    )
