"""Forecasts: known signal is found out of sample, noise claims no skill, no look-ahead."""

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from early_warning.forecast import ModelSpec, backtest_series
from early_warning.forecast.metrics import alert_skill, brier, brier_skill, reliability
from early_warning.forecast.models import BaseRate, ForecastData, Logistic, pool
from early_warning.forecast.targets import EventSet, event_within

D = dt.date
START = D(2000, 1, 2)


def _synthetic(signal: bool, weeks: int = 520, seed: int = 1) -> tuple:
    """A weekly series and events: with a signal, events follow high values of x."""
    rng = np.random.default_rng(seed)
    days = START.toordinal() + 7 * np.arange(weeks)
    x = np.clip(np.cumsum(rng.normal(0, 0.15, weeks)) % 2 - 0.5 + rng.normal(0, 0.1, weeks), -1, 2)
    hazard = 1 / (1 + np.exp(-(4 * x - 3))) if signal else np.full(weeks, 0.12)
    event_weeks = np.flatnonzero(rng.random(weeks) < hazard * 0.35)
    starts = days[event_weeks] + 3
    events = EventSet(starts, starts, np.full(len(starts), 2))
    return days, x, events


def _series_at(days: np.ndarray, x: np.ndarray):
    def at(origin: dt.date):
        upto = np.searchsorted(days, origin.toordinal(), side="right")
        panel = SimpleNamespace(dates=days[:upto])
        composite = 50 + 20 * x[:upto]
        features = np.column_stack([x[:upto], np.r_[np.zeros(4), np.diff(x[:upto], 4)]])
        return SimpleNamespace(panel=panel), composite, features, ["x", "dx4"]

    return at


def _run(signal: bool, seed: int = 1, step: int = 3):
    days, x, events = _synthetic(signal, seed=seed)
    origins = [dt.date.fromordinal(int(d)) for d in days[156::step]]
    spec = ModelSpec(min_weeks=52, min_events=5)
    return backtest_series(
        _series_at(days, x), origins, events, horizons=(4,), spec=spec,
        verified_until=dt.date.fromordinal(int(days[-1])), models=("logistic",),
        complete_through=dt.date.fromordinal(int(days[-1])),  # a generated record: complete
    )  # fmt: skip


@pytest.mark.slow
def test_logistic_beats_the_base_rate_out_of_sample_when_there_is_a_signal() -> None:
    # 180 origins: the skill interval allows for persistent errors (the signal is a slow
    # walk), and 120 origins every 3 weeks leave its lower end just below 0.
    result = _run(signal=True, step=2)
    logistic = result.horizons[4]["models"]["logistic"]
    assert logistic["n_events"] > 20
    assert logistic["brier_skill"] > 0.05
    assert logistic["skill_claimed"]  # the lower end of its 90% interval is above 0
    assert logistic["auc"] > 0.7


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_on_pure_noise_the_logistic_model_claims_no_skill(seed: int) -> None:
    result = _run(signal=False, seed=seed)
    logistic = result.horizons[4]["models"]["logistic"]
    # Chance can make the point estimate positive; the model must not claim skill.
    assert not logistic["skill_claimed"], logistic["brier_skill_90"]
    assert logistic["brier_skill"] < 0.1


def test_a_future_observation_never_changes_a_past_forecast() -> None:
    from early_warning.forecast import _labels

    days, x, events = _synthetic(True)
    origin = int(days[300])
    # Everything after the origin changes: later values and many later events.
    x_later = x.copy()
    x_later[301:] = 5.0
    later = days[301:] + 3
    start = np.r_[events.start, later]
    order = np.argsort(start)
    more = EventSet(
        start[order], start[order], np.r_[events.severity, np.full(len(later), 3)][order]
    )
    y_before = _labels(days[:301], origin, events, 4)
    y_after = _labels(days[:301], origin, more, 4)
    np.testing.assert_array_equal(y_before, y_after)  # labels ignore what came later

    def forecast(values: np.ndarray, labels: np.ndarray) -> list[float]:
        seen = values[:301]  # the series as it stood at the origin
        data = ForecastData(50 + 20 * seen, seen[:, None], ["x"], labels, 60, 4)
        return [m.fit(data).probability for m in (BaseRate(), Logistic())]

    assert forecast(x, y_before) == forecast(x_later, y_after)


