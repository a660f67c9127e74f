import dataclasses
import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from early_warning import ProfileError, Store, bundled_path, ingest
from early_warning.catalog import Catalog
from early_warning.cli import cli
from early_warning.scoring import CompositeIndex, load_profile, parse_profile
from early_warning.scoring.aggregate import Structure, aggregate
from early_warning.scoring.normalise import normalise
from early_warning.services import score, sensitivity

from .conftest import write_csv

D = dt.date


# -- normalisation -------------------------------------------------------------------


def test_minmax_uses_fixed_goalposts_and_applies_direction() -> None:
    x = np.array([-5.0, 0.0, 15.0, 30.0, 99.0, np.nan])
    up = normalise(x, "minmax", {"goalposts": [0, 30]}, higher_is_riskier=True)
    np.testing.assert_allclose(up[:5], [0, 0, 0.5, 1, 1])
    assert np.isnan(up[5])  # missing stays missing, never a neutral value
    down = normalise(x, "minmax", {"goalposts": [0, 30]}, higher_is_riskier=False)
    np.testing.assert_allclose(down[:5], [1, 1, 0.5, 0, 0])


def test_log_ordinal_boolean() -> None:
    log = normalise(
        np.array([0.0, 99.0, 9999.0]), "log", {"goalposts": [0, 9999]}, higher_is_riskier=True
    )
    np.testing.assert_allclose(log, [0.0, 0.5, 1.0])  # log is log(1 + x): log1p
    # ln is the plain natural logarithm: each tenfold rise adds a third on [1, 1000].
    x = np.array([0.5, 1.0, 10.0, 100.0, 1000.0, 5000.0, np.nan])
    ln = normalise(x, "ln", {"goalposts": [1, 1000]}, higher_is_riskier=True)
    np.testing.assert_allclose(ln[:6], [0, 0, 1 / 3, 2 / 3, 1, 1])
    assert np.isnan(ln[6])
    np.testing.assert_allclose(
        normalise(x[:5], "log", {"goalposts": [1, 1000]}, higher_is_riskier=True),
        np.clip((np.log1p(x[:5]) - np.log1p(1)) / (np.log1p(1000) - np.log1p(1)), 0, 1),
    )
    levels = normalise(np.array([0, 1, 2, 4.0]), "ordinal", {}, higher_is_riskier=True, top_level=4)
    np.testing.assert_allclose(levels, [0, 0.25, 0.5, 1])
    flags = normalise(np.array([1.0, 0.0]), "boolean", {}, higher_is_riskier=False)
    np.testing.assert_allclose(flags, [0, 1])


def test_zscore_needs_a_baseline() -> None:
    x = np.r_[np.full(20, 5.0) + np.arange(20) % 3, 20.0]
    risk = normalise(x, "zscore", {"baseline_weeks": 52}, higher_is_riskier=True)
    assert np.isnan(risk[:8]).all()  # insufficient history: no value, not 0.5
    assert risk[-1] > 0.99


# -- aggregation ---------------------------------------------------------------------

STRUCTURE = Structure.build(["a", "b"], ["a", "a", "b", "b"])


def test_weights_are_renormalised_over_what_is_there_and_coverage_is_reported() -> None:
    risk = np.array([[0.2, np.nan, 0.6, 0.8]])
    agg = aggregate(risk, STRUCTURE, np.array([1.0, 3.0, 1.0, 1.0]), np.array([0.5, 0.5]))
    assert agg.family_coverage[0].tolist() == [0.25, 1.0]
    assert agg.family_score[0, 0] == pytest.approx(0.2)  # not pulled towards a neutral 0.5
    assert agg.score[0] == pytest.approx(100 * (0.5 * 0.2 + 0.5 * 0.7))
    assert agg.coverage[0] == pytest.approx(0.625)
    assert agg.contributions[0].sum() == pytest.approx(agg.score[0])


def test_a_family_below_minimum_coverage_is_insufficient_not_scored() -> None:
    risk = np.array([[0.9, np.nan, 0.1, 0.1]])
    agg = aggregate(
        risk,
        STRUCTURE,
        np.array([1.0, 3.0, 1.0, 1.0]),
        np.array([0.5, 0.5]),
        min_family_coverage=0.5,
    )
    assert not agg.sufficient[0, 0] and agg.sufficient[0, 1]
    assert agg.score[0] == pytest.approx(10.0)  # family b alone
    assert agg.coverage[0] == pytest.approx(0.5)
    strict = aggregate(
        risk, STRUCTURE, np.array([1.0, 3.0, 1.0, 1.0]), np.array([0.5, 0.5]),
        min_family_coverage=0.5, min_total_coverage=0.6,
    )  # fmt: skip
    assert math.isnan(strict.score[0])  # too little data: no score at all


