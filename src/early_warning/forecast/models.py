"""Forecasting models: `Model(spec).fit(data) -> Results` with `predict` and `summary`.

Every model answers the same question: the probability of an escalation event of
severity >= S within H weeks of the origin, given only what was known at the origin.

  base_rate    the share of training weeks followed by an event (Jeffreys interval);
               also the fallback of every other model, flagged as such
  logistic     L2-penalised logistic regression on family scores, indicator risks and
               changes of the composite; the penalty chosen by rolling-origin
               cross-validation (log loss) along a warm-started path,
               sigmoid-calibrated on the held-out scores when events allow
  markov       two-regime Markov-switching regression on the standardised composite
               (statsmodels' default start values fail far from zero, so the series is
               centred and scaled first): the probability of the high-tension regime,
               turned into an event probability with each regime's event rate in the
               training weeks
  trend        Holt's damped trend on the composite, simulated forward: the
               probability that the score reaches the `high` band within H weeks
               (a different target, reported beside the others, not pooled)
  ensemble     the event models weighted by their out-of-sample skill (`pool`): only
               a model whose skill over the base rate is demonstrated enters; when
               none is, the prior (the base rate, or a structural prior) stands in
               with the status "no demonstrated skill"

"Insufficient history" is a status, never a fitted-looking number: a model that cannot
be fitted answers with the base rate and says so, in one of two words: INSUFFICIENT
("insufficient history (base rate)": too few training weeks, events or quiet weeks to
try) or NOT_FITTED ("not fitted (base rate)": tried, and the fit failed or the regimes
did not separate), with the reason in its note.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..numbers import format_number
from .metrics import log_loss

__all__ = [
    "INSUFFICIENT",
    "MIN_TRACK",
    "NOT_FITTED",
    "NO_SKILL",
    "BaseRate",
    "ForecastData",
    "Logistic",
    "MarkovRegime",
    "ModelSpec",
    "Prediction",
    "TrackRecord",
    "Trend",
    "fit_logistic",
    "pool",
    "time_series_folds",
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
    # The logistic keeps its penalty and calibration until its training window has grown
    # by this many weeks (0: choose them at every fit). Only `forecast`'s track record of
    # past origins uses it; the forecast itself and the backtest choose at every origin.
    reselect_weeks: int = 0
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
    """Base rate and its 90% Jeffreys interval (k, n: successes, trials).

    The quantiles of Beta(k + 1/2, n - k + 1/2) by `scipy.special.betaincinv`, both in
    one call: the function `scipy.stats.beta.ppf` evaluates (Boost's inverse incomplete
    beta; a test holds them equal), without its argument checks, which cost a
    millisecond per call (hundreds of calls a forecast), nor the import of scipy.stats.
    """
    from scipy.special import betaincinv

    if n <= 0:
        return 0.5, 0.0, 1.0
    low, high = betaincinv(k + 0.5, n - k + 0.5, _JEFFREYS_QUANTILES).tolist()
    # Brown, Cai and DasGupta (2001): at k = 0 (or k = n) the bound on that side is 0
    # (or 1), so the interval always holds the observed rate.
    return float(k / n), 0.0 if k <= 0 else low, 1.0 if k >= n else high


_JEFFREYS_QUANTILES = np.array([0.05, 0.95])


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


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales as sklearn's StandardScaler (a constant column: scale 1)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 10 * np.finfo(float).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
    return mean, scale


def fit_logistic(
    x: np.ndarray, y: np.ndarray, c: float, start: np.ndarray | None = None
) -> np.ndarray:
    """L2-penalised logistic regression: sklearn's `LogisticRegression(C=c)` objective.

    Minimises the mean log loss + ||w||^2 / (2 C n) over [intercept, w] (the intercept
    is not penalised), with L-BFGS from `start` (zeros by default). The problem is
    strictly convex, so where it starts changes the answer only within the tolerance:
    a warm start from a neighbouring problem (a stronger penalty, the same fold at the
    last origin) costs a few iterations instead of dozens. A test compares the result
    with sklearn's.
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    n = len(y)
    sign = 2.0 * y - 1.0
    ridge = 1.0 / (c * n)

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        margin = -sign * (theta[0] + x @ theta[1:])
        weights = theta[1:]
        loss = float(np.logaddexp(0.0, margin).mean() + 0.5 * ridge * (weights @ weights))
        slope = -sign * expit(margin) / n
        return loss, np.concatenate([[slope.sum()], x.T @ slope + ridge * weights])

    theta0 = np.zeros(x.shape[1] + 1) if start is None else start.copy()
    # A column that is 0 throughout (a constant, once standardised) has no gradient but
    # its ridge term: a coefficient carried in from a warm start would barely shrink and
    # would act on a nonzero value at the origin. It starts, and stays, at 0.
    theta0[1:][~x.any(axis=0)] = 0.0
    fitted = minimize(
        loss_and_gradient, theta0, jac=True, method="L-BFGS-B",
        options={"maxiter": 1000, "gtol": 1e-5, "ftol": 1e-10},
    )  # fmt: skip
    return np.asarray(fitted.x)


