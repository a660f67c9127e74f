"""Analysts held to account: a forecast is made the day it is recorded, retrospective
entries are never scored or pooled, the pool weighs each forecaster by its record."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from early_warning import FixedClock, Store
from early_warning.forecast.analysts import (
    MIN_RESOLVED,
    NEW_SHARE,
    NEW_SHARES_AT_MOST,
    analyst_pool,
    pool_weight,
    retrospective,
    score_analysts,
    skill_pool,
)
from early_warning.forecast.targets import EventSet

from .conftest import run_cli

D = dt.date


def _row(analyst: str, made: str, recorded: str, p: float, weeks: int = 4, **kw: Any) -> dict:
    return {"analyst": analyst, "made_on": made, "recorded_at": f"{recorded}T10:00:00.000000Z",
            "horizon_weeks": weeks, "severity": 2, "probability": p, **kw}  # fmt: skip


# -- the pure rules ----------------------------------------------------------------------


def test_a_forecast_entered_later_than_its_day_is_retrospective() -> None:
    assert not retrospective(_row("a", "2021-02-25", "2021-02-25", 0.3))
    assert retrospective(_row("a", "2021-02-24", "2021-02-25", 0.3))


def test_weights_from_the_record() -> None:
    assert pool_weight(0.21, 8) == (
        0.21,
        "Brier skill +0.210 over 8 resolved forecasts: skill weight 0.21",
    )
    weight, words = pool_weight(-0.1, 8)
    assert weight == 0 and "no better than its base rate, no share by skill" in words
    weight, words = pool_weight(0.5, MIN_RESOLVED - 1)
    assert weight is None and "(fewer than 5): no scored record" in words
    weight, words = pool_weight(None, 9)
    assert weight is None and "all with the same outcome" in words


def _forecasts(*rows: tuple[str, float, float | None]) -> dict[str, Any]:
    return {"forecasts": [{"analyst": a, "probability": p, "skill_weight": w} for a, p, w in rows]}


def test_the_pool_shares_by_skill_and_gives_a_newcomer_a_small_fixed_share() -> None:
    analysts = _forecasts(("a", 0.6, 0.3), ("b", 0.2, 0.0), ("new", 0.9, None))
    pooled = skill_pool(0.1, 0.15, "backtest", analysts)
    # new: 5%; the other 95% by skill, ensemble 0.15 against a's 0.3; b (no skill) none.
    ensemble, a = 0.95 / 3, 0.95 * 2 / 3
    assert pooled["pool_weights"] == {
        "ensemble": pytest.approx(ensemble, abs=1e-6),
        "analysts": {"a": pytest.approx(a, abs=1e-6), "b": 0.0, "new": 0.05},
    }
    assert pooled["pooled_with_analysts"] == pytest.approx(
        ensemble * 0.1 + a * 0.6 + 0.05 * 0.9, abs=1e-6
    )
    assert [f["weight"] for f in analysts["forecasts"]] == [round(a, 6), 0.0, 0.05]
    assert (
        "0.317 x the ensemble + 0.633 x a's forecast + 0.05 x new's forecast"
        in (pooled["pool_rule"])
    )


def test_with_no_skill_shown_the_ensemble_keeps_the_rest_and_newcomers_a_quarter() -> None:
    nobody = skill_pool(0.1, None, "no backtest", _forecasts(("b", 0.2, 0.0)))
    assert nobody["pool_weights"] == {"ensemble": 1.0, "analysts": {"b": 0.0}}
    assert nobody["pooled_with_analysts"] == pytest.approx(0.1)
    assert (
        "nobody has shown skill, so the rest of the pool stays with it"
        in (nobody["ensemble_weight_basis"])
    )
    crowd = _forecasts(*((f"n{k}", 0.5, None) for k in range(10)))
    many = skill_pool(0.1, 0.2, "backtest", crowd)
    assert sum(many["pool_weights"]["analysts"].values()) == pytest.approx(NEW_SHARES_AT_MOST)
    assert many["pool_weights"]["ensemble"] == pytest.approx(1 - NEW_SHARES_AT_MOST)


def test_a_track_record_counts_only_what_had_resolved_and_was_known_by_then() -> None:
    events = EventSet(
        start=np.array([D(2020, 1, 20).toordinal(), D(2020, 6, 10).toordinal()]),
        known=np.array([D(2020, 1, 20).toordinal(), D(2020, 7, 1).toordinal()]),
        severity=np.array([2, 2]),
    )
    rows = [
        _row("a", "2020-01-05", "2020-01-05", 0.8),  # event 01-20: came true
        _row("a", "2020-03-01", "2020-03-01", 0.1),  # quiet
        _row("a", "2020-05-31", "2020-05-31", 0.7),  # event 06-10, known 07-01
        _row("a", "2020-01-05", "2020-02-01", 0.9),  # retrospective: never scored
    ]
    early = score_analysts(rows, events.known_by(D(2020, 6, 30).toordinal()), D(2020, 6, 30))
    assert (early["a"]["resolved"], early["a"]["came_true"]) == (3, 1)  # 06-10 not known yet
    later = score_analysts(rows, events, D(2020, 7, 31))
    assert (later["a"]["resolved"], later["a"]["came_true"]) == (3, 2)
    y, p = [1, 0, 1], [0.8, 0.1, 0.7]
    reference = 1 - brier_score_loss(y, p) / (np.mean(y) * (1 - np.mean(y)))
    assert later["a"]["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-6)
    assert later["a"]["brier_skill"] == pytest.approx(reference, abs=1e-6)
    assert later["a"]["skill_weight"] is None  # 3 resolved: fewer than 5


def test_the_week_s_forecasts_and_those_left_out_with_the_reason() -> None:
    rows = [
        _row("a", "2021-02-25", "2021-02-25", 0.4),
        _row("a", "2021-02-27", "2021-02-27", 0.5),  # a's latest counts
        _row("b", "2021-02-20", "2021-02-20", 0.9),  # 8 days before: another week
        _row("c", "2021-02-26", "2021-03-10", 0.01),  # entered after the as-of date
        _row("d", "2021-02-24", "2021-02-27", 0.7),  # entered three days late
        _row("e", "2021-02-26", "2021-02-26", 0.3, weeks=12),  # another horizon
    ]
    found = analyst_pool(rows, D(2021, 2, 28), 4, 2, {})
    assert [(f["analyst"], f["probability"]) for f in found["forecasts"]] == [("a", 0.5)]
    assert [(f["analyst"], f["reason"]) for f in found["not_pooled"]] == [
        ("c", "not known yet on 2021-02-28: entered on 2021-03-10"),
        ("d", "retrospective: entered on 2021-02-27 for 2021-02-24; never pooled"),
    ]


# -- the faces, on the demo database ---------------------------------------------------

AS_OF = "2021-02-28"


def _outcome(events: list[dict[str, Any]], made: dt.date, weeks: int) -> int:
    """An event of severity >= 2 in (made, made + weeks], dated to the day or month
    (a month counts from its first day): worked out here, apart from the code."""
    last = made + dt.timedelta(weeks=weeks)
    return int(
        any(
            e["severity"] >= 2
            and e["date_precision"] != "year"
            and made < D.fromisoformat(e["date"]) <= last
            for e in events
        )
    )


def _history(db: Path) -> dict[str, tuple[list[float], list[int]]]:
    """Two analysts forecasting every 4 weeks from 2019, each entry on its own day: ana
    calls the outcome well, dee backwards; then the week of 2021-02-28."""
    with Store(db) as store:
        events = store.events("BLR")
    record: dict[str, tuple[list[float], list[int]]] = {"ana": ([], []), "dee": ([], [])}
    day = D(2019, 1, 6)
    while day + dt.timedelta(weeks=12) <= D.fromisoformat(AS_OF):
        y = _outcome(events, day, 12)
        with Store(db, clock=FixedClock(f"{day}T09:00:00")) as store:
            for analyst, p in (("ana", 0.7 if y else 0.1), ("dee", 0.1 if y else 0.7)):
                store.add_analyst_forecast(
                    {"subject": "BLR", "analyst": analyst, "made_on": day.isoformat(),
                     "horizon_weeks": 12, "severity": 2, "probability": p, "note": ""}
                )  # fmt: skip
                record[analyst][0].append(p)
                record[analyst][1].append(y)
        day += dt.timedelta(weeks=4)
    this_week = [("2021-02-26", "ana", 0.4), ("2021-02-26", "cy", 0.2), ("2021-02-26", "dee", 0.9),
                 ("2021-03-10", "late", 0.01), ("2021-02-27", "retro", 0.8)]  # fmt: skip
    for entered, analyst, p in this_week:
        made = "2021-02-24" if analyst == "retro" else "2021-02-26"
        with Store(db, clock=FixedClock(f"{entered}T09:00:00")) as store:
            store.add_analyst_forecast(
                {"subject": "BLR", "analyst": analyst, "made_on": made, "horizon_weeks": 4,
                 "severity": 2, "probability": p, "note": ""}
            )  # fmt: skip
    return record


def _skill(p: list[float], y: list[int]) -> float:
    base = sum(y) / len(y)
    return 1 - brier_score_loss(y, p) / (base * (1 - base))


def test_forecast_weighs_each_analyst_by_their_record(demo, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    shutil.copy(demo.db_path, db)
    record = _history(db)
    ana = _skill(*record["ana"])
    assert ana > 0 > _skill(*record["dee"]) and len(record["ana"][0]) >= MIN_RESOLVED
    with Store(db) as store:
        ensemble = next(
            b for b in store.backtests("BLR", demo.report.data.profile.weights_hash)
            if b["model"] == "ensemble" and b["horizon_weeks"] == 4
        )  # fmt: skip

    def cli(*args: str) -> str:
        done = run_cli("--db", str(db), *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    (horizon,) = json.loads(cli("forecast", "--as-of", AS_OF, "--horizons", "4", "--json"))[
        "horizons"
    ]
    found = {f["analyst"]: f for f in horizon["analysts"]["forecasts"]}
    assert set(found) == {"ana", "cy", "dee"}
    assert found["ana"]["skill_weight"] == pytest.approx(ana, abs=1e-6)
    assert found["dee"]["skill_weight"] == 0 and found["cy"]["skill_weight"] is None
    # cy is new: a fixed 5%; the other 95% by skill between the ensemble and ana (dee,
    # worse than her base rate, has none).
    by_skill = {"ensemble": max(0.0, ensemble["brier_skill"]), "ana": ana}
    total = sum(by_skill.values())
    share = {k: (1 - NEW_SHARE) * w / total for k, w in by_skill.items()}
    expected = share["ensemble"] * horizon["probability"] + share["ana"] * 0.4 + NEW_SHARE * 0.2
    assert horizon["pooled_with_analysts"] == pytest.approx(expected, abs=1e-5)
    assert horizon["pool_weights"]["analysts"] == {
        "ana": pytest.approx(share["ana"], abs=1e-5), "cy": NEW_SHARE, "dee": 0.0,
    }  # fmt: skip
    assert {f["analyst"]: f["reason"] for f in horizon["analysts_not_pooled"]} == {
        "late": "not known yet on 2021-02-28: entered on 2021-03-10",
        "retro": "retrospective: entered on 2021-02-27 for 2021-02-24; never pooled",
    }
    text = " ".join(cli("forecast", "--as-of", AS_OF, "--horizons", "4").split())
    assert (
        f"ana: 40.0% made on 2021-02-26, weighs {share['ana']:.0%} (Brier skill {ana:+.3f}"
    ) in text
    assert "dee: 90.0% made on 2021-02-26, weighs 0% (Brier skill" in text
    assert "cy: 20.0% made on 2021-02-26, weighs 5% (0 resolved forecasts" in text
    assert "no scored record; a fixed share of 5%" in text
    assert f"pooled {100 * expected:.1f}%" in text
    assert "not pooled: late's 1.0% for the week of 2021-02-26: not known yet on 2021-02-28" in text
    backtest = cli("backtest", "--start", "2020-06-07", "--end", AS_OF, "--step", "26",
                   "--horizons", "4")  # fmt: skip
    lines = " ".join(backtest.split())
    resolved = len(record["ana"][0])
    assert (
        f"analyst ana: {resolved} resolved ({sum(record['ana'][1])} came true), Brier "
        f"{brier_score_loss(record['ana'][1], record['ana'][0]):.3f}, skill over their base "
        f"rate {ana:+.3f}"
    ) in lines
    assert "not scored: retro's 80.0% within 4 weeks of 2021-02-24: retrospective" in lines
    assert (
        "not scored: ana's 40.0% within 4 weeks of 2021-02-26: open: resolves on 2021-03-26"
        in lines
    )


def test_forecast_add_says_when_an_entry_is_retrospective(demo_copy) -> None:
    work = demo_copy.db_path.parent
    base = ("--db", str(demo_copy.db_path), "forecast", "add", "--analyst", "ana",
            "--probability", "0.3", "--weeks", "4")  # fmt: skip
    today = run_cli(*base, cwd=work)
    assert today.returncode == 0 and "retrospective" not in today.stdout
    late = run_cli(*base, "--made-on", "2021-02-20", cwd=work)
    assert late.returncode == 0
    assert f"retrospective: entered on {dt.datetime.now(dt.UTC).date()} for 2021-02-20" in (
        late.stdout
    )
    assert "never scored by `backtest` nor pooled by `forecast`" in late.stdout
