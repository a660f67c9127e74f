"""Every rule scored: a point-in-time replay against the event record gives each rule's
hit rate, false alarms and lead time (`alerts replay --score`, the report's alerts log)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from early_warning import Store, bundled_path
from early_warning.alerts import AlertEngine
from early_warning.alerts.skill import definition_hash, rule_skill, score_rules
from early_warning.alerts.track_record import (
    record_replay_score,
    score_replay,
    stored_replay_score,
)
from early_warning.catalog import Catalog
from early_warning.forecast.metrics import alert_skill
from early_warning.forecast.targets import events_from_rows
from early_warning.ingest import Limits, ingest
from early_warning.scoring import load_profile

from .conftest import run_cli, write_csv
from .test_alerts import _engine, _rules, _troops, sunday

D = dt.date


def _day(text: str) -> int:
    return D.fromisoformat(text).toordinal()


# -- the pure score ----------------------------------------------------------------------


def test_hits_false_alarms_pending_and_lead_by_hand() -> None:
    firings = [_day("2024-02-11"), _day("2024-03-31"), _day("2024-05-26")]
    events = [_day("2024-02-20"), _day("2024-05-10")]
    end = _day("2024-06-02")
    four = rule_skill(firings, events, 4, end=end)
    # 02-11 warned of 02-20 (9 days); 03-31 had no event within 4 weeks (false); 05-26's
    # four weeks are not over by 06-02 (pending); 05-10 had no firing in the 4 weeks before.
    assert (four["hits"], four["events"], four["hit_rate"]) == (1, 2, 0.5)
    assert (four["true_alarms"], four["false_alarms"], four["pending"]) == (1, 1, 1)
    assert four["false_alarm_rate"] == 0.5
    assert four["mean_lead_weeks"] == pytest.approx(9 / 7, abs=0.01)
    twelve = rule_skill(firings, events, 12, end=end)
    # 05-10 was preceded by 03-31 (40 days); 02-11 is 89 days before it, past 12 weeks
    # (84 days) but that is not the first firing in the window anyway.
    assert (twelve["hits"], twelve["false_alarms"], twelve["pending"]) == (2, 0, 1)
    assert [x["lead_weeks"] for x in twelve["leads"]] == [1.29, 5.71]
    assert twelve["mean_lead_weeks"] == pytest.approx((9 / 7 + 40 / 7) / 2, abs=0.01)


def test_a_firing_on_the_event_day_or_after_it_is_no_warning() -> None:
    event = _day("2024-03-06")
    score = rule_skill([event, event + 3], [event], 4, end=event + 60)
    assert score["hits"] == 0 and score["false_alarms"] == 2 and score["mean_lead_weeks"] is None
    quiet = rule_skill([], [event], 4, end=event + 60)
    assert quiet["hit_rate"] == 0 and quiet["false_alarm_rate"] is None and quiet["firings"] == 0


@pytest.mark.parametrize("seed", range(8))
def test_it_agrees_with_the_forecast_alert_skill_when_nothing_is_pending(seed: int) -> None:
    # `forecast.metrics.alert_skill` scores alert thresholds on the ensemble probability
    # with the same windows; given the firings as alerts (p = 1), the numbers match.
    rng = np.random.default_rng(seed)
    start = _day("2010-01-03")
    days = start + 7 * np.arange(300)
    p = (rng.random(300) < 0.08).astype(float)
    events = np.sort(rng.choice(np.arange(start, start + 7 * 290), size=12, replace=False))
    for horizon in (4, 12):
        ours = rule_skill(days[p == 1], events, horizon, end=int(days[-1]) + 7 * horizon)
        reference = alert_skill(days, p, events, 1.0, horizon)
        assert ours["pending"] == 0
        for key in ("hit_rate", "false_alarm_rate", "mean_lead_weeks"):
            assert ours[key] == reference[key], (horizon, key)
        assert (ours["firings"], ours["events"]) == (reference["alerts"], reference["events"])


def test_a_changed_rule_has_another_definition_hash(catalog: Catalog, tmp_path: Path) -> None:
    rules = _rules(tmp_path, catalog)
    again = _rules(tmp_path, catalog, (tmp_path / "alerts.yaml").read_text())
    assert [definition_hash(r) for r in rules] == [definition_hash(r) for r in again]
    moved = _rules(
        tmp_path, catalog, (tmp_path / "alerts.yaml").read_text().replace("3000", "4000")
    )
    assert definition_hash(moved[0]) != definition_hash(rules[0])
    assert definition_hash(moved[1]) == definition_hash(rules[1])


def test_score_rules_counts_the_events_of_the_period_at_the_severity(
    catalog: Catalog, tmp_path: Path
) -> None:
    rows = [
        {"date": "2024-01-01", "known_from": "2024-01-01", "severity": 2},  # on the start day
        {"date": "2024-02-20", "known_from": "2024-02-20", "severity": 2},
        {"date": "2024-03-01", "known_from": "2024-03-31", "severity": 1},  # too minor
        {"date": "2024-01-01", "known_from": "2024-12-31", "severity": 3,
         "date_precision": "year"},  # cannot be placed in a week
        {"date": "2024-07-01", "known_from": "2024-07-01", "severity": 3},  # after the end
    ]  # fmt: skip
    rules = _rules(tmp_path, catalog)
    scored = score_rules(
        rules, {"troops_in": [_day("2024-02-11")]}, events_from_rows(rows), D(2024, 1, 1),
        D(2024, 6, 2), horizons=(4,), severity=2,
    )  # fmt: skip
    assert scored["event_days"] == ["2024-02-20"] and scored["excluded_imprecise_events"] == 1
    (only,) = scored["rules"]  # the rules not replayed (not for this subject) are left out
    assert only["rule"] == "troops_in" and only["horizons"][0]["hits"] == 1


# -- the replay from the store ---------------------------------------------------------

# Troops cross 3,000 in W05-W06, W12 and W20; each weekly figure is published on the
# Monday after its week, so as known each week the red line holds from W06, W13, W21
# (the store's clock stands on 2024-06-01, the Saturday of W22).
CROSSINGS = {w: 200 for w in range(1, 22)} | {5: 5000, 6: 5000, 12: 5000, 20: 5000}
EVENTS = [
    "2024-02-20,BLR,force_deployment,2,Forces deployed,Report",
    "2024-05-10,BLR,force_deployment,3,More forces,Report",
    "2024-03-20,BLR,coercive_statement,1,A statement,Report",  # below severity 2
]


def _desk(store: Store, catalog: Catalog, tmp_path: Path) -> AlertEngine:
    _troops(store, catalog, tmp_path, CROSSINGS)
    events = write_csv(
        tmp_path / "events.csv", *EVENTS, header="date,subject,kind,severity,title,citation"
    )
    assert ingest(store, catalog, events, limits=Limits()).rows_rejected == 0
    return _engine(store, catalog, tmp_path)


def test_the_replay_scores_each_rule_as_known_each_week(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    engine = _desk(store, catalog, tmp_path)
    ticks: list[int] = []
    scores = score_replay(engine, "BLR", sunday(1), sunday(21), progress=ticks.append)
    assert sum(ticks) == engine.replay_weeks("BLR", sunday(1), sunday(21)) == 21
    replayed = engine.replay("BLR", sunday(1), sunday(21), point_in_time=True)
    by_rule = {r["rule"]: r for r in scores["rules"]}
    troops = by_rule["troops_in"]
    # The same weeks the point-in-time replay lists.
    assert troops["fired_on"] == [a.as_of for a in replayed if a.rule == "troops_in"]
    assert troops["fired_on"] == ["2024-02-11", "2024-03-31", "2024-05-26"]
    four, twelve = troops["horizons"]
    assert (four["hit_rate"], four["false_alarm_rate"], four["pending"]) == (0.5, 0.5, 1)
    assert (twelve["hit_rate"], twelve["false_alarm_rate"]) == (1.0, 0.0)
    assert scores["n_events"] == 2 and scores["point_in_time"] is True
    assert by_rule["troops_stay"]["firings"] == 0
    assert store.count("alerts") == 0 and store.count("alert_state") == 0  # wrote nothing
    assert store.count("rule_scores") == 0


def test_a_rule_already_firing_at_the_start_is_not_scored_for_it(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    engine = _desk(store, catalog, tmp_path)
    scores = score_replay(engine, "BLR", sunday(7), sunday(21))
    troops = next(r for r in scores["rules"] if r["rule"] == "troops_in")
    # W05-W06 were over 3,000 before W07: no crossing in the period, not counted.
    assert troops["firing_at_start"] is True
    assert troops["fired_on"] == ["2024-03-31", "2024-05-26"]


def test_a_kept_score_is_read_back_only_for_the_same_rules_and_days(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    engine = _desk(store, catalog, tmp_path)
    scores = score_replay(engine, "BLR", sunday(1), sunday(21))
    record_replay_score(store, scores)
    profile, rules = engine.profile, engine.rules
    found = stored_replay_score(store, "BLR", profile, rules, sunday(21))
    assert found is not None and found["rules"] == scores["rules"] and found["computed_at"]
    assert stored_replay_score(store, "BLR", profile, rules, sunday(20)) is None  # saw later
    text = (tmp_path / "alerts.yaml").read_text().replace("3000", "4000")
    assert stored_replay_score(store, "BLR", profile, _rules(tmp_path, catalog, text),
                               sunday(21)) is None  # fmt: skip


# -- the faces ------------------------------------------------------------------------


def _demo(work: Path, *args: str):
    return run_cli("--db", str(work / "demo.db"), *args, cwd=work)


def test_replay_score_on_the_demo_matches_the_replay_and_the_report(demo) -> None:
    work = demo.db_path.parent
    args = ("alerts", "replay", "--start", "2017-01-01", "--end", "2021-02-28")
    done = _demo(work, *args, "--score", "--json")
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    assert scores["horizons"] == [4, 12] and scores["severity_at_least"] == 2
    replayed = json.loads(_demo(work, *args, "--point-in-time", "--json").stdout)
    ultimatum = next(r for r in scores["rules"] if r["rule"] == "red_line_integration_ultimatum")
    weeks = [a["as_of"] for a in replayed if a["rule"] == "red_line_integration_ultimatum"]
    assert ultimatum["fired_on"] == weeks and ultimatum["firings"] == 1
    # The demo keeps the same score; its report's alerts log shows it, line for line.
    assert demo.rule_scores["rules"] == scores["rules"]
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(demo.report.path).pages).split())
    assert "How each rule would have done (point-in-time replay)" in text
    assert f"against the {scores['n_events']} event(s) of severity 2 or more" in text
    assert "kept by `alerts replay --score --record`" in text
    four, twelve = ultimatum["horizons"]
    assert (
        f"red_line_integration_ultimatum red 1 {four['hits']} of {four['events']} (0%) "
        f"1 of 1 (100%) - {twelve['hits']} of {twelve['events']} (0%) 1 of 1 (100%) -"
    ) in text
    table = _demo(work, *args, "--score")
    assert table.returncode == 0
    line = next(x for x in table.stdout.splitlines() if x.startswith("red_line_integration"))
    assert line.split() == ["red_line_integration_ultimatum", "red", "1", "0", "of", "8",
                            "(0%)", "1", "of", "1", "(100%)", "-", "0", "of", "8", "(0%)",
                            "1", "of", "1", "(100%)", "-"]  # fmt: skip
    assert "Hit rate: the events with a firing in the H weeks before them" in table.stdout


def test_replay_score_record_and_its_mistakes(demo_copy) -> None:
    work = demo_copy.db_path.parent
    args = ("alerts", "replay", "--start", "2020-06-01", "--end", "2021-02-28", "--score")
    kept = _demo(work, *args, "--horizons", "8", "--severity", "3", "--record", "--no-progress")
    assert kept.returncode == 0, kept.stderr
    assert "hit rate 8w" in kept.stdout and "hit rate 4w" not in kept.stdout
    assert "kept as rule score 2" in kept.stderr  # the demo kept the first
    profile = load_profile(bundled_path("models"), "default", demo_copy.catalog)
    with Store(demo_copy.db_path) as store:
        (newest, *_) = store.rule_scores("BLR", profile.weights_hash)
    assert (newest["start"], newest["severity"], newest["horizons"]) == ("2020-06-01", 3, "8")
    for extra, message in ((["--record"], "--record goes with --score"),
                           (["--horizons", "0", "--score"], "1 to 104")):  # fmt: skip
        bad = _demo(work, "alerts", "replay", "--start", "2020-06-01", *extra)
        assert bad.returncode == 2 and message in bad.stderr
