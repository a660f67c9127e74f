"""The alert engine: signals, the state machine, check, replay, acknowledge, evidence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from early_warning import Store
from early_warning.alerts import (
    AlertEngine,
    MailSettings,
    Notifier,
    RuleState,
    Signal,
    acknowledge,
    list_alerts,
    load_rules,
    render_alert,
    signals,
    walk,
)
from early_warning.alerts.engine import run_lengths
from early_warning.alerts.rules import Rule
from early_warning.catalog import Catalog
from early_warning.ingest import Limits, ingest
from early_warning.scoring import parse_profile

from .conftest import write_csv

RULES = """
rules:
  - id: troops_in
    kind: red_line
    severity: red
    description: Foreign troops moved in.
    all: [{indicator: troops, op: ">", value: 3000}]
    cooldown_weeks: 4
    citation: {source: testpub2019, section: Military}
  - id: troops_stay
    kind: red_line
    severity: red
    description: Troops did not leave after the exercise.
    all: [{indicator: withdrawn, op: "==", value: false}]
    citation: {source: testpub2019, section: Military}
  - id: support_stale
    kind: staleness
    severity: watch
    description: Support share out of date.
    indicators: [support_share]
"""


def _rules(tmp_path: Path, catalog: Catalog, text: str = RULES) -> list[Rule]:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return load_rules(path, catalog)


def _profile(catalog: Catalog):
    return parse_profile(
        {"name": "test", "min_family_coverage": 0.0, "min_total_coverage": 0.0}, catalog
    )


def _engine(store: Store, catalog: Catalog, tmp_path: Path, **kw) -> AlertEngine:
    return AlertEngine(store, catalog, _profile(catalog), _rules(tmp_path, catalog), **kw)


def _weekly(store: Store, catalog: Catalog, tmp_path: Path, name: str, rows: list[str]) -> None:
    path = write_csv(tmp_path / f"{name}.csv", *rows)
    result = ingest(store, catalog, path, default_subject="BLR", limits=Limits())
    assert result.rows_rejected == 0, result


def _troops(store: Store, catalog: Catalog, tmp_path: Path, by_week: dict[int, int]) -> None:
    # Each weekly figure is published on the Monday after its week.
    rows = [
        f"troops,2024-W{week:02d},{n},BLR,MoD,bulletin {week},{sunday(week) + ONE_DAY},B,2,persons,"
        for week, n in by_week.items()
    ]
    _weekly(store, catalog, tmp_path, "troops", rows)


ONE_DAY = dt.timedelta(days=1)


def sunday(week: int) -> dt.date:
    return dt.date.fromisocalendar(2024, week, 7)


# -- pure parts ------------------------------------------------------------------------


def test_run_lengths_count_consecutive_weeks() -> None:
    assert run_lengths(np.array([1, 1, 0, 1, 1, 1], bool)).tolist() == [1, 2, 0, 1, 2, 3]


def _threshold_rule(**kw) -> Rule:
    base = dict(id="high", kind="threshold", severity="amber", description="High.",
                level=60.0, hysteresis=10.0, min_weeks=2, cooldown_weeks=0)  # fmt: skip
    return Rule(**{**base, **kw})


def _walk(rule: Rule, series: list[float]) -> list[tuple[int, str]]:
    values = np.array(series, dtype=float)
    active = ~np.isnan(values) & (values >= rule.level)
    clear = ~np.isnan(values) & (values < rule.level - rule.hysteresis)
    signal = Signal(values, active, clear, run_lengths(active), rule.level, "")
    dates = np.arange(len(series)) * 7 + dt.date(2024, 1, 7).toordinal()
    state = RuleState(rule.id, "BLR")
    return [(t.row, t.kind) for t in walk(rule, signal, dates, state, range(len(series)))]


def test_hysteresis_and_minimum_weeks_give_one_alert_per_crossing() -> None:
    series = [50, 61, 62, 58, 52, 61, 49, 61, 62, 63]
    # fires when 60+ held two weeks (row 2); dips to 58, 52 and back to 61 stay one
    # crossing (not below 60 - 10); 49 re-arms; 61, 62 fire again.
    assert _walk(_threshold_rule(), series) == [(2, "fire"), (6, "resolve"), (8, "fire")]
    assert _walk(_threshold_rule(min_weeks=1), [61, 59, 61]) == [(0, "fire")]
    assert _walk(_threshold_rule(hysteresis=0, min_weeks=1), [61, 59, 61]) == [
        (0, "fire"), (1, "resolve"), (2, "fire"),
    ]  # fmt: skip


def test_a_gap_in_the_data_neither_fires_nor_resolves() -> None:
    nan = float("nan")
    assert _walk(_threshold_rule(min_weeks=1), [61, nan, nan, 61]) == [(0, "fire")]
    assert _walk(_threshold_rule(min_weeks=2), [61, nan, 61, nan]) == []


def test_cool_down_suppresses_a_quick_second_crossing() -> None:
    series = [61, 40, 61, 40, 40, 40, 61]
    rule = _threshold_rule(min_weeks=1, cooldown_weeks=4)
    assert _walk(rule, series) == [(0, "fire"), (1, "resolve"), (6, "fire")]


def test_robust_rule_needs_the_probability_under_weight_uncertainty(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {w: 40000 for w in range(1, 6)})
    engine = _engine(store, catalog, tmp_path)
    results = engine.results("BLR", sunday(5))
    rule = _threshold_rule(level=10.0, min_weeks=1, robust=0.9, target="score")
    n = results.panel.n_weeks
    sure, unsure = np.ones(n), np.full(n, 0.5)
    assert signals([rule], results, exceedance={10.0: sure})["high"].active.any()
    assert not signals([rule], results, exceedance={10.0: unsure})["high"].active.any()
    with pytest.raises(ValueError, match="robust needs the exceedance"):
        signals([rule], results)


def test_robust_rule_runs_the_monte_carlo(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    _troops(store, catalog, tmp_path, {w: 40000 for w in range(1, 6)})
    text = RULES + (
        "  - {id: score_robust, kind: threshold, severity: amber, description: High.,"
        " target: score, op: '>=', level: 1, robust: 0.5}\n"
    )
    engine = AlertEngine(store, catalog, _profile(catalog), _rules(tmp_path, catalog, text))
    found = engine.replay("BLR", sunday(1), sunday(5))
    assert "score_robust" in {a.rule for a in found}


# -- check ----------------------------------------------------------------------------


def test_a_red_line_fires_once_per_crossing_and_resolves(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    weeks = {w: 200 for w in range(1, 10)} | {w: 5000 for w in range(10, 14)}
    weeks |= {w: 100 for w in range(14, 16)} | {w: 6000 for w in range(16, 18)}
    _troops(store, catalog, tmp_path, weeks)
    engine = _engine(store, catalog, tmp_path)
    assert engine.check("BLR", sunday(9)).fired == []
    first = engine.check("BLR", sunday(10))
    assert [a.rule for a in first.fired] == ["troops_in"]
    assert first.fired[0].week == "2024-W10" and first.fired[0].value == 5000
    for week in (10, 11, 12, 13):  # repeated and later checks add nothing
        assert engine.check("BLR", sunday(week)).fired == []
    assert engine.check("BLR", sunday(14)).resolved == ["troops_in"]
    # Back over the line after the cool-down (4 weeks from W10): a new crossing, a new alert.
    again = engine.check("BLR", sunday(17))
    assert [(a.rule, a.week) for a in again.fired] == [("troops_in", "2024-W16")]
    states = {a.week: a.state for a in list_alerts(store, subject="BLR")}
    assert states == {"2024-W10": "resolved", "2024-W16": "firing"}


def test_a_check_after_a_gap_walks_every_week_in_between(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    weeks = {w: 200 for w in range(1, 5)} | {5: 5000, 6: 5000, 7: 100, 8: 100}
    _troops(store, catalog, tmp_path, weeks)
    engine = _engine(store, catalog, tmp_path)
    engine.check("BLR", sunday(2))
    late = engine.check("BLR", sunday(8))  # the daemon was down for six weeks
    assert [a.week for a in late.fired] == ["2024-W05"]
    assert late.resolved == ["troops_in"]
    # W02 was still open at the Sunday check (its day was not over): judged again.
    assert late.weeks_evaluated[0] == "2024-W02" and late.weeks_evaluated[-1] == "2024-W08"


def test_a_mid_week_check_fires_at_once_and_the_week_end_does_not_repeat_it(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {1: 200, 2: 200, 3: 200})
    _weekly(store, catalog, tmp_path, "monday",
            ["troops,2024-01-22,8000,BLR,MoD,flash,,B,2,persons,"])  # fmt: skip
    engine = _engine(store, catalog, tmp_path)
    engine.check("BLR", sunday(3))
    wednesday = engine.check("BLR", dt.date(2024, 1, 24))
    assert [a.rule for a in wednesday.fired] == ["troops_in"]
    assert engine.check("BLR", sunday(4)).fired == []
    assert len(list_alerts(store)) == 1


def test_dry_run_records_nothing(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    _troops(store, catalog, tmp_path, {1: 200, 2: 5000})
    engine = _engine(store, catalog, tmp_path)
    dry = engine.check("BLR", sunday(2), dry_run=True)
    assert [a.rule for a in dry.fired] == ["troops_in"]
    assert store.count("alerts") == 0 and store.count("alert_state") == 0
    assert [a.rule for a in engine.check("BLR", sunday(2)).fired] == ["troops_in"]


def test_acknowledged_alerts_stay_quiet_until_the_condition_clears(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {1: 5000, 2: 5000, 3: 5000, 4: 100})
    engine = _engine(store, catalog, tmp_path)
    (alert,) = engine.check("BLR", sunday(1)).fired
    note = "<script>alert(1)</script>\r\nBcc: x@example.org"
    acked = acknowledge(store, alert.id, note, by="duty")
    assert acked.state == "acknowledged" and acked.evidence["ack_note"] == note
    assert engine.check("BLR", sunday(3)).fired == []
    assert engine.load_states("BLR")["troops_in"].state == "acknowledged"
    assert engine.check("BLR", sunday(4)).resolved == ["troops_in"]
    assert list_alerts(store)[0].state == "resolved"


def test_an_alert_carries_value_threshold_evidence_and_citations(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {1: 200, 2: 5000})
    engine = _engine(store, catalog, tmp_path)
    (alert,) = engine.check("BLR", sunday(2)).fired
    record = alert.to_dict()
    assert {"rule", "severity", "subject", "as_of", "value", "threshold", "message"} <= set(record)
    assert (record["value"], record["threshold"], record["severity"]) == (5000, 3000, "red")
    (observation,) = alert.evidence["observations"]
    assert observation["source"] == "MoD" and observation["grade"] == "B2"
    assert observation["citation"] == "bulletin 2"
    assert any("A test publication" in c and "Military" in c for c in record["citations"])
    assert "did not hold for the week of 2024-01-07 and holds now" in record["changed"]


def test_staleness_fires_when_a_key_indicator_ages_out(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _weekly(store, catalog, tmp_path, "support",
            ["support_share,2021,12.5,BLR,IMF,WEO,,A,2,% of GDP,"])  # fmt: skip
    engine = _engine(store, catalog, tmp_path)
    fired = engine.check("BLR", dt.date(2024, 3, 3)).fired
    assert [a.rule for a in fired] == ["support_stale"]
    assert "Support share" in fired[0].evidence["drivers"][0]["reason"]


def test_a_forecast_threshold_uses_stored_ensemble_probabilities(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {w: 200 for w in range(1, 6)})
    store.record_forecasts(
        [{"subject": "BLR", "as_of": sunday(w).isoformat(), "horizon_weeks": 4, "severity": 2,
          "model": "ensemble", "probability": p} for w, p in ((3, 0.1), (4, 0.45))]
    )  # fmt: skip
    text = RULES + (
        "  - {id: forecast_high, kind: threshold, severity: amber, description: Likely.,"
        " target: 'forecast:4', op: '>=', level: 0.4}\n"
    )
    engine = AlertEngine(store, catalog, _profile(catalog), _rules(tmp_path, catalog, text))
    assert [(a.rule, a.week) for a in engine.replay("BLR", sunday(1), sunday(5))] == [
        ("forecast_high", "2024-W04")
    ]


# -- replay ---------------------------------------------------------------------------


def test_replay_lists_what_would_have_fired_and_writes_nothing(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    weeks = {w: 200 for w in range(1, 4)} | {4: 5000, 5: 5000, 6: 100, 7: 9000, 8: 100}
    _troops(store, catalog, tmp_path, weeks)
    engine = _engine(store, catalog, tmp_path)  # cool-down 4 weeks: W07 is too soon
    found = engine.replay("BLR", sunday(1), sunday(12))
    assert [(a.rule, a.week, a.state) for a in found] == [("troops_in", "2024-W04", "resolved")]
    assert store.count("alerts") == 0 and store.count("alert_state") == 0
    found = AlertEngine(
        store, catalog, _profile(catalog),
        _rules(tmp_path, catalog, RULES.replace("cooldown_weeks: 4", "cooldown_weeks: 0")),
    ).replay("BLR", sunday(1), sunday(12))  # fmt: skip
    assert [a.week for a in found] == ["2024-W04", "2024-W07"]


def test_point_in_time_replay_fires_when_the_news_arrived(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {w: 200 for w in range(1, 9)})
    _weekly(store, catalog, tmp_path, "late",
            ["troops,2024-W03,7000,BLR,MoD,late report,2024-02-14,B,2,persons,"])  # fmt: skip
    engine = _engine(store, catalog, tmp_path)
    now = engine.replay("BLR", sunday(1), sunday(8))
    known = engine.replay("BLR", sunday(1), sunday(8), point_in_time=True)
    assert [a.week for a in now] == ["2024-W03"]  # hindsight: the week it happened
    assert known == []  # when it became known, W03 was long superseded by later weeks
    _weekly(store, catalog, tmp_path, "lasting",
            ["troops,2024-W09,7000,BLR,MoD,late again,2024-03-20,B,2,persons,"])  # fmt: skip
    known = engine.replay("BLR", sunday(1), sunday(13), point_in_time=True)
    assert [a.week for a in known] == ["2024-W12"]  # published on Wednesday of W12


# -- delivery -------------------------------------------------------------------------


def test_recipients_add_up_by_severity() -> None:
    settings = MailSettings(recipients={"watch": ("w@x.org",), "amber": ("a@x.org",),
                                        "red": ("r@x.org", "w@x.org")})  # fmt: skip
    assert settings.recipients_for("watch") == ["w@x.org"]
    assert settings.recipients_for("amber") == ["w@x.org", "a@x.org"]
    assert settings.recipients_for("red") == ["w@x.org", "a@x.org", "r@x.org"]


def test_an_alert_is_queued_with_its_record_and_hostile_text_is_escaped(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    hostile = RULES.replace(
        "Foreign troops moved in.", "'<img src=x onerror=alert(1)> moved in & stayed'"
    )
    _troops(store, catalog, tmp_path, {1: 200, 2: 5000})
    settings = MailSettings(recipients={"red": ("duty@example.org",)}, outbox_dir=tmp_path / "o")
    notifier = Notifier(store, settings)
    engine = AlertEngine(
        store, catalog, _profile(catalog), _rules(tmp_path, catalog, hostile), sink=notifier
    )
    (alert,) = engine.check("BLR", sunday(2)).fired
    (row,) = store.db.query("SELECT outbox_id FROM alerts")
    assert row["outbox_id"] and store.count("outbox") == 1
    subject, text, html = render_alert(alert)
    assert subject == "[RED] troops_in: BLR, week 2024-W02; warning level RED"
    assert "<img src=x onerror=alert(1)>" in text
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "5,000 persons" in text and "3,000" in text and "A test publication" in text
    assert notifier.flush()["sent"] == 1
    assert len(list((tmp_path / "o").glob("*.eml"))) == 1


def test_an_alert_nobody_was_subscribed_to_is_mailed_once_someone_is(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {1: 200, 2: 5000, 3: 5000})
    nobody = Notifier(store, MailSettings(outbox_dir=tmp_path / "o"))
    first = _engine(store, catalog, tmp_path, sink=nobody).check("BLR", sunday(2))
    assert [a.rule for a in first.undelivered] == ["troops_in"]
    assert store.count("alerts") == 1 and store.count("outbox") == 0
    assert list_alerts(store)[0].evidence["delivery"].startswith("not mailed")
    # The next check, with a recipient configured, queues it (once).
    desk = Notifier(store, MailSettings(recipients={"red": ("duty@example.org",)},
                                        outbox_dir=tmp_path / "o"))  # fmt: skip
    later = _engine(store, catalog, tmp_path, sink=desk).check("BLR", sunday(3))
    assert later.fired == [] and later.undelivered == []
    assert store.count("outbox") == 1
    _engine(store, catalog, tmp_path, sink=desk).check("BLR", sunday(3))
    assert store.count("outbox") == 1
    assert desk.flush()["sent"] == 1
    assert list_alerts(store)[0].evidence["delivery"] == "sent"


def test_a_staleness_rule_can_count_indicators_never_observed(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _troops(store, catalog, tmp_path, {1: 200, 2: 200})
    text = RULES.replace(
        "indicators: [support_share]", "indicators: [support_share]\n    missing: true"
    )
    engine = AlertEngine(store, catalog, _profile(catalog), _rules(tmp_path, catalog, text))
    (alert,) = engine.check("BLR", sunday(2)).fired
    assert alert.rule == "support_stale" and "never observed" in alert.condition
    assert _engine(store, catalog, tmp_path).check("BLR", sunday(2)).fired == []


def test_acknowledging_twice_keeps_the_first_note(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    from early_warning import InputError

    _troops(store, catalog, tmp_path, {1: 5000})
    (alert,) = _engine(store, catalog, tmp_path).check("BLR", sunday(1)).fired
    acknowledge(store, alert.id, "called the desk officer", by="duty")
    with pytest.raises(InputError, match="already acknowledged by duty"):
        acknowledge(store, alert.id, "second thoughts", by="other")
    assert list_alerts(store)[0].evidence["ack_note"] == "called the desk officer"


def test_a_red_line_on_stale_evidence_lapses_with_a_notice_of_why(
    catalog: Catalog, tmp_path: Path
) -> None:
    # Issue 16: a red line of 2019 was still carried as firing in 2026 on evidence that
    # `score` itself called stale. Now it lapses, and says since when.
    from early_warning.clock import FixedClock

    with Store(tmp_path / "lapse.db", clock=FixedClock("2025-03-01T12:00:00")) as store:
        store.sync_catalog(catalog)
        _troops(store, catalog, tmp_path, {2: 5000})  # troops: stale 180 days after 14 Jan
        engine = _engine(store, catalog, tmp_path)
        assert [a.rule for a in engine.check("BLR", sunday(3)).fired] == ["troops_in"]
        later = engine.check("BLR", dt.date(2024, 8, 4))
        assert "troops_in" in later.resolved and not later.active
        (alert,) = list_alerts(store)
    assert alert.state == "resolved"
    assert alert.evidence["resolution"] == (
        "lapsed: the evidence is stale since 2024-07-13 (the condition is not known to hold)"
    )
    # The week's level: watch while the lapse is recent, then only named (not for ever).
    from early_warning.services import assess_week

    rules, profile = _rules(tmp_path, catalog), _profile(catalog)
    with Store(tmp_path / "lapse.db", clock=FixedClock("2025-03-01T12:00:00")) as store:
        soon = assess_week(store, catalog, profile, rules, "BLR", dt.date(2024, 8, 4))
        late = assess_week(store, catalog, profile, rules, "BLR", dt.date(2025, 2, 2))
    assert soon.lapsed == ("troops_in",) and soon.level != "red"  # lapsed: not red
    assert late.lapsed == () and any("too long ago to raise" in r for r in late.reasons)