def test_no_data_no_score() -> None:
    agg = aggregate(np.full((1, 4), np.nan), STRUCTURE, np.ones(4), np.ones(2))
    assert math.isnan(agg.score[0]) and agg.coverage[0] == 0


risk_rows = st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=4, max_size=4).map(
    lambda row: [np.nan if v is None else v for v in row]
)
weights = st.lists(st.floats(0.01, 10), min_size=4, max_size=4)


@settings(max_examples=200)
@given(risk_rows, weights, st.sampled_from(["arithmetic", "geometric"]))
def test_contributions_add_up_to_the_score(row: list[float], w: list[float], method: str) -> None:
    agg = aggregate(np.array([row]), STRUCTURE, np.array(w), np.array([0.4, 0.6]), method=method)
    if math.isnan(agg.score[0]):
        assert not np.isfinite(np.array(row)).any()
        return
    assert 0 <= agg.score[0] <= 100
    assert agg.contributions[0].sum() == pytest.approx(agg.score[0], abs=1e-9)


# -- the composite index on the fixture catalog --------------------------------------


def _profile(catalog: Catalog, **overrides: object) -> object:
    base = {"name": "test", "min_family_coverage": 0.0, "min_total_coverage": 0.0, **overrides}
    return parse_profile(base, catalog)


_VALUES = {
    "support_share": st.floats(0, 100),
    "ultimatum": st.integers(0, 2),
    "troops": st.floats(0, 500000),
    "withdrawn": st.integers(0, 1),
    "incidents": st.floats(0, 1000),
    "exercise": st.floats(0, 1000000),
}


FIXTURE_CATALOG = __import__("early_warning").load_catalog(
    Path(__file__).parent / "fixtures" / "catalog"
)


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(_VALUES),
    st.sampled_from(sorted(_VALUES)),
    st.floats(0.01, 1.0),
    st.sampled_from(["arithmetic", "geometric"]),
)
def test_score_stays_in_0_100_and_moves_with_each_indicators_direction(
    values: dict, which: str, step: float, method: str
) -> None:
    from early_warning.panel import OK, Panel

    catalog = FIXTURE_CATALOG
    index = CompositeIndex(catalog, _profile(catalog, aggregation=method))
    ind = catalog.get(which)
    low, high = ind.value_range
    riskier = 1 if ind.higher_is_riskier else -1
    moved = dict(values)
    moved[which] = float(np.clip(values[which] + riskier * step * (high - low), low, high))
    if ind.kind in ("ordinal", "boolean"):
        moved[which] = float(np.clip(round(moved[which]), low, high))

    def fit(vals: dict) -> float:
        raw = np.array([[float(vals[i]) for i in index.indicators]])
        panel = Panel("BLR", D(2020, 1, 5), False, np.array([D(2020, 1, 5).toordinal()]),
                      index.indicators, raw, np.zeros_like(raw), np.full(raw.shape, OK, np.int8),
                      np.zeros(raw.shape, np.int64))  # fmt: skip
        return float(index.fit(panel).score[0])

    before, after = fit(values), fit(moved)
    assert 0 <= before <= 100 and 0 <= after <= 100
    assert after >= before - 1e-9


# `demo` (the embedded dataset scored with the shipped default profile, read only) and
# `demo_copy` (a database of the test's own) are in conftest.py: built once per session.


def test_demo_scores_belarus_with_band_coverage_and_drivers(demo) -> None:
    week = demo.scores.week(-1)
    assert week["subject"] == "BLR" and week["as_of"] == "2021-02-28"
    assert 0 <= week["score"] <= 100 and week["band"] in (
        "low",
        "guarded",
        "elevated",
        "high",
        "severe",
    )
    assert 0 < week["coverage"] <= 1
    assert sum(c["contribution"] for c in week["contributions"]) == pytest.approx(
        week["score"], abs=1e-3
    )
    assert {
        "subject",
        "as_of",
        "profile",
        "score",
        "band",
        "coverage",
        "families",
        "contributions",
    } <= set(week)
    assert all({"score", "coverage"} <= set(f) for f in week["families"].values())


