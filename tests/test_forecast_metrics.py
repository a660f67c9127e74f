"""Forecast verification checked against outside references: scikit-learn's log loss and
calibration curve, the Politis-White block length's closed form for an AR(1) series,
and the coverage of the skill interval by simulation with known skill."""

from __future__ import annotations

import numpy as np
import pytest

from early_warning.forecast.metrics import (
    block_length,
    brier_skill,
    log_loss,
    reliability,
    skill_interval,
)


def test_log_loss_is_sklearns_including_confident_misses() -> None:
    # Reference: sklearn.metrics.log_loss (clipping at machine precision); the penalty
    # search's copy is checked number for number in test_forecast.py.
    from sklearn.metrics import log_loss as sklearn_log_loss

    y = np.array([1.0, 0, 1, 0, 1, 0])
    for p in (np.array([0.0, 1, 1e-17, 1 - 1e-17, 0.5, 1e-7]), np.linspace(0.01, 0.99, 6)):
        assert log_loss(p, y) == pytest.approx(sklearn_log_loss(y, p, labels=[0, 1]), rel=1e-12)
    # A confident miss costs -log(eps) = 36.04, as in sklearn, not a capped 13.8.
    assert log_loss(np.array([0.0]), np.array([1.0])) == pytest.approx(36.0437, abs=1e-3)


def test_reliability_bins_are_sklearns_calibration_curve() -> None:
    # Reference: sklearn.calibration.calibration_curve(strategy="uniform"): (a, b] bins.
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(5)
    edges = np.linspace(0, 1, 11)
    for _ in range(50):
        n = 80
        p = rng.random(n)
        p[: n // 4] = rng.choice(edges, n // 4)  # forecasts exactly on the edges
        y = (rng.random(n) < p).astype(float)
        y[:2] = [0, 1]
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
        table = reliability(p, y)
        assert [row["observed_frequency"] for row in table] == pytest.approx(
            np.round(observed, 4).tolist(), abs=1e-9
        )
        assert [row["mean_probability"] for row in table] == pytest.approx(
            np.round(predicted, 4).tolist(), abs=1e-9
        )
    # A base rate of exactly 0.2 belongs to (0.1, 0.2], as in sklearn.
    assert reliability(np.array([0.2]), np.array([1.0]))[0]["bin"] == [0.1, 0.2]


def test_block_length_matches_the_ar1_closed_form() -> None:
    # Politis and White (2004): b = (2 phi / (1 - phi^2))^(2/3) n^(1/3) for an AR(1).
    from scipy.signal import lfilter

    rng = np.random.default_rng(8)
    n = 20_000
    for phi in (0.3, 0.6):
        x = lfilter([1.0], [1, -phi], rng.normal(size=n))
        expected = (2 * phi / (1 - phi**2)) ** (2 / 3) * n ** (1 / 3)
        assert block_length(x) == pytest.approx(expected, rel=0.2)
    assert block_length(rng.normal(size=2000)) < 3  # white noise: about 1
    assert block_length(np.ones(50)) == 1.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _simulate(
    n: int, phi: float, horizon: int, rng: np.random.Generator, a: float
) -> tuple[np.ndarray, np.ndarray]:
    """A latent AR(1) signal x (unit variance); an event in week j+1 with probability
    sigmoid(a + 1.2 x_j); y_t = an event within the next H weeks (neighbouring origins
    share most of their windows); the forecast from x_t alone, slightly misspecified."""
    from scipy.signal import lfilter

    burn = 100
    m = n + burn + horizon + 1
    x = lfilter([np.sqrt(1 - phi**2)], [1, -phi], rng.normal(size=m))
    events = np.r_[0, np.cumsum(rng.random(m) < _sigmoid(a + 1.2 * x))]
    t = np.arange(m - horizon)
    y = (events[t + horizon] - events[t] > 0).astype(float)
    k = np.arange(horizon)[:, None]
    p = 1 - np.prod(1 - _sigmoid(a + phi**k * x[None, : m - horizon]), axis=0)
    return p[burn : burn + n], y[burn : burn + n]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("phi", "horizon", "a"),
    [(0.0, 1, -2.5), (0.95, 12, -4.5)],
    ids=["independent", "strong-persistence"],
)
def test_a_nominal_90_percent_skill_interval_covers_85_to_95_percent(
    phi: float, horizon: int, a: float
) -> None:
    """Known skill (from 2 million weeks), 300 backtests of 250 origins each.

    The moving-block bootstrap this replaces covered 86% (independent) and 73% (strong
    persistence) in the same simulation.
    """
    rng = np.random.default_rng(20261122)
    p, y = _simulate(2_000_000, phi, horizon, rng, a)
    rate = y.mean()
    truth = brier_skill(p, y, np.full(len(y), rate))
    covered = []
    for _ in range(300):
        p, y = _simulate(250, phi, horizon, rng, a)
        interval = skill_interval(p, y, np.full(len(y), rate))
        covered.append(interval is None or interval[0] <= truth <= interval[1])
    assert 0.85 <= np.mean(covered) <= 0.95, np.mean(covered)


def test_skill_interval_claims_no_skill_for_the_reference_itself() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.2).astype(float)
    reference = np.full(300, 0.2)
    low, high = skill_interval(reference, y, reference)
    assert low == pytest.approx(0) and high == pytest.approx(0)
    noise = np.clip(0.2 + rng.normal(0, 0.1, 300), 0, 1)
    low, high = skill_interval(noise, y, reference)
    assert low < 0 and low < brier_skill(noise, y, reference) < high
    assert skill_interval(noise[:10], y[:10], reference[:10]) is None  # too few origins