def _decision(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return theta[0] + x @ theta[1:]


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's (1999) sigmoid calibration on held-out decision values, with his
    smoothed targets, as sklearn's `CalibratedClassifierCV(method="sigmoid")`."""
    from scipy.optimize import minimize
    from scipy.special import expit

    positives = y.sum()
    negatives = len(y) - positives
    target = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss_and_gradient(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * scores + ab[1]
        loss = float(np.sum(np.logaddexp(0, z) - target * z))
        residual = expit(z) - target
        return loss, np.array([residual @ scores, residual.sum()])

    start = np.array([1.0, np.log((negatives + 1) / (positives + 1)) * -1.0])
    fitted = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B")
    return float(fitted.x[0]), float(fitted.x[1])


class Logistic:
    """L2-penalised logistic regression on standardised features.

    The penalty is chosen by rolling-origin cross-validation (train on the past, score
    the next block, log loss): within a fold the penalties are fitted from strongest to
    weakest along one warm-started path, and every fit also starts from where the same
    fit ended at the previous origin (the model object remembers, per horizon and
    feature set); the problem is convex, so the answer is the same. The held-out
    decision values of the chosen penalty, already computed by the search, calibrate
    the final fit (Platt's sigmoid) when there are enough events: no further fits.
    """

    name = "logistic"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec or ModelSpec()
        self._warm: dict[tuple[Any, ...], np.ndarray] = {}
        self._warm_key: tuple[str, ...] = ()
        # per horizon: (training weeks when chosen, penalty, calibration)
        self._chosen: dict[int, tuple[int, float, tuple[float, float] | None]] = {}

    def fit(self, data: ForecastData) -> Prediction:
        reason = _enough(data, self.spec)
        if reason:
            return _fallback(self.name, data, reason)
        if tuple(data.feature_names) != self._warm_key:  # new features: nothing to reuse
            self._warm, self._warm_key, self._chosen = {}, tuple(data.feature_names), {}
        rows = data.train
        x, y = data.features[rows], data.y[rows]
        x_now = data.features[-1:]
        chosen = self._chosen.get(data.horizon_weeks)
        if chosen and 0 <= len(y) - chosen[0] < self.spec.reselect_weeks:
            penalty, calibration = chosen[1], chosen[2]
        else:
            penalty, held_out = self._choose_penalty(x, y, data.horizon_weeks)
            calibration = self._calibration(held_out, y)
            self._chosen[data.horizon_weeks] = (len(y), penalty, calibration)
        mean, scale = _standardise(x)
        key = ("final", data.horizon_weeks, penalty)
        theta = fit_logistic((x - mean) / scale, y, penalty, self._warm.get(key))
        self._warm[key] = theta
        score_now = float(_decision((x_now - mean) / scale, theta)[0])
        p = _sigmoid(score_now) if calibration is None else _sigmoid(
            calibration[0] * score_now + calibration[1]
        )  # fmt: skip
        low, high = self._interval(x, y, x_now, penalty, theta, score_now, p)
        note = f"C={format_number(penalty, digits=6)}, {int(y.sum())} event weeks of {len(y)}"
        if calibration is not None:
            note += ", sigmoid-calibrated"
        return Prediction(self.name, p, low, high, "fitted", note, {"penalty_C": penalty})

    def _calibration(
        self, held_out: tuple[np.ndarray, np.ndarray] | None, y: np.ndarray
    ) -> tuple[float, float] | None:
        """Platt's sigmoid on the held-out scores, with enough events and both outcomes."""
        if held_out is None or y.sum() < self.spec.calibrate_min_events:
            return None
        scores, outcomes = held_out
        if len(set(outcomes.tolist())) < 2:
            return None
        return _platt(scores, outcomes)

    def _choose_penalty(
        self, x: np.ndarray, y: np.ndarray, horizon: int
    ) -> tuple[float, tuple[np.ndarray, np.ndarray] | None]:
        """The penalty with the lowest held-out log loss, and its held-out decision
        values with their outcomes (for the calibration)."""
        penalties = sorted(self.spec.penalties)
        losses = dict.fromkeys(penalties, 0.0)
        scores: dict[float, list[np.ndarray]] = {c: [] for c in penalties}
        outcomes: list[np.ndarray] = []
        folds = 0
        for fold, (train, test) in enumerate(time_series_folds(len(x), self.spec.cv_folds)):
            if len(set(y[train])) < 2:
                continue
            folds += 1
            mean, scale = _standardise(x[train])
            x_train, x_test = (x[train] - mean) / scale, (x[test] - mean) / scale
            theta = None
            for c in penalties:
                key = ("fold", horizon, fold, c)
                theta = fit_logistic(x_train, y[train], c, self._warm.get(key, theta))
                self._warm[key] = theta
                decision = _decision(x_test, theta)
                losses[c] += log_loss(_sigmoid(decision), y[test])
                scores[c].append(decision)
            outcomes.append(y[test])
        if not folds:
            return 1.0, None
        best = min(losses, key=lambda c: (losses[c], -c))
        return best, (np.concatenate(scores[best]), np.concatenate(outcomes))

    def _interval(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_now: np.ndarray,
        penalty: float,
        theta: np.ndarray,
        score_now: float,
        point: float,
    ) -> tuple[float | None, float | None]:
        """5-95% of block-bootstrap refits (blocks of 13 weeks keep autocorrelation).

        The refits are uncalibrated (calibrating each would need its own folds), so
        their spread around the uncalibrated fit is moved onto the reported point. Each
        refit starts from zeros: started from the full fit, a refit ends elsewhere within
        the optimiser's tolerance, and the interval would move with it.
        """
        if not self.spec.bootstrap:
            return None, None
        rng = np.random.default_rng(self.spec.seed)
        n, block = len(y), 13
        starts = np.arange(0, max(n - block, 1))
        draws = []
        for _ in range(self.spec.bootstrap):
            picks = rng.choice(starts, size=math.ceil(n / block))
            index = np.concatenate([np.arange(s, min(s + block, n)) for s in picks])[:n]
            if len(set(y[index])) < 2:
                continue
            mean, scale = _standardise(x[index])
            refit = fit_logistic((x[index] - mean) / scale, y[index], penalty)
            draws.append(_sigmoid(float(_decision((x_now - mean) / scale, refit)[0])))
        if len(draws) < 10:
            return None, None
        shift = point - _sigmoid(score_now)
        low, high = np.percentile(draws, [5, 95]) + shift
        return float(np.clip(min(low, point), 0, 1)), float(np.clip(max(high, point), 0, 1))


def _sigmoid(z: float | np.ndarray) -> Any:
    from scipy.special import expit

    return expit(z)


class MarkovRegime:
    name = "markov"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec or ModelSpec()
        self._cache: dict[int, np.ndarray | str] = {}  # by series, the last 64

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
        if key in self._cache:
            return self._cache[key]
        from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels warns on flat likelihood regions
            try:
                z = (series - series.mean()) / series.std()
                model = MarkovRegression(z, k_regimes=2, switching_variance=True)
                # EM until the log-likelihood moves by less than 1e-6, without the
                # quasi-Newton polish and numerical Hessian of `fit`: the regime
                # probabilities are what is used, and the polish moved the
                # log-likelihood by under 1 unit at ten times the cost. `fit(em_iter=)`
                # runs all its EM steps; `_fit_em` stops when converged.
                fit_em = getattr(model, "_fit_em", None)
                fitted = (
                    fit_em(maxiter=300, tolerance=1e-6)
                    if fit_em is not None
                    else model.fit(disp=False, em_iter=300, maxiter=0, cov_type="none")
                )
                means = np.asarray(fitted.params[2:4])
                filtered = np.asarray(fitted.filtered_marginal_probabilities)
                outcome: np.ndarray | str = filtered[:, int(np.argmax(means))]
            except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
                outcome = f"the regime model did not fit ({exc})"
        if len(self._cache) >= 64:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = outcome
        return outcome


def _weighted_rate(y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    return _jeffreys(float((w * y).sum()), float(w.sum()))


class Trend:
    """Probability that the composite reaches the `high` band within the horizon."""

    name = "trend"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec or ModelSpec()
        self._cache: tuple[int, Any] | None = None

    def _fitted(self, recent: np.ndarray) -> Any:
        """The smoothing fit, shared across horizons (it depends only on the series)."""
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        key = hash(recent.tobytes())
        if self._cache is None or self._cache[0] != key:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = ExponentialSmoothing(recent, trend="add", damped_trend=True).fit()
            self._cache = (key, fitted)
        return self._cache[1]

    def fit(self, data: ForecastData) -> Prediction:
        series = data.composite
        recent = series[~np.isnan(series)]
        if len(recent) < 26 or np.isnan(series[-1]):
            return Prediction(self.name, math.nan, status="insufficient history",
                              note=f"{len(recent)} weeks with a score (needs 26)")  # fmt: skip
        fitted = self._fitted(recent[-260:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
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


NO_SKILL = "no demonstrated skill"  # the ensemble's status when the prior stands in
MIN_TRACK = 20  # fewest resolved out-of-sample forecasts a model's weight may rest on


@dataclass(frozen=True)
class TrackRecord:
    """Out-of-sample forecasts made at past origins whose outcomes were known by the
    origin at hand: each model's probabilities and the base rate's, and the outcomes."""

    outcomes: np.ndarray
    forecasts: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.outcomes)


def _skill_words(name: str, skill: float, interval: tuple[float, float] | None) -> str:
    band = "" if interval is None else f" (90% {interval[0]:+.2f} .. {interval[1]:+.2f})"
    return f"{name} {skill:+.2f}{band}"


def pool(
    predictions: Sequence[Prediction],
    base: Prediction,
    track: TrackRecord | None = None,
    prior: Prediction | None = None,
) -> Prediction:
    """The ensemble: the event models weighted by their out-of-sample skill.

    `track` holds each model's forecasts at past origins with known outcomes. A model
    enters only when the lower end of the 90% interval of its Brier skill against the
    base rate is above 0 (skill demonstrated); its weight is its share of the skill of
    those that enter, times how sure that skill is (lower end / estimate, 0 to 1), so a
    model comes in gradually as the evidence builds, and the rest of the weight stays
    with the prior. A model with negative skill never enters. When none enters the
    headline is the prior with the status "no demonstrated skill".

    `prior` is the pooled prior probability (default: the base rate). It is the seam for
    a structural prior (a pooled country-year model converted to the horizon): pass its
    Prediction and it replaces the base rate as the fallback and as the centre of the
    pool; the models' skill is still measured against the base rate.
    """
    from .metrics import brier_skill, skill_interval

    prior = prior or base
    fitted = [p for p in predictions if p.status == "fitted"]
    if not fitted:
        status = "base rate" if base.status == "fitted" else "insufficient history"
        return Prediction(
            "ensemble", prior.probability, prior.low, prior.high, status,
            f"no event model could be fitted; the prior ({prior.model}) stands in",
        )  # fmt: skip
    if track is None or len(track) < MIN_TRACK:
        resolved = 0 if track is None else len(track)
        return Prediction(
            "ensemble", prior.probability, prior.low, prior.high, NO_SKILL,
            f"{resolved} resolved out-of-sample forecasts (needs {MIN_TRACK}) "
            f"to weigh the models by; the prior ({prior.model}) stands in",
        )  # fmt: skip
    y, reference = track.outcomes, track.forecasts["base_rate"]
    skills: dict[str, float] = {}
    strength: dict[str, float] = {}
    words = []
    for model in fitted:
        p = track.forecasts.get(model.model)
        if p is None:
            continue
        skill = brier_skill(p, y, reference)
        interval = skill_interval(p, y, reference)
        words.append(_skill_words(model.model, skill, interval))
        if interval is not None and interval[0] > 0 and skill > 0:
            skills[model.model] = skill
            strength[model.model] = min(1.0, interval[0] / skill)
    if not skills:
        return Prediction(
            "ensemble", prior.probability, prior.low, prior.high, NO_SKILL,
            f"out-of-sample Brier skill over {len(y)} resolved origins "
            f"{', '.join(words)}; no model beats the base rate, so the prior "
            f"({prior.model}) stands in",
        )  # fmt: skip
    total = sum(skills.values())
    weights = {m: skills[m] / total * strength[m] for m in skills}
    by_name = {p.model: p for p in fitted}
    rest = 1.0 - sum(weights.values())

    def mix(values: dict[str, float | None], centre: float | None) -> float | None:
        parts = [values[m] for m in weights]
        if centre is None or any(v is None for v in parts):
            return None
        return rest * centre + sum(
            w * float(v or 0.0) for w, v in zip(weights.values(), parts, strict=True)
        )

    p = mix({m: by_name[m].probability for m in weights}, prior.probability) or 0.0
    low = mix({m: by_name[m].low for m in weights}, prior.low)
    high = mix({m: by_name[m].high for m in weights}, prior.high)
    shares = ", ".join(f"{m} {w:.2f}" for m, w in weights.items())
    return Prediction(
        "ensemble",
        float(p),
        low,
        high,
        "fitted",
        f"skill-weighted pool: {shares}, prior ({prior.model}) {rest:.2f}; out-of-sample "
        f"Brier skill over {len(y)} resolved origins {', '.join(words)}",
        {"weights": {**weights, prior.model: rest}},
    )


def time_series_folds(n_samples: int, n_splits: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's `TimeSeriesSplit(n_splits).split` (no gap, no test size, no
    training cap), the same folds and the same errors, without importing scikit-learn
    and with it pandas (a second of every `score` and `report`): the samples cut into
    n_splits + 1 equal blocks from the end, each block tested after all before it."""
    if n_splits < 2:
        raise ValueError(f"k-fold cross-validation requires at least 2 splits, got {n_splits}")
    test_size = n_samples // (n_splits + 1)
    if n_splits + 1 > n_samples:
        raise ValueError(
            f"Cannot have number of folds={n_splits + 1} greater"
            f" than the number of samples={n_samples}."
        )
    if n_samples - test_size * n_splits <= 0:
        raise ValueError(
            f"Too many splits={n_splits} for number of samples"
            f"={n_samples} with test_size={test_size} and gap=0."
        )
    indices = np.arange(n_samples)
    for start in range(n_samples - n_splits * test_size, n_samples, test_size):
        yield indices[:start], indices[start : start + test_size]