def test_sensitivity_band_contains_the_point_score_and_is_reproducible(demo_copy) -> None:
    demo = demo_copy  # each analysis is recorded
    band = demo.uncertainty.band
    assert band["low"] <= band["score"] <= band["high"]
    with Store(demo.db_path) as store:
        profile = load_profile(bundled_path("models"), "default", demo.catalog)
        again = sensitivity(store, demo.catalog, profile, "BLR", demo.scores.panel.as_of, draws=300)
        twice = sensitivity(store, demo.catalog, profile, "BLR", demo.scores.panel.as_of, draws=300)
    assert again.band == twice.band and again.sobol == twice.sobol
    assert demo.uncertainty.sobol["computed"]
    totals = [item["total"] for item in demo.uncertainty.sobol["indices"]]
    assert totals == sorted(totals, reverse=True) and totals[0] > 0


def test_the_band_is_the_profiles_own_method_and_holds_every_point_score(demo) -> None:
    analysis, results = demo.uncertainty, demo.scores
    profile = results.profile
    band = analysis.band
    assert band["method"] == profile.aggregation == "arithmetic" and band["varies"] == "weights"
    assert band["low"] <= band["score"] <= band["high"]
    history = analysis.history
    weeks = list(zip(history["score"], history["low"], history["high"], strict=True))
    assert any(point is not None for point, _, _ in weeks)
    for point, low, high in weeks:  # nothing where there is no score; the point inside
        assert (point is None) == (low is None) == (high is None)
        if point is not None:
            assert low - 1e-6 <= point <= high + 1e-6
    # Method uncertainty beside the band: the score under the other aggregation, exactly.
    (geometric,) = [m for m in analysis.method_uncertainty if m["choice"] == "aggregation"]
    refit = CompositeIndex(demo.catalog, dataclasses.replace(profile, aggregation="geometric"))
    exact = refit.fit(results.panel).score[results.latest_row]
    assert geometric["method"] == "geometric"
    assert geometric["score"] == pytest.approx(exact, abs=1e-3)
    assert geometric["shift"] == pytest.approx(exact - band["score"], abs=1e-3)
    assert band["by_aggregation"]["geometric"]["score"] == geometric["score"]
    assert band["by_aggregation"]["arithmetic"]["score"] == band["score"]
    assert any("under geometric aggregation the score would be" in line
               for line in analysis.method_lines())  # fmt: skip


def _panel(catalog: Catalog, weeks: list[dict[str, float]]) -> object:
    """A weekly panel of the fixture catalog from values (NaN or absent: missing)."""
    from early_warning.panel import MISSING, OK, Panel

    indicators = list(catalog.indicators)
    raw = np.array([[float(w.get(i, np.nan)) for i in indicators] for w in weeks])
    days = np.array([D(2020, 1, 5).toordinal() + 7 * k for k in range(len(weeks))])
    status = np.where(np.isnan(raw), MISSING, OK).astype(np.int8)
    return Panel("BLR", D.fromordinal(int(days[-1])), False, days, indicators, raw,
                 np.zeros_like(raw), status, np.zeros(raw.shape, np.int64))  # fmt: skip


# Risks far apart (0.9 and 0.95 beside zeros): a geometric mean is far below the arithmetic.
_APART = {"support_share": 27, "ultimatum": 0, "troops": 30000, "withdrawn": 1, "incidents": 1}


def test_pooled_methods_would_put_the_point_outside_the_band_the_new_band_holds_it() -> None:
    from early_warning.scoring import analyse, monte_carlo

    catalog = FIXTURE_CATALOG
    # The alternative the analyst asked to test is geometric only: the old band drew each
    # draw's method from that list, so every draw was geometric.
    profile = _profile(catalog, uncertainty={"aggregation": ["geometric"], "draws": 400})
    results = CompositeIndex(catalog, profile).fit(_panel(catalog, [_APART] * 3))
    point = results.score[-1]
    pooled = monte_carlo(results, draws=400, concentration=40, seed=1, method="geometric")
    assert not pooled.low[-1] <= point <= pooled.high[-1]  # the point far above that band
    analysis = analyse(results, seed=1, sobol_samples=64)
    band = analysis.band
    assert band["method"] == "arithmetic" and band["low"] <= band["score"] <= band["high"]
    assert band["high"] - band["low"] > 1  # a real spread, not a point
    (geometric,) = [m for m in analysis.method_uncertainty if m["choice"] == "aggregation"]
    assert geometric["method"] == "geometric" and geometric["shift"] < -20
    assert geometric["score"] == pytest.approx(
        CompositeIndex(catalog, dataclasses.replace(profile, aggregation="geometric"))
        .fit(results.panel).score[-1], abs=1e-3,
    )  # fmt: skip


