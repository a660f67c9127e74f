"""The array-built panel equals the previous row-by-row builder (`panel_reference`).

Random observations of every lifetime (state, release, interval, event), revisions,
announced values (known before their period begins) and late arrivals; random as-of
dates, Sundays and mid-week days, point in time or not, in ascending order (the
incremental use of backtests and replays) and back in time. Every field is compared
exactly except an event's decayed sum, whose floating-point summation order differs
(relative 1e-12).

Two revisions of one period that became known on the same day are a tie the old
builder broke differently on Sundays (the larger end, then value) and on a mid-week
row (the later recorded); the array builder takes the later recorded everywhere
(`test_a_tie_on_one_known_day_goes_to_the_later_recorded_revision`). Likewise the
latest of two events on one day was the later known on Sundays and the later recorded
mid-week; now the later known (then recorded) everywhere. The random data here have
neither tie.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from early_warning.catalog import Catalog
from early_warning.panel import Panel, PanelBuilder

from .panel_reference import RowPanelBuilder

D = dt.date
START, END = D(2015, 1, 1), D(2021, 12, 31)


def _observations(rng: random.Random, catalog: Catalog, n: int) -> list[dict]:
    rows, seen = [], set()
    indicators = list(catalog.indicators.values())
    for k in range(n):
        ind = rng.choice(indicators)
        start = START + dt.timedelta(days=rng.randrange(0, 2300))
        if rows and rng.random() < 0.2:  # a revision of an earlier period
            prior = rng.choice(rows)
            ind = catalog.indicators[prior["indicator"]]
            start = D.fromisoformat(prior["period_start"])
        length = rng.choice([0, 6, 30, 364])
        low, high = ind.value_range
        value = float(rng.randint(int(low), int(min(high, 20))))
        # mostly known soon after the period, sometimes announced before it begins
        known = start + dt.timedelta(days=rng.randrange(-40, 400))
        tie = (ind.id, start) if ind.lifetime == "event" else (ind.id, start, known)
        if tie in seen:
            continue
        seen.add(tie)
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


def _assert_same(new: Panel, old: Panel, events: np.ndarray) -> None:
    np.testing.assert_array_equal(new.dates, old.dates)
    np.testing.assert_array_equal(new.status, old.status)
    np.testing.assert_array_equal(new.obs_id, old.obs_id)
    np.testing.assert_array_equal(new.events, old.events)
    np.testing.assert_array_equal(new.age_days, old.age_days)
    np.testing.assert_array_equal(new.raw[:, ~events], old.raw[:, ~events])
    np.testing.assert_allclose(new.raw[:, events], old.raw[:, events], rtol=1e-12)
    assert new.as_of == old.as_of and new.point_in_time == old.point_in_time


@pytest.mark.parametrize("seed", range(4))
def test_array_panels_equal_the_row_builder_on_any_day(catalog: Catalog, seed: int) -> None:
    rng = random.Random(seed)
    rows = _observations(rng, catalog, 160)
    events = np.array([ind.lifetime == "event" for ind in catalog])
    new = PanelBuilder(catalog, "BLR", rows, START, END)
    old = RowPanelBuilder(catalog, "BLR", rows, START, END)
    days = sorted(START + dt.timedelta(days=rng.randrange(0, 2700)) for _ in range(14))
    assert any(day.weekday() != 6 for day in days)  # mid-week dates are in
    weekly = [days[6] + dt.timedelta(days=k) for k in (3, 7, 14, 17)]  # a backtest's steps
    days += [*weekly, days[4], days[0] + dt.timedelta(days=1), END + dt.timedelta(days=40)]
    for day in days:
        for pit in (True, False):
            panel = new.panel(day, point_in_time=pit)
            _assert_same(panel, old.panel(day, point_in_time=pit), events)
            # the rows kept from the panel before change nothing, to the last bit
            fresh = PanelBuilder(catalog, "BLR", rows, START, END).panel(day, point_in_time=pit)
            for name in ("raw", "age_days", "obs_id", "events", "status"):
                np.testing.assert_array_equal(getattr(panel, name), getattr(fresh, name))


def test_a_tie_on_one_known_day_goes_to_the_later_recorded_revision(catalog: Catalog) -> None:
    # Two figures for March, both public on 1 April: the one recorded later (the larger
    # id) is the revision, whatever its value or end, on a Sunday and mid-week alike.
    rows = [
        {"id": 1, "indicator": "troops", "period_start": "2020-03-01",
         "period_end": "2020-03-31", "value": 900.0, "known_from": "2020-04-01"},
        {"id": 2, "indicator": "troops", "period_start": "2020-03-01",
         "period_end": "2020-03-30", "value": 700.0, "known_from": "2020-04-01"},
    ]  # fmt: skip
    builder = PanelBuilder(catalog, "BLR", rows, D(2020, 3, 1), D(2020, 6, 30))
    for day in (D(2020, 4, 5), D(2020, 4, 8)):
        panel = builder.panel(day, point_in_time=True)
        j = panel.column("troops")
        assert panel.raw[-1, j] == 700 and panel.obs_id[-1, j] == 2


def test_a_long_run_not_yet_published_and_mid_week_events_equal_the_row_builder(
    catalog: Catalog,
) -> None:
    # Weekly troop figures published half a year late: on any day the latest periods
    # are a run of dozens not yet known, far more than the few entries the lookup steps
    # back over before it searches; incidents start and leave their 90-day count on
    # most weekdays, so each mid-week row adds and drops some after its Sunday (never
    # two on one day: that tie is the test above's).
    rng, rows, first = random.Random(11), [], D(2019, 1, 6)

    def add(indicator: str, start: D, days: int, value: float, late: int) -> None:
        rows.append({"id": len(rows) + 1, "indicator": indicator, "value": value,
                     "period_start": start.isoformat(),
                     "period_end": (start + dt.timedelta(days=days)).isoformat(),
                     "known_from": (start + dt.timedelta(days=late)).isoformat()})  # fmt: skip

    for week in range(60):
        start = first + dt.timedelta(weeks=week)
        add("troops", start, 6, 1000.0 + week, 3 if week % 9 == 0 else 190)
        for day in rng.sample(range(7), 3):
            when = start + dt.timedelta(days=day)
            add("incidents", when, 0, float(rng.randint(1, 9)), rng.randrange(0, 9))
    end = D(2020, 6, 28)
    events = np.array([ind.lifetime == "event" for ind in catalog])
    new = PanelBuilder(catalog, "BLR", rows, first, end)
    old = RowPanelBuilder(catalog, "BLR", rows, first, end)
    days = [D(2019, 9, 1) + dt.timedelta(days=k) for k in range(9)]  # Sunday to Monday
    for day in [*days, D(2020, 3, 4), D(2019, 9, 4), D(2019, 1, 8)]:
        for pit in (True, False):
            panel = new.panel(day, point_in_time=pit)
            _assert_same(panel, old.panel(day, point_in_time=pit), events)
    assert (panel.obs_id[:, panel.column("troops")] >= 0).any()  # some were known
