"""The point-in-time replay gathers each alert's evidence while it walks the weeks:
its alerts and their evidence equal those of the previous replay (`alerts_reference`),
which rebuilt a panel from the store for every alert, on the embedded dataset, with
the shipped rules and some that fire more often (thresholds, a jump, staleness)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import yaml

from early_warning import Store, bundled_path
from early_warning.alerts import AlertEngine, load_rules
from early_warning.demo import DemoResult
from early_warning.scoring import load_profile

from .alerts_reference import RowReplayEngine

EXTRA = [
    {"id": "score_mid", "kind": "threshold", "severity": "watch", "target": "score",
     "op": ">=", "level": 30, "hysteresis": 3},
    {"id": "military_mid", "kind": "threshold", "severity": "watch",
     "target": "family:military_posture", "op": ">=", "level": 25},
    {"id": "score_step", "kind": "change", "severity": "watch", "target": "score", "jump": 1},
    {"id": "exercise_stale", "kind": "staleness", "severity": "watch",
     "indicators": ["joint_exercise_scale", "ru_troops_in_belarus"]},
]  # fmt: skip


def _alerts(engine: AlertEngine, start: dt.date, end: dt.date) -> list[str]:
    found = engine.replay("BLR", start, end, point_in_time=True)
    return [json.dumps(dataclasses.asdict(a), sort_keys=True, default=str) for a in found]


def test_the_point_in_time_replay_raises_the_same_alerts_with_the_same_evidence(
    demo: DemoResult, tmp_path: Path
) -> None:
    models = bundled_path("models")
    profile = load_profile(models, "default", demo.catalog)
    shipped = yaml.safe_load((models / "alerts.yaml").read_text())["rules"]
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump({"rules": shipped + EXTRA}))
    rules = load_rules(tmp_path / "alerts.yaml", demo.catalog)
    with Store(demo.db_path) as store:
        engine = AlertEngine(store, demo.catalog, profile, rules)
        reference = RowReplayEngine(store, demo.catalog, profile, rules)
        start, end = dt.date(2019, 12, 1), dt.date(2021, 2, 24)  # to a Wednesday
        new = _alerts(engine, start, end)
        assert new == _alerts(reference, start, end)
        kinds = {json.loads(a)["kind"] for a in new}
        assert kinds >= {"red_line", "threshold", "staleness"}  # drivers, observations
        sunday = dt.date(2020, 12, 27)
        assert engine.firings("BLR", start, sunday) == reference.firings("BLR", start, sunday)