def test_no_band_in_a_week_without_a_score() -> None:
    from early_warning.scoring import analyse, monte_carlo
    from early_warning.scoring.sensitivity import effective_weights

    catalog = FIXTURE_CATALOG
    # Week 2 has the economic family only: coverage 50% of the families' weight, under the
    # profile's 55%, so no score; some draws weigh that family more and would pass.
    thin = {"support_share": 27, "ultimatum": 1}
    profile = _profile(catalog, min_total_coverage=0.55, families={
        "economic_dependence": {"weight": 0.5}, "military_posture": {"weight": 0.5}})  # fmt: skip
    results = CompositeIndex(catalog, profile).fit(_panel(catalog, [_APART, _APART, thin, _APART]))
    assert np.isnan(results.score[2]) and not np.isnan(results.score[[0, 1, 3]]).any()
    mc = monte_carlo(results, draws=300, concentration=10, seed=3, exceed_levels=[10.0])
    observed = ~np.isnan(results.risk[2])
    _, valid = effective_weights(observed, results.index.structure, mc.indicator_draws,
                                 mc.family_draws, 0.0, 0.55)  # fmt: skip
    assert valid.any()  # draws that would have drawn a band here
    for series in (mc.low, mc.median, mc.high, mc.exceedance[10.0]):
        assert np.isnan(series[2]) and not np.isnan(series[[0, 1, 3]]).any()
    history = analyse(results, draws=300, seed=3, sobol_samples=64).history
    assert history["low"][2] is None and history["high"][2] is None
    assert history["score"][2] is None and None not in history["low"][:2]


# The Ishigami function's exact Sobol indices (a = 7, b = 0.1; Saltelli et al. 2008).
ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)


@pytest.mark.parametrize(("base", "note"), [(16, True), (64, True), (4096, False)])
def test_the_sobol_note_says_when_the_sample_cannot_tell_first_from_total(
    base: int, note: bool
) -> None:
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample
    from SALib.test_functions import Ishigami

    from early_warning.scoring.sensitivity import sobol_summary

    names = ["x1", "x2", "x3"]
    problem = {"num_vars": 3, "names": names, "bounds": [[-math.pi, math.pi]] * 3}
    x = sobol_sample.sample(problem, base, calc_second_order=False, seed=1)
    analysis = sobol_analyze.analyze(problem, Ishigami.evaluate(x), calc_second_order=False,
                                     seed=1)  # fmt: skip
    summary = sobol_summary(names, analysis, base)
    assert (summary["note"] is not None) == note
    rows = {row["weight"]: row for row in summary["indices"]}
    assert all({"first_order_conf", "total_conf", "told_apart"} <= set(r) for r in rows.values())
    if note:
        assert "sample too small to tell first-order from total" in summary["note"]
        assert f"base sample {base}" in summary["note"]
    else:  # a sample large enough to order them is also close to the exact values
        for name, s1, st in zip(names, ISHIGAMI_S1, ISHIGAMI_ST, strict=True):
            assert rows[name]["first_order"] == pytest.approx(s1, abs=0.03)
            assert rows[name]["total"] == pytest.approx(st, abs=0.03)
            assert rows[name]["told_apart"]


def test_the_sobol_note_on_the_demo_weights(demo) -> None:
    from early_warning.scoring.sensitivity import SOBOL_SAMPLES, sobol_indices

    small = sobol_indices(demo.scores, samples=64, seed=5)
    assert small["note"] and small["base_samples"] == 64
    assert any(i["first_order"] > i["total"] for i in small["indices"])  # noise shows
    default = demo.uncertainty.sobol  # the default base sample
    assert default["base_samples"] == SOBOL_SAMPLES and default["note"] is None
    assert all(i["told_apart"] for i in default["indices"])


def test_attribution_predicts_a_weight_change_exactly(demo) -> None:
    results = demo.scores
    row = results.latest_row
    week = results.week(row)
    top = week["contributions"][0]["indicator"]
    profile = results.profile
    # More weight on an indicator with data only raises its family's coverage, so the
    # set of scored families stays the same and the prediction applies.
    for weight in (1.5 * profile.indicator_weights[top], 3.0 * profile.indicator_weights[top]):
        predicted = results.predict_weight_change(row, indicator=top, weight=weight)
        refit = CompositeIndex(demo.catalog, profile.with_weights({top: weight})).fit(results.panel)
        assert refit.score[row] == pytest.approx(predicted, abs=1e-9)
    family = next(f for f, info in week["families"].items() if info["status"] == "scored")
    predicted = results.predict_weight_change(row, family=family, weight=0.7)
    refit = CompositeIndex(demo.catalog, profile.with_weights(families={family: 0.7})).fit(
        results.panel
    )
    assert refit.score[row] == pytest.approx(predicted, abs=1e-9)


