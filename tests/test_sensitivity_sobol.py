"""The Sobol analysis: SALib's estimators and intervals, computed for all weights at once."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from early_warning.scoring.aggregate import FLOOR
from early_warning.scoring.sensitivity import (
    _latest_scores,
    _saltelli_points,
    _sobol_inputs,
    effective_weights,
    sobol_analyze,
    sobol_indices,
)

KEYS = ("S1", "S1_conf", "ST", "ST_conf")


def _salib_sample(bounds: np.ndarray, base: int, seed: int) -> np.ndarray:
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": len(bounds), "names": list(map(str, range(len(bounds)))),
               "bounds": bounds.tolist()}  # fmt: skip
    return salib_sample.sample(problem, base, calc_second_order=False, seed=seed)


def _outputs(d: int, base: int, seed: int) -> np.ndarray:
    """A model with interactions, a weak input and one that does nothing (index 0)."""
    x = _salib_sample(np.array([[-np.pi, np.pi]] * d), base, seed)
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    return y + 0.05 * x[:, 3:-1].sum(axis=1)  # the last input is never read


@pytest.mark.parametrize(("d", "base", "seed"), [(4, 64, 1), (8, 256, 20261122)])
def test_sobol_analyze_is_salibs_to_1e_12(d: int, base: int, seed: int) -> None:
    # SALib stays the outside reference: the same sample, the same seed (nonzero: at 0
    # SALib draws from numpy's global generator), every index and interval within 1e-12
    # (absolute: the indices are shares of a variance of 1). The sums run in another
    # order, so they are close, not bitwise equal.
    from SALib.analyze import sobol as salib

    y = _outputs(d, base, seed)
    problem = {"num_vars": d, "names": [f"x{k}" for k in range(d)], "bounds": [[0, 1]] * d}
    theirs = salib.analyze(problem, y, calc_second_order=False, seed=seed)
    ours = sobol_analyze(y, d, seed)
    for key in KEYS:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=1e-12, err_msg=key)
    assert ours["S1"][-1] == theirs["S1"][-1] == 0.0  # the unread input
    assert (ours["S1_conf"][:-1] > 0).all() and ours["S1_conf"][-1] == 0.0


def test_sobol_analyze_at_seed_0_is_deterministic() -> None:
    # SALib's `if seed:` makes its seed-0 intervals vary from run to run; ours do not.
    y = _outputs(5, 128, 0)
    first, again, other = sobol_analyze(y, 5, 0), sobol_analyze(y, 5, 0), sobol_analyze(y, 5, 1)
    for key in KEYS:
        assert np.array_equal(first[key], again[key])
    assert np.array_equal(first["S1"], other["S1"])  # the point estimates: no resampling
    assert not np.array_equal(first["S1_conf"], other["S1_conf"])  # the seed is used


def test_sobol_analyze_refuses_outputs_of_another_shape() -> None:
    with pytest.raises(ValueError, match="not N x 5 for 3 inputs"):
        sobol_analyze(np.zeros(21), 3, 1)


@pytest.mark.parametrize("aggregation", ["arithmetic", "geometric"])
def test_the_sampled_scores_are_the_aggregation_rules(demo, aggregation: str) -> None:
    # `_latest_scores` never builds the sample (each row is A's sums plus one weight's
    # change); the reference is the full rule (`effective_weights` over every
    # indicator) on every row of SALib's own sample.
    results = copy.copy(demo.scores)
    results.profile = dataclasses.replace(results.profile, aggregation=aggregation)
    _, bounds, slots = _sobol_inputs(results, 0.5)
    sample = _salib_sample(bounds, 16, 7)
    row = results.latest_row
    w, families = results.index.weight_arrays()
    ind, fam = np.tile(w, (len(sample), 1)), np.tile(families, (len(sample), 1))
    for column, (kind, position) in enumerate(slots):
        (ind if kind == "indicator" else fam)[:, position] = sample[:, column]
    fam[:, ~results.agg.sufficient[row]] = 0.0
    risk = results.risk[row]
    v, _ = effective_weights(~np.isnan(risk), results.index.structure, ind, fam, 0.0, 0.0)
    if aggregation == "geometric":
        expected = 100.0 * np.exp(v @ np.log(np.maximum(np.nan_to_num(risk), FLOOR)))
    else:
        expected = 100.0 * (v @ np.nan_to_num(risk))
    got = _latest_scores(results, *_saltelli_points(bounds, 16, 7), slots)
    assert np.ptp(expected) > 1.0  # the weights do move the score
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_the_analysis_imports_neither_scipy_stats_nor_salib() -> None:
    # scipy.stats alone costs most of a second (SALib's analysis imports it for Z).
    code = (
        "import sys, numpy as np\n"
        "from early_warning.scoring.sensitivity import sobol_analyze\n"
        "y = np.random.default_rng(1).random(7 * 32)\n"
        "sobol_analyze(y, 5, 3)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', 'SALib'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_sobol_range_of_0_is_a_score_that_does_not_move(demo) -> None:
    # SALib's scaling refused equal bounds with a ValueError; the weights then do not vary.
    results = copy.copy(demo.scores)
    fixed = dataclasses.replace(results.profile.uncertainty, sobol_range=0.0)
    results.profile = dataclasses.replace(results.profile, uncertainty=fixed)
    assert sobol_indices(results, samples=16, seed=1) == {
        "computed": False,
        "reason": "the latest score does not depend on the weights",
    }