def test_too_few_events_fall_back_to_the_base_rate_and_say_so() -> None:
    weeks = 120
    y = np.zeros(weeks)
    y[[10, 50]] = 1
    data = ForecastData(
        np.full(weeks, 40.0), np.random.default_rng(0).normal(size=(weeks, 2)), ["a", "b"], y, 60, 4
    )
    prediction = Logistic().fit(data)
    assert prediction.status == "insufficient history (base rate)"
    assert "2 weeks followed by an event" in prediction.note
    assert prediction.probability == pytest.approx(BaseRate().fit(data).probability)
    ensemble = pool([prediction], BaseRate().fit(data))
    assert ensemble.status == "base rate"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 0.6))
def test_probabilities_are_always_between_0_and_1(seed: int, rate: float) -> None:
    rng = np.random.default_rng(seed)
    weeks = 150
    x = rng.normal(size=(weeks, 3)) * rng.choice([1e-6, 1, 1e6])
    y = (rng.random(weeks) < rate).astype(float)
    y[-4:] = np.nan
    data = ForecastData(rng.uniform(0, 100, weeks), x, ["a", "b", "c"], y, 60, 4)
    for model in (BaseRate(), Logistic(ModelSpec(min_weeks=20))):
        p = model.fit(data)
        assert 0 <= p.probability <= 1
        assert p.low is None or 0 <= p.low <= p.probability <= p.high <= 1 or p.model == "logistic"


def _switching(seed: int, weeks: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """A composite on the 0-100 scale with two persistent regimes: calm (about 30,
    sd 2) and tense (about 42, sd 3), staying in a regime with probability 0.97."""
    rng = np.random.default_rng(seed)
    regime = np.zeros(weeks, dtype=int)
    for t in range(1, weeks):
        regime[t] = regime[t - 1] if rng.random() < 0.97 else 1 - regime[t - 1]
    regime[weeks // 3 : weeks // 3 + 40] = 1  # at least one clear tense stretch
    series = np.where(regime == 1, 42 + 3 * rng.normal(size=weeks), 30 + 2 * rng.normal(size=weeks))
    return series, regime


@pytest.mark.slow
def test_markov_model_recovers_regimes_where_the_raw_fit_does_not() -> None:
    """20 synthetic series with a clear switch. Reference: statsmodels'
    MarkovRegression on the raw 0-100 series, as the model was fitted before, which
    ends in a degenerate corner; the model's standardised fit finds the regimes."""
    import warnings

    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    from early_warning.forecast.models import MarkovRegime

    recovered = raw_recovered = 0
    for seed in range(20):
        series, regime = _switching(seed)
        high = MarkovRegime()._regimes(series)
        assert not isinstance(high, str), high
        recovered += np.mean((high > 0.5) == (regime == 1)) >= 0.9
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                raw = MarkovRegression(series, k_regimes=2, switching_variance=True).fit(
                    disp=False, maxiter=200
                )
            except (RuntimeError, ValueError, np.linalg.LinAlgError):
                continue  # the raw fit breaks down altogether
        means = np.asarray(raw.params[2:4])
        p_raw = np.asarray(raw.filtered_marginal_probabilities)[:, int(np.argmax(means))]
        raw_recovered += np.mean((p_raw > 0.5) == (regime == 1)) >= 0.9
    assert recovered >= 18, recovered
    assert raw_recovered <= 5, raw_recovered  # the defect the standardisation fixes


def test_a_model_that_cannot_try_and_one_that_failed_say_different_words() -> None:
    from pathlib import Path

    from early_warning.forecast.models import INSUFFICIENT, NOT_FITTED, MarkovRegime

    weeks = 200
    y = np.zeros(weeks)
    y[::9] = 1
    flat = ForecastData(np.full(weeks, 40.0), np.zeros((weeks, 1)), ["a"], y, 60, 4)
    assert MarkovRegime().fit(flat).status == NOT_FITTED  # tried: the composite is flat
    few = np.where(np.arange(weeks) < 30, y, 0.0)  # 4 events only
    thin = ForecastData(np.linspace(20, 60, weeks), np.zeros((weeks, 1)), ["a"], few, 60, 4)
    assert MarkovRegime().fit(thin).status == INSUFFICIENT
    docs = (Path(__file__).parent.parent / "docs" / "forecasting.md").read_text()
    assert f'"{INSUFFICIENT}"' in docs.replace("\n", " ") and f'"{NOT_FITTED}"' in docs


def test_targets_count_events_in_the_next_h_weeks() -> None:
    days = np.array([0, 7, 14, 21]) + START.toordinal()
    events = EventSet(np.array([days[1] + 3]), np.array([days[1] + 3]), np.array([2]))
    assert event_within(days, events, 1).tolist() == [0.0, 1.0, 0.0, 0.0]
    assert event_within(days, events, 2).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_the_penalty_search_log_loss_is_sklearns() -> None:
    from sklearn.metrics import log_loss

    from early_warning.forecast.metrics import log_loss as ours

    rng = np.random.default_rng(7)
    for trial in range(300):
        n = int(rng.integers(1, 80))
        y = (rng.random(n) < rng.random()).astype(float)
        p = [rng.random(n), rng.random(n) ** 30, 1 - rng.random(n) ** 30,
             rng.choice([0.0, 1.0, 1e-17, 1 - 1e-17, 0.5], n)][trial % 4]  # fmt: skip
        assert ours(p, y) == log_loss(y, p, labels=[0, 1]), (y, p)


def test_the_logistic_solver_finds_sklearns_coefficients() -> None:
    """Reference: sklearn's LogisticRegression (lbfgs, tight tolerance) on the same
    standardised data, from a cold and from a warm start (the problem is convex)."""
    from sklearn.linear_model import LogisticRegression

    from early_warning.forecast.models import fit_logistic

    rng = np.random.default_rng(11)
    for trial in range(6):
        n, k = 300, 12
        x = rng.normal(size=(n, k))
        x[:, -1] = 0.0  # a constant column, as a feature with no data yet
        y = (rng.random(n) < 1 / (1 + np.exp(-(x[:, 0] - 1.5)))).astype(float)
        c = [0.01, 0.1, 1.0, 10.0, 1.0, 0.1][trial]
        reference = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(x, y)
        cold = fit_logistic(x, y, c)
        warm = fit_logistic(x, y, c, cold + rng.normal(0, 0.1, k + 1))
        for theta in (cold, warm):  # within the solver's tolerance (gradient 1e-5)
            np.testing.assert_allclose(theta[0], reference.intercept_[0], atol=5e-4)
            np.testing.assert_allclose(theta[1:], reference.coef_[0], atol=5e-4)


def test_the_calibration_is_platts_sigmoid_as_sklearn_fits_it() -> None:
    # Reference: the sigmoid sklearn's CalibratedClassifierCV(method="sigmoid") fits.
    from sklearn.calibration import _SigmoidCalibration

    from early_warning.forecast.models import _platt

    rng = np.random.default_rng(2)
    scores = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(2 * scores - 1)))).astype(float)
    a, b = _platt(scores, y)
    reference = _SigmoidCalibration().fit(scores, y)
    # sklearn writes it 1 / (1 + exp(a f + b)): the same curve with the signs turned.
    assert (-a, -b) == pytest.approx((reference.a_, reference.b_), abs=1e-3)


