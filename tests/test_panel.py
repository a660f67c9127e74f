import datetime as dt
import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from early_warning import Store, ingest
from early_warning.catalog import Catalog
from early_warning.panel import MISSING, OK, STALE, PanelBuilder, week_grid
from early_warning.services import load_panel

from .conftest import HEADER, write_csv

D = dt.date


def _load(store: Store, catalog: Catalog, tmp_path: Path, *rows: str) -> None:
    ingest(store, catalog, write_csv(tmp_path / f"p{len(rows)}.csv", *rows))


def test_week_grid_is_sundays() -> None:
    grid = week_grid(D(2024, 1, 3), D(2024, 1, 31))
    days = [dt.date.fromordinal(int(x)) for x in grid]
    assert days == [D(2024, 1, 7), D(2024, 1, 14), D(2024, 1, 21), D(2024, 1, 28)]
    assert all(day.weekday() == 6 for day in days)


def test_a_state_holds_past_its_maximum_age_marked_stale_never_dropped(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    # troops: max_age 180 days; the value describes 2020-03 (ends 2020-03-31).
    _load(store, catalog, tmp_path, "troops,2020-03,1000,,,,2020-04-01,,,,")
    panel = load_panel(store, catalog, "BLR", D(2021, 1, 3), start=D(2020, 1, 1))
    j = panel.column("troops")
    before = panel.row_of(D(2020, 2, 23))
    fresh = panel.row_of(D(2020, 9, 27))  # 180 days after 2020-03-31
    old = panel.row_of(D(2020, 10, 4))
    assert panel.status[before, j] == MISSING
    assert panel.status[fresh, j] == OK and panel.values[fresh, j] == 1000
    # Past its maximum age a state stays the value used (its weight does not move to
    # the rest of its family in one step): marked stale, and its uncertainty widens.
    assert panel.status[old, j] == STALE and panel.values[old, j] == 1000
    assert panel.age_days[old, j] == (D(2020, 10, 4) - D(2020, 3, 31)).days
    assert panel.excess_age[fresh, j] == 0
    later = panel.row_of(D(2021, 1, 3))
    assert 0 < panel.excess_age[old, j] < panel.excess_age[later, j]


def test_events_decay_smoothly_and_count_the_events_within_their_maximum_age(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    # incidents: half-life 14 days, max age 90 days.
    _load(store, catalog, tmp_path, "incidents,2020-01-05,4,,,,2020-01-05,,,,")
    panel = load_panel(store, catalog, "BLR", D(2020, 6, 28), start=D(2019, 12, 1))
    j = panel.column("incidents")
    assert panel.values[panel.row_of(D(2020, 1, 5)), j] == 4
    assert panel.values[panel.row_of(D(2020, 1, 19)), j] == pytest.approx(2.0)
    assert panel.values[panel.row_of(D(2020, 2, 2)), j] == pytest.approx(1.0)
    assert panel.events[panel.row_of(D(2020, 2, 2)), j] == 1
    # 119 days on: no longer counted, but the decay goes on (no step at the maximum age)
    late = panel.row_of(D(2020, 5, 3))
    assert panel.status[late, j] == OK and panel.events[late, j] == 0
    assert panel.values[late, j] == pytest.approx(4 * 2 ** (-119 / 14))
    assert panel.status[panel.row_of(D(2019, 12, 29)), j] == MISSING  # before the event


def test_an_interval_holds_from_start_to_end_the_largest_in_progress_counts(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    # Two exercises overlap in the week ending 2021-09-19; a third after a gap.
    rows = (
        "exercise,2021-09-10,8000,,a,,2021-08-01,,,,,2021-09-16",
        "exercise,2021-09-15,14000,,b,,2021-08-01,,,,,2021-09-25",
        "exercise,2021-11-02,3000,,c,,2021-11-02,,,,,",  # no end: its day
    )
    ingest(store, catalog, write_csv(tmp_path / "x.csv", *rows, header=HEADER + ",end"))
    panel = load_panel(store, catalog, "BLR", D(2022, 1, 2), start=D(2021, 8, 1))
    j = panel.column("exercise")

    def on(day: dt.date) -> float:
        return float(panel.values[panel.row_of(day), j])

    assert panel.status[panel.row_of(D(2021, 9, 5)), j] == MISSING  # none seen yet
    assert on(D(2021, 9, 12)) == 8000
    assert on(D(2021, 9, 19)) == 14000  # the largest in progress, never a sum
    assert on(D(2021, 9, 26)) == 14000  # 14,000 ran to 25 September
    assert on(D(2021, 10, 3)) == 0  # none in progress: a value, not a gap
    assert on(D(2021, 11, 7)) == 3000  # a one-day exercise counts in its week
    assert on(D(2021, 11, 14)) == 0


def test_point_in_time_sees_only_what_was_published(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _load(store, catalog, tmp_path, "support_share,2018,10,,a,,2019-04-01,,,,")
    _load(
        store,
        catalog,
        tmp_path,
        "support_share,2018,12,,a,,2019-10-01,,,,",
        "troops,2019,1,,,,,,,,",
    )
    j = 0
    pit = load_panel(store, catalog, "BLR", D(2019, 6, 30), point_in_time=True)
    assert pit.values[-1, j] == 10  # the first estimate: the revision was not public yet
    now = load_panel(store, catalog, "BLR", D(2019, 6, 30))
    assert now.values[-1, j] == 12  # best current knowledge, as of the same week
    early = load_panel(store, catalog, "BLR", D(2019, 3, 31), point_in_time=True)
    assert early.status[-1, j] == MISSING


def test_an_as_of_date_between_sundays_gets_its_own_row(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _load(store, catalog, tmp_path, "troops,2020-03-11,700,,,,2020-03-11,,,,")
    panel = load_panel(
        store, catalog, "BLR", D(2020, 3, 11), point_in_time=True, start=D(2020, 1, 1)
    )
    assert panel.date(panel.n_weeks - 1) == D(2020, 3, 11)
    assert panel.values[-1, panel.column("troops")] == 700
    assert panel.status[-2, panel.column("troops")] == MISSING  # the Sunday before


def _random_observations(rng: random.Random, catalog: Catalog, n: int) -> list[dict]:
    rows = []
    for k in range(n):
        ind = rng.choice(list(catalog.indicators.values()))
        start = D(2015, 1, 1) + dt.timedelta(days=rng.randrange(0, 2000))
        length = rng.choice([0, 6, 30, 364])
        low, high = ind.value_range
        value = float(rng.randint(int(low), int(min(high, 20))))
        known = start + dt.timedelta(days=length + rng.randrange(0, 400))
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


@pytest.mark.parametrize("seed", range(5))
def test_incremental_panels_equal_panels_built_from_scratch(catalog: Catalog, seed: int) -> None:
    rng = random.Random(seed)
    rows = _random_observations(rng, catalog, 120)
    start, end = D(2015, 1, 1), D(2021, 12, 31)
    incremental = PanelBuilder(catalog, "BLR", rows, start, end)
    days = sorted(D(2015, 6, 1) + dt.timedelta(days=rng.randrange(0, 2300)) for _ in range(12))
    days.append(days[3])  # going back in time must rebuild, not reuse later knowledge
    for day in days:
        for pit in (True, False):
            a = incremental.panel(day, point_in_time=pit)
            b = PanelBuilder(catalog, "BLR", rows, start, end).panel(day, point_in_time=pit)
            for name in ("raw", "age_days"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
            np.testing.assert_array_equal(a.status, b.status)
            np.testing.assert_array_equal(a.obs_id, b.obs_id)
            np.testing.assert_array_equal(a.dates, b.dates)


def test_an_interval_in_progress_ages_from_its_start_so_it_cannot_stay_current_for_ever(
    catalog: Catalog,
) -> None:
    # Before, a running interval was 0 days old every week: an end typed years ahead
    # (ingest now refuses an interval over a year) kept its red line current for ever.
    row = {"id": 1, "indicator": "exercise", "period_start": "2021-01-03",
           "period_end": "2023-12-31", "value": 30000.0, "known_from": "2021-01-03"}  # fmt: skip
    end = D(2022, 6, 26)
    panel = PanelBuilder(catalog, "BLR", [row], D(2021, 1, 3), end).panel(end)
    j = panel.column("exercise")
    assert panel.age_days[panel.row_of(D(2021, 1, 10)), j] == 7
    assert panel.status[panel.row_of(D(2021, 6, 27)), j] == OK
    assert panel.values[-1, j] == 30000 and panel.status[-1, j] == STALE  # 539 days in


def test_each_panel_owns_its_arrays_nothing_written_into_one_reaches_another(
    catalog: Catalog,
) -> None:
    # A panel's fields share one block of memory, never the builder's or another
    # panel's: a caller that writes into one cannot move the next.
    rows = _random_observations(random.Random(2), catalog, 80)
    start, end = D(2015, 1, 1), D(2021, 12, 31)
    builder = PanelBuilder(catalog, "BLR", rows, start, end)
    days = (D(2019, 5, 1), D(2019, 5, 5), D(2019, 5, 8))  # Wednesday, Sunday, Wednesday
    panels = [builder.panel(day, point_in_time=True) for day in days]
    fields = ("raw", "age_days", "status", "obs_id", "events")
    for a, b in itertools.pairwise(panels):
        assert not any(
            np.shares_memory(getattr(a, x), getattr(b, y)) for x in fields for y in fields
        )
    for name in fields:
        getattr(panels[1], name)[...] = 7
    again = builder.panel(days[2], point_in_time=True)
    fresh = PanelBuilder(catalog, "BLR", rows, start, end).panel(days[2], point_in_time=True)
    for name in fields:
        np.testing.assert_array_equal(getattr(again, name), getattr(fresh, name))
        np.testing.assert_array_equal(getattr(panels[2], name), getattr(fresh, name))