def test_weights_set_changes_the_score_by_what_the_attribution_predicts(
    demo_copy, tmp_path: Path
) -> None:
    demo = demo_copy  # the change is audited in the database
    models = tmp_path / "models"
    shutil.copytree(bundled_path("models"), models)
    config = tmp_path / "ew.toml"
    config.write_text(f'[database]\npath = "{demo.db_path}"\n[paths]\nmodels = "{models}"\n')
    top = demo.scores.week(-1)["contributions"][0]["indicator"]
    args = [
        "--config", str(config), "weights", "set", f"{top}=2.5", "--profile", "analyst",
        "--note", "test: more weight", "--author", "tester", "--as-of", "2021-02-28", "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["score_after"] == pytest.approx(report["predicted_by_attribution"], abs=1e-6)
    assert report["score_after"] != report["score_before"]
    written = yaml.safe_load((models / "weights" / "analyst.yaml").read_text())
    assert written["indicators"][top]["weight"] == 2.5
    assert written["indicators"][top]["reasoning"]  # the reasoning survives the rewrite
    with Store(demo.db_path) as store:
        audit = store.profile_history("analyst")
    assert [(a["action"], a["author"], a["note"]) for a in audit] == [
        ("created", "tester", "test: more weight")
    ]
    assert audit[0]["weights_hash"] == report["weights_hash"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"indicators": {"nope": 1}}, "unknown indicator"),
        ({"indicators": {"support_share": -1}}, "must be >= 0"),
        (
            {"indicators": {"troops": 0, "withdrawn": 0, "incidents": 0, "exercise": 0}},
            "empty family",
        ),
        (
            {"bands": {"guarded": 30, "elevated": 20, "high": 60, "severe": 80}},
            "must rise strictly",
        ),
        ({"bands": {"guarded": 30}}, "give the lower bound"),
        ({"families": {"economic_dependence": 0, "military_posture": 0}}, "every family weighs 0"),
        ({"aggregation": "median"}, "is not one of"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_profile_mistakes_are_named(catalog: Catalog, change: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile({"name": "bad", **change}, catalog, "bad.yaml")


def test_the_shipped_default_profile_lists_every_indicator_with_reasoning(
    real_catalog: Catalog,
) -> None:
    profile = load_profile(bundled_path("models"), "default", real_catalog)
    assert profile.defaulted == ()
    assert all(profile.reasoning.get(i) for i in real_catalog.indicators)
    assert all(profile.reasoning.get(f"family:{f}") for f in real_catalog.families)
    assert sum(w for f, w in profile.family_weights.items() if f != "other") == pytest.approx(1.0)


def test_scores_are_stored_with_profile_hash_and_vintage(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    from early_warning.services import record_scores

    ingest(
        store,
        catalog,
        write_csv(tmp_path / "s.csv", "support_share,2020,10,,,,,,,,", "troops,2020,10,,,,,,,,"),
    )
    profile = _profile(catalog)
    results = score(store, catalog, profile, "BLR", D(2020, 12, 27))
    record_scores(store, catalog, results, [results.latest_row])
    record_scores(store, catalog, results, [results.latest_row])  # the same computation: kept once
    rows = list(store.db.query("SELECT * FROM scores"))
    assert len(rows) == 1
    assert rows[0]["profile_hash"] == profile.weights_hash
    assert rows[0]["data_vintage"] == store.data_vintage("BLR")
    assert json.loads(rows[0]["record"])["score"] == rows[0]["score"]


def test_scoring_commands_on_the_embedded_data(demo_copy, tmp_path: Path) -> None:
    demo = demo_copy  # the commands record scores, analyses and weight changes
    models = tmp_path / "models"
    shutil.copytree(bundled_path("models"), models)
    config = tmp_path / "ew.toml"
    config.write_text(f'[database]\npath = "{demo.db_path}"\n[paths]\nmodels = "{models}"\n')
    base = ["--config", str(config)]

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(cli, [*base, *args])
        assert result.exit_code == 0, result.output
        return result.stdout  # the progress bar goes to stderr

    week = json.loads(invoke("score", "--as-of", "2021-02-28", "--json"))
    assert week["score"] == pytest.approx(demo.scores.week(-1)["score"])
    history = json.loads(
        invoke("score", "--history", "--start", "2019-01-01", "--end", "2021-02-28", "--json")
    )
    assert history[-1]["week"] == "2021-W08" and len(history) > 100
    assert "band" in invoke("score", "--history", "--start", "2020-12-01", "--end", "2021-02-28")
    shown = json.loads(invoke("weights", "show", "--json"))
    assert sum(row["share"] for row in shown["indicators"]) == pytest.approx(1.0, abs=1e-3)
    assert "ok  default" in invoke("weights", "validate")
    invoke(
        "weights",
        "set",
        "military_posture=0.5",
        "--profile",
        "heavy",
        "--note",
        "more military",
        "--as-of",
        "2021-02-28",
    )
    diff = json.loads(
        invoke("weights", "diff", "default", "heavy", "--as-of", "2021-02-28", "--json")
    )
    assert diff["weeks_compared"] > 100 and diff["max_abs_gap"]["gap"] != 0
    assert [h["action"] for h in json.loads(invoke("weights", "history", "heavy", "--json"))] == [
        "created"
    ]
    analysis = json.loads(
        invoke("sensitivity", "--as-of", "2021-02-28", "--draws", "200", "--json")
    )
    assert analysis["band"]["low"] <= analysis["band"]["score"] <= analysis["band"]["high"]
    assert set(analysis["band"]["by_aggregation"]) == {"arithmetic", "geometric"}
    text = invoke("sensitivity", "--as-of", "2021-02-28", "--draws", "200")
    assert "under the profile's arithmetic aggregation" in text and "family ranks" in text
    assert "under geometric aggregation the score would be" in text
    assert "note: sample too small" not in text  # the default Sobol sample tells them apart
    small = invoke("sensitivity", "--as-of", "2021-02-28", "--draws", "200", "--samples", "64")
    assert "sample too small to tell first-order from total" in small
    assert small.rstrip().endswith("raise --samples")
    refused = CliRunner().invoke(cli, [*base, "sensitivity", "--samples", "100"])
    assert refused.exit_code == 2 and "not a power of two" in refused.output
    with Store(demo.db_path) as store:  # reading never writes: kept only with --record
        kept = store.latest_sensitivity("BLR", analysis["profile_hash"])
        assert kept is None or kept["draws"] != 200
        scores = store.count("scores")
    invoke("sensitivity", "--as-of", "2021-02-28", "--draws", "200", "--record")
    invoke("score", "--as-of", "2021-02-28")
    with Store(demo.db_path) as store:
        assert store.latest_sensitivity("BLR", analysis["profile_hash"])["draws"] == 200
        assert store.count("scores") == scores
    invoke("score", "--as-of", "2021-02-28", "--history", "--start", "2021-01-01", "--record")
    with Store(demo.db_path) as store:
        assert store.count("scores") > scores  # the weeks shown, stored


def test_score_without_enough_data_says_so_and_exits_1(demo, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(demo.db_path), "score", "--as-of", "2001-01-07"])
    assert result.exit_code == 1
    assert "insufficient data" in result.output


def test_a_score_on_old_data_says_how_much_is_stale_and_how_wide_that_makes_it(demo) -> None:
    # Five years after the embedded data end, every value is stale: the score is still
    # the last point estimate (values do not drop out), and says how little it rests on.
    recent = CliRunner().invoke(
        cli, ["--db", str(demo.db_path), "score", "--as-of", "2021-02-28", "--json"]
    )
    old = CliRunner().invoke(
        cli, ["--db", str(demo.db_path), "score", "--as-of", "2026-01-04", "--json"]
    )
    assert recent.exit_code == old.exit_code == 0, old.output
    now, later = json.loads(recent.output), json.loads(old.output)
    assert later["stale_share"] > now["stale_share"] + 0.3
    assert later["age_band"]["low"] <= later["score"] <= later["age_band"]["high"]
    assert later["age_band"]["high"] - later["age_band"]["low"] > (
        now["age_band"]["high"] - now["age_band"]["low"]
    )
    text = CliRunner().invoke(cli, ["--db", str(demo.db_path), "score", "--as-of", "2026-01-04"])
    assert "of its weight rests on stale values" in text.output


def test_geometric_contributions_add_up_and_grow_with_risk() -> None:
    risk = np.array([[0.1, 0.9, 0.5, 0.5]])
    agg = aggregate(risk, STRUCTURE, np.ones(4), np.array([0.5, 0.5]), method="geometric")
    contributions = agg.contributions[0]
    assert contributions.sum() == pytest.approx(agg.score[0])
    assert contributions[1] > contributions[0]  # more risk, larger part
    assert contributions[2] == pytest.approx(contributions[3])


def test_weights_cli_guards(demo, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(bundled_path("models"), models)
    config = tmp_path / "ew.toml"
    config.write_text(f'[database]\npath = "{demo.db_path}"\n[paths]\nmodels = "{models}"\n')

    def fails(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 2, result.output
        return result.output

    assert "read-only" in fails(
        "weights", "set", "ru_base_status=3", "--profile", "default", "--note", "x"
    )
    assert "named twice" in fails(
        "weights", "set", "ru_base_status=2", "ru_base_status=4", "--profile", "p", "--note", "x"
    )
    assert "no observations for FRA" in fails("score", "--subject", "FRA", "--as-of", "2021-02-28")
    assert "is after the end" in fails(
        "score", "--history", "--start", "2021-01-01", "--end", "2020-01-01"
    )
    assert "--start: " in fails("score", "--history", "--start", "bad", "--end", "2020-01-01")
    assert "in the future" in fails("score", "--as-of", "2099-01-01")
    broken = models / "weights" / "twice.yaml"
    broken.write_text("name: twice\nindicators:\n  ru_base_status: 1\n  ru_base_status: 2\n")
    assert "'ru_base_status' is given twice" in fails("weights", "validate", "twice")
    assert not (models / "weights" / "p.yaml").exists()  # a refused change writes nothing


def test_the_log_alternative_is_not_tried_on_a_scale_with_negative_values(
    real_catalog: Catalog,
) -> None:
    from early_warning.scoring.normalise import normalise_column

    goldstein = real_catalog.get("gdelt_goldstein_mean")  # goalposts -5 .. 5
    x = np.array([-7.0, -5.0, 0.0, 5.0, np.nan])
    risk = normalise_column(goldstein, x, method="log")
    assert np.allclose(risk, [1.0, 1.0, 0.5, 0.0, np.nan], equal_nan=True)


_START = D(2018, 1, 7)


@st.composite
def _histories(draw: st.DrawFn) -> list[dict]:
    """Observations of every lifetime in the fixture catalog (state, release, interval,
    event), at random days, with random publication lags and revisions."""
    rows = []
    for k in range(draw(st.integers(1, 25))):
        ind = FIXTURE_CATALOG.indicators[draw(st.sampled_from(sorted(_VALUES)))]
        start = _START + dt.timedelta(days=draw(st.integers(0, 700)))
        length = draw(st.sampled_from([0, 6, 20, 90]))
        low, high = ind.value_range
        value = float(draw(st.integers(int(low), int(min(high, 60000)))))
        if ind.kind in ("ordinal", "boolean"):
            value = float(min(max(round(value), low), high))
        known = start + dt.timedelta(days=length + draw(st.integers(0, 120)))
        rows.append(
            {
                "id": k + 1,
                "indicator": ind.id,
                "period_start": start.isoformat(),
                "period_end": (start + dt.timedelta(days=length)).isoformat(),
                "value": value,
                "known_from": known.isoformat(),
            }
        )
    return rows


@settings(max_examples=40, deadline=None)
@given(_histories(), st.sampled_from(["arithmetic", "geometric"]), st.booleans())
def test_in_a_week_with_nothing_new_only_declared_decay_moves_the_score(
    rows: list[dict], method: str, point_in_time: bool
) -> None:
    # The invariant of docs/scoring.md ("How a value lives"): a value that ages is kept
    # (marked stale, its band wider), so with the event columns' decay frozen, a week
    # in which no value arrived, began or ended scores exactly as the week before.
    from early_warning.panel import PanelBuilder

    builder = PanelBuilder(FIXTURE_CATALOG, "BLR", rows, _START, D(2021, 1, 3))
    panel = builder.panel(D(2021, 1, 3), point_in_time=point_in_time)
    index = CompositeIndex(FIXTURE_CATALOG, _profile(FIXTURE_CATALOG, aggregation=method))
    results = index.fit(panel)
    events = [j for j, i in enumerate(index.indicators)
              if FIXTURE_CATALOG.indicators[i].lifetime == "event"]  # fmt: skip
    levels = [j for j in range(len(index.indicators)) if j not in events]
    low, high = results.age_band
    for r in range(1, panel.n_weeks):
        quiet = np.array_equal(panel.raw[r, levels], panel.raw[r - 1, levels], equal_nan=True)
        if not quiet or math.isnan(results.score[r - 1]):
            continue
        frozen = results.risk[r].copy()
        frozen[events] = results.risk[r - 1, events]
        assert index.aggregate(frozen[None, :]).score[0] == pytest.approx(
            results.score[r - 1], abs=1e-9
        )
        # Ageing widens the uncertainty, never the point: the band holds the score.
        assert low[r] - 1e-9 <= results.score[r] <= high[r] + 1e-9
        aged = panel.status[r] == 1  # STALE
        assert (panel.excess_age[r, aged] >= panel.excess_age[r - 1, aged] - 1e-12).all()


@pytest.mark.parametrize("method", ["arithmetic", "geometric"])
def test_a_fleet_aggregated_in_blocks_equals_each_subject_scored_alone(method: str) -> None:
    from early_warning.scoring.aggregate import BLOCK_ROWS

    rng = np.random.default_rng(3)
    structure = Structure.build(["a", "b", "c"], ["a"] * 4 + ["b"] * 5 + ["c"] * 3)
    weeks = BLOCK_ROWS // 3 + 7  # subjects straddle the blocks
    risk = rng.random((7 * weeks, 12))
    risk[rng.random(risk.shape) < 0.3] = np.nan
    weights, family = rng.random(12) + 0.1, np.array([0.5, 0.3, 0.2])
    settings = {"method": method, "min_family_coverage": 0.4, "min_total_coverage": 0.2}
    fleet = aggregate(risk, structure, weights, family, **settings)
    alone = [aggregate(risk[k : k + weeks], structure, weights, family, **settings)
             for k in range(0, len(risk), weeks)]  # fmt: skip
    # equal to the last bits but for the matrix products' rounding, which depends on
    # where a row falls in a block (a few ulps: 1e-13 relative)
    np.testing.assert_array_equal(fleet.sufficient, np.concatenate([a.sufficient for a in alone]))
    for name in ("score", "coverage", "family_score", "family_share", "contributions"):
        np.testing.assert_allclose(
            getattr(fleet, name), np.concatenate([getattr(a, name) for a in alone]), rtol=1e-13
        )


@pytest.mark.parametrize("method", ["arithmetic", "geometric"])
def test_terms_prepared_once_give_every_weights_numbers_bit_for_bit(method: str) -> None:
    from early_warning.scoring.aggregate import BLOCK_ROWS, prepare

    rng = np.random.default_rng(5)
    structure = Structure.build(["a", "b", "c"], ["a"] * 4 + ["b"] * 5 + ["c"] * 3)
    risk = rng.random((BLOCK_ROWS + 40, 12))  # two blocks
    risk[rng.random(risk.shape) < 0.3] = np.nan
    terms = prepare(risk, structure, method)
    weights, family = rng.random(12) + 0.1, np.array([0.5, 0.3, 0.2])
    # A family slider (no indicator weight moves: the sums are reused), an indicator
    # slider (its family summed again), then back to weights seen before.
    moves = [(weights, family), (weights, np.array([0.9, 0.3, 0.2]))]
    moves += [(np.where(np.arange(12) == 5, 2.0, weights), family), (weights, family)]
    settings = {"method": method, "min_family_coverage": 0.4, "min_total_coverage": 0.2}
    for w, f in moves:
        fresh = aggregate(risk, structure, w, f, **settings)
        again = aggregate(risk, structure, w, f, terms=terms, **settings)
        for name in ("score", "coverage", "family_score", "family_share", "contributions"):
            np.testing.assert_array_equal(getattr(again, name), getattr(fresh, name))
    with pytest.raises(ValueError, match="not those of a"):
        aggregate(risk, structure, weights, family, method="geometric" if method ==
                  "arithmetic" else "arithmetic", terms=terms)  # fmt: skip


def test_the_sobol_sample_is_salibs_own() -> None:
    # The base points A and B of SALib's sample, exactly (`_latest_scores` reads the
    # sample's rows from them: A, A with column k from B for every k, then B).
    from SALib.sample import sobol as salib_sobol

    from early_warning.scoring.sensitivity import _saltelli_points

    problem = {"num_vars": 5, "names": list("abcde"), "bounds": [[k, k + 2.5] for k in range(5)]}
    a, b = _saltelli_points(np.array(problem["bounds"], dtype=float), 64, 3)
    theirs = salib_sobol.sample(dict(problem), 64, calc_second_order=False, seed=3)
    assert theirs.shape == (64 * 7, 5)
    blocks = theirs.reshape(64, 7, 5)
    assert np.array_equal(a, blocks[:, 0]) and np.array_equal(b, blocks[:, -1])
    for k in range(5):  # row 1 + k: A with column k from B
        assert np.array_equal(blocks[:, 1 + k, k], b[:, k])
        assert np.array_equal(np.delete(blocks[:, 1 + k], k, axis=1), np.delete(a, k, axis=1))