def test_metrics() -> None:
    y = np.array([0, 0, 1, 1.0])
    assert brier(np.array([0, 0, 1, 1.0]), y) == 0
    assert brier_skill(np.array([0.1, 0.1, 0.9, 0.9]), y, np.full(4, 0.5)) > 0.9
    table = reliability(np.array([0.05, 0.07, 0.95]), np.array([0, 0, 1.0]))
    assert [row["forecasts"] for row in table] == [2, 1]
    days = np.array([0, 7, 14, 21, 28])
    skill = alert_skill(days, np.array([0, 0.6, 0.7, 0, 0]), np.array([16]), 0.5, 2)
    assert skill["hit_rate"] == 1.0 and skill["false_alarm_rate"] == 0.0
    assert skill["mean_lead_weeks"] == pytest.approx(9 / 7, abs=0.01)  # first alert day 7


# -- the commands, on the embedded data ------------------------------------------------

import json  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from early_warning import Store, bundled_path  # noqa: E402
from early_warning.cli import cli  # noqa: E402

# `demo` (read only) and `demo_copy` (a database of the test's own) are in conftest.py:
# the demo is built once per session.


def test_demo_forecasts_and_backtests_the_embedded_data(demo) -> None:
    forecast = demo.forecast.to_dict()
    assert [h["weeks"] for h in forecast["horizons"]] == [4, 12]
    for horizon in forecast["horizons"]:
        assert 0 <= horizon["probability"] <= 1
        assert {m["model"] for m in horizon["models"]} == {
            "base_rate",
            "logistic",
            "markov",
            "structural_prior",  # the demo records the structural model's forecast first
            "trend",
        }
    headline = demo.backtest.headline(4)
    assert {"brier", "brier_skill", "log_loss", "auc", "n_origins", "n_events"} <= set(headline)
    with Store(demo.db_path) as store:
        assert store.count("backtests") >= 8


