"""No behaviour change: the demo's and a generated panel's outputs equal the recorded ones.

The golden files were recorded by `tests/golden.py` (which says what they hold, how to
regenerate them and when that is legitimate). Numbers are equal to a relative 1e-9
(and an absolute 1e-12, for zeros), which lets a sum taken in another order pass and
stops any number that moves; text, levels, bands and keys must be equal exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from early_warning.demo import DemoResult
from tests.golden import DEMO_FILE, GENERATED_FILE, demo_outputs, generated_outputs

REL, ABS = 1e-9, 1e-12


def differences(expected: Any, got: Any, where: str = "") -> list[str]:
    """Every place where `got` differs from `expected`, as 'path: expected != got'."""
    if isinstance(expected, dict) and isinstance(got, dict):
        if expected.keys() != got.keys():
            return [f"{where}: keys {sorted(expected)} != {sorted(got)}"]
        return [d for k in expected for d in differences(expected[k], got[k], f"{where}/{k}")]
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{where}: {len(expected)} items != {len(got)}"]
        pairs = enumerate(zip(expected, got, strict=True))
        return [d for k, (e, g) in pairs for d in differences(e, g, f"{where}[{k}]")]
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(got, numbers) and type(expected) is not bool:
        if type(got) is not bool and math.isclose(expected, got, rel_tol=REL, abs_tol=ABS):
            return []
    elif type(expected) is type(got) and expected == got:
        return []
    return [f"{where}: {expected!r} != {got!r}"]


def _check(path: Path, got: dict[str, Any]) -> None:
    expected = json.loads(path.read_text())
    # Through JSON as recorded, so that tuples and lists, ints and floats compare alike.
    found = differences(expected, json.loads(json.dumps(got)))
    assert not found, f"{len(found)} output(s) moved from {path.name}:\n" + "\n".join(found[:20])


def test_the_demo_computes_what_it_did(demo_session: DemoResult) -> None:
    _check(DEMO_FILE, demo_outputs(demo_session))


def test_a_generated_panel_scores_and_bands_as_it_did(tmp_path: Path) -> None:
    got = generated_outputs(tmp_path)
    # Many availability patterns, each banded: the Monte Carlo's grouping is exercised.
    holed = got["geometric_holed"]
    assert holed["patterns"] > 100 and sum(x is not None for x in holed["low"]) > 100
    _check(GENERATED_FILE, got)


def test_the_comparison_catches_a_moved_number() -> None:
    recorded = {"a": [1.0, 2.0, {"b": 50.0, "c": "amber"}], "n": 3}
    assert differences(recorded, recorded) == []
    for b, c, moved in ((50.0 * (1 + 1e-11), "amber", False), (50.0001, "amber", True),
                        (50.0, "red", True)):  # fmt: skip
        got = {"a": [1.0, 2.0, {"b": b, "c": c}], "n": 3}
        assert bool(differences(recorded, got)) is moved
    assert differences(recorded, {"a": [1.0, 2.0], "n": 3})
    assert differences({"x": None}, {"x": 0.0}) and differences({"x": True}, {"x": 1})