def test_forecast_backtest_and_analyst_commands(demo_copy) -> None:
    demo = demo_copy  # the commands record forecasts and backtests
    base = ["--db", str(demo.db_path)]

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(cli, [*base, *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    out = json.loads(invoke("forecast", "--as-of", "2021-02-28", "--horizons", "4", "--json"))
    assert {"subject", "as_of", "horizons"} <= set(out)
    assert {"weeks", "probability", "low", "high", "model"} <= set(out["horizons"][0])
    invoke(
        "forecast",
        "add",
        "--analyst",
        "ana",
        "--probability",
        "0.4",
        "--weeks",
        "4",
        "--made-on",
        "2021-02-20",
    )
    text = invoke("forecast", "--as-of", "2021-02-28")
    assert "within 4 weeks" in text and "within 12 weeks" in text
    invoke(
        "forecast", "add", "--analyst", "ben", "--probability", "0.9", "--weeks", "12",
        "--made-on", "2019-01-06",
    )  # fmt: skip
    report = json.loads(
        invoke(
            "backtest",
            "--start",
            "2019-01-01",
            "--end",
            "2021-02-28",
            "--step",
            "8",
            "--horizons",
            "4",
            "--json",
        )
    )
    assert {"brier", "brier_skill", "log_loss", "auc", "n_origins", "n_events"} <= set(report)
    # Both were entered today for days long past: retrospective, listed and never scored
    # (tests/test_analysts.py scores forecasts entered on the day they were made).
    assert report["analysts"] == {}
    assert {(r["analyst"], r["reason"].split(":")[0]) for r in report["analysts_not_scored"]} == {
        ("ana", "retrospective"),
        ("ben", "retrospective"),
    }
    assert "skill 90%" in invoke(
        "backtest", "--start", "2019-01-01", "--end", "2021-02-28", "--step", "8"
    )
    with Store(demo.db_path) as store:
        assert store.db["forecasts"].count > 0
        assert {r["analyst"] for r in store.analyst_forecasts("BLR")} == {"ana", "ben"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["forecast", "--horizons", "x"], "--horizons"),
        (["forecast", "--horizons", "0"], "1 to 104"),
        (["forecast", "add", "--analyst", "a", "--probability", "1.5", "--weeks", "4"], "1.5"),
        (["backtest", "--start", "2021-01-01", "--end", "2020-01-01"], "is not before"),
    ],
)
def test_forecast_mistakes_are_one_line(demo, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--db", str(demo.db_path), *args])
    assert result.exit_code == 2 and message in result.output


def test_analyst_forecasts_are_pooled_only_when_known_and_for_the_same_target(
    demo, tmp_path
) -> None:
    import shutil

    from early_warning import FixedClock, load_catalog
    from early_warning.scoring import load_profile
    from early_warning.services import forecast_at

    db = tmp_path / "pool.db"
    shutil.copy(demo.db_path, db)
    catalog = load_catalog(bundled_path("indicators"))
    profile = load_profile(bundled_path("models"), "default", catalog)
    with Store(db, clock=FixedClock("2021-02-25T12:00:00")) as store:  # entered on the day
        for analyst, p, severity in (("ana", 0.4, 2), ("cy", 0.9, 1)):
            store.add_analyst_forecast(
                {"subject": "BLR", "analyst": analyst, "made_on": "2021-02-25",
                 "horizon_weeks": 4, "severity": severity, "probability": p, "note": ""}
            )  # fmt: skip
        store.clock = FixedClock("2021-03-10T00:00:00")
        store.add_analyst_forecast(
            {"subject": "BLR", "analyst": "late", "made_on": "2021-02-26", "horizon_weeks": 4,
             "severity": 2, "probability": 0.01, "note": "entered after the as-of date"}
        )  # fmt: skip
        result = forecast_at(store, catalog, profile, "BLR", D(2021, 2, 28), horizons=(4,))
        (ensemble,) = [
            b for b in store.backtests("BLR", profile.weights_hash)
            if b["model"] == "ensemble" and b["horizon_weeks"] == 4
        ]  # fmt: skip
    horizon = result.to_dict()["horizons"][0]
    # cy forecast another severity, and "late" was not known on 2021-02-28: said so.
    assert [f["analyst"] for f in horizon["analysts"]["forecasts"]] == ["ana"]
    (late,) = horizon["analysts_not_pooled"]
    assert late["analyst"] == "late"
    assert late["reason"] == "not known yet on 2021-02-28: entered on 2021-03-10"
    # ana has no record yet: a fixed 5% share; the rest stays with the ensemble (the
    # only forecaster with a record, whatever its skill).
    assert ensemble["n_origins"] >= 5
    assert horizon["pool_weights"] == {"ensemble": 0.95, "analysts": {"ana": 0.05}}
    assert horizon["pooled_with_analysts"] == pytest.approx(
        0.95 * horizon["probability"] + 0.05 * 0.4, abs=1e-6
    )


def test_no_score_at_the_origin_is_flagged_and_json_has_no_nan(demo_copy) -> None:
    demo = demo_copy  # `forecast` records what it forecast
    result = CliRunner().invoke(
        cli, ["--db", str(demo.db_path), "forecast", "--as-of", "2001-01-07", "--json"]
    )
    assert result.exit_code == 1
    assert "NaN" not in result.stdout
    data = json.loads(result.stdout)
    assert {h["status"] for h in data["horizons"]} == {"insufficient data"}
    for horizon in data["horizons"]:
        for model in horizon["models"]:
            p, low, high = model["probability"], model["low"], model["high"]
            if p is not None and low is not None:
                assert low <= p <= high


def _track(n: int, skill_noise: float, seed: int = 0):
    from early_warning.forecast.models import TrackRecord

    rng = np.random.default_rng(seed)
    truth = np.clip(rng.beta(1, 4, n), 0, 1)
    y = (rng.random(n) < truth).astype(float)
    good = np.clip(truth + rng.normal(0, skill_noise, n), 0, 1)
    bad = np.clip(rng.random(n), 0, 1)
    return TrackRecord(y, {"base_rate": np.full(n, y.mean()), "logistic": good, "markov": bad})


def test_the_ensemble_weighs_by_demonstrated_skill_and_leaves_out_negative_skill() -> None:
    from early_warning.forecast.models import NO_SKILL, Prediction

    base = Prediction("base_rate", 0.2, 0.1, 0.3)
    models = [Prediction("logistic", 0.6, 0.5, 0.7), Prediction("markov", 0.9, 0.8, 1.0)]
    skilled = pool(models, base, _track(400, 0.02))
    assert skilled.status == "fitted"
    weights = skilled.detail["weights"]
    assert "markov" not in weights  # negative skill: never in the headline
    assert 0 < weights["logistic"] <= 1 and weights["base_rate"] == pytest.approx(
        1 - weights["logistic"]
    )
    assert skilled.probability == pytest.approx(0.2 + weights["logistic"] * 0.4)
    # Nothing with demonstrated skill: the pooled prior, in words.
    unskilled = pool(models, base, _track(400, 0.6))
    assert unskilled.status == NO_SKILL and unskilled.probability == 0.2
    assert "no model beats the base rate" in unskilled.note
    short = pool(models, base, _track(10, 0.02))
    assert short.status == NO_SKILL and "needs 20" in short.note
    # The seam for a structural prior: it replaces the base rate as the pooled prior.
    structural = Prediction("structural", 0.05, 0.02, 0.1)
    assert pool(models, base, _track(400, 0.6), prior=structural).probability == 0.05


def _quiet_weeks(db: object, pairs: int) -> list[dt.date]:
    """Sundays in 2019-2021 after which nothing was published or became known for a week."""
    import sqlite3

    with sqlite3.connect(str(db)) as connection:
        known = {
            row[0]
            for table in ("observations", "events")
            for row in connection.execute(f"select substr(known_from, 1, 10) from {table}")
        }
    known_days = sorted(D.fromisoformat(k).toordinal() for k in known if k)
    found = []
    day = D(2019, 3, 3)
    while len(found) < pairs and day < D(2021, 6, 1):
        lo, hi = day.toordinal(), day.toordinal() + 7
        if not any(lo < k <= hi for k in known_days):
            found.append(day)
            day += dt.timedelta(weeks=23)
        else:
            day += dt.timedelta(weeks=1)
    return found


def test_the_headline_moves_at_most_5_points_in_a_week_with_no_new_data(demo) -> None:
    from early_warning import load_catalog
    from early_warning.scoring import load_profile
    from early_warning.services import forecast_at

    catalog = load_catalog(bundled_path("indicators"))
    profile = load_profile(bundled_path("models"), "default", catalog)
    days = _quiet_weeks(demo.db_path, 2)
    assert len(days) == 2
    with Store(demo.db_path) as store:
        for day in days:
            before, after = (
                forecast_at(store, catalog, profile, "BLR", d, spec=ModelSpec()).horizons
                for d in (day, day + dt.timedelta(weeks=1))
            )
            for h0, h1 in zip(before, after, strict=True):
                assert abs(h1["probability"] - h0["probability"]) <= 0.05, (day, h0, h1)


def test_a_forecast_is_made_once_per_inputs_and_again_when_they_change(
    demo_copy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The report, its warning level and the pipeline ask for the same forecast; it is
    # deterministic, so it is made once, and a new observation makes it anew.
    from early_warning.ingest import observe
    from early_warning.scoring import load_profile
    from early_warning.services import forecast_at, forecasting

    demo = demo_copy
    profile = load_profile(bundled_path("models"), "default", demo.catalog)
    with Store(demo.db_path) as store:
        first = forecast_at(store, demo.catalog, profile, "BLR", D(2021, 2, 28))
        made = []
        real = forecasting.forecast_series
        monkeypatch.setattr(
            forecasting, "forecast_series", lambda *a, **k: made.append(1) or real(*a, **k)
        )
        again = forecast_at(store, demo.catalog, profile, "BLR", D(2021, 2, 28))
        assert made == [] and again.to_dict() == first.to_dict()
        again.horizons.clear()  # a caller's change does not reach the next caller
        assert forecast_at(store, demo.catalog, profile, "BLR", D(2021, 2, 28)).horizons
        observe(store, demo.catalog, "ru_troops_in_belarus", "30000", date="2021-02-20",
                published="2021-02-21")  # fmt: skip
        changed = forecast_at(store, demo.catalog, profile, "BLR", D(2021, 2, 28))
    assert made == [1] and changed.horizons


def test_the_time_series_folds_are_scikit_learns() -> None:
    # Written out to spare every forecast the import of scikit-learn (and pandas).
    from sklearn.model_selection import TimeSeriesSplit

    from early_warning.forecast.models import time_series_folds

    for n, splits in ((3, 2), (10, 3), (11, 3), (157, 5), (1000, 4)):
        ours = list(time_series_folds(n, splits))
        theirs = list(TimeSeriesSplit(splits).split(np.zeros((n, 1))))
        assert len(ours) == len(theirs) == splits
        for (a, b), (c, d) in zip(ours, theirs, strict=True):
            assert np.array_equal(a, c) and np.array_equal(b, d)
    for n, splits in ((2, 2), (3, 3), (5, 1)):
        with pytest.raises(ValueError):
            list(TimeSeriesSplit(splits).split(np.zeros((n, 1))))
        with pytest.raises(ValueError):
            list(time_series_folds(n, splits))


def test_the_jeffreys_interval_is_scipy_stats_beta_ppf() -> None:
    # `_jeffreys` calls scipy.special.betaincinv: the values of beta.ppf, exactly.
    from scipy.stats import beta

    from early_warning.forecast.models import _jeffreys

    rng = np.random.default_rng(4)
    n = np.r_[rng.uniform(0.5, 600, 300), 10.0, 10.0, 52.0]
    k = np.r_[n[:300] * rng.uniform(0, 1, 300), 0.0, 10.0, 3.0]  # fractional: weighted rates
    low = np.where(k <= 0, 0.0, beta.ppf(0.05, k + 0.5, n - k + 0.5))
    high = np.where(k >= n, 1.0, beta.ppf(0.95, k + 0.5, n - k + 0.5))
    got = np.array([_jeffreys(float(a), float(b)) for a, b in zip(k, n, strict=True)])
    assert np.array_equal(got, np.c_[k / n, low, high])
    assert _jeffreys(0.0, 0.0) == (0.5, 0.0, 1.0)


def test_the_full_window_scores_are_each_slices_own() -> None:
    # `change_points` reads a full trailing window's z from one strided computation;
    # it must be the slice's own mean and std, bit for bit (a change is dated by them).
    from early_warning.forecast import _full_window_scores

    rng = np.random.default_rng(9)
    x = np.r_[rng.normal(50, 10, 200), np.full(40, 3.0), rng.normal(3, 1e-3, 40)]
    for floor in (1e-9, 0.5):  # the floor on the spread: off, then on for the flat run
        z = _full_window_scores(x, 26, floor)
        slices = [(x[k] - x[k - 26 : k].mean()) / max(x[k - 26 : k].std(), floor)
                  for k in range(26, len(x))]  # fmt: skip
        assert z == [float(v) for v in slices]
    assert _full_window_scores(x[:26], 26, 0.5) == []
