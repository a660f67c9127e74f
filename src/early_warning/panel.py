"""The point-in-time weekly panel: indicators x weeks, from the observations.

Rows are dates on a weekly grid (Sundays) plus, when the as-of date is not a Sunday,
the as-of date itself, so that a score "as of Wednesday" sees Monday's news. Columns
are the catalog's indicators. Each cell holds what the indicator's lifetime says
(catalog `lifetime`, docs/scoring.md "How a value lives"):

  * state, release: the value of the observation with the latest period that had
    started by the row date, carried forward until the next one. Older than the
    indicator's `stale_after_days` it is *stale*: still the value used (it does not
    drop out and move its weight to the rest of its family in one step), marked, and
    its uncertainty widens with age (`scoring`'s age band);
  * interval: the largest value whose interval (period start to `end`) overlaps the
    week ending on the row date; 0 ("none in progress") in weeks between intervals once
    one has begun; stale when the last one ended longer than `stale_after_days` ago;
  * event: the sum of the magnitudes of the events up to the row date, each decayed
    with the indicator's half-life (a smooth decay, never a cut-off), beside the count
    of events within `max_age_days` (`events`), so that it reads as recent activity.

A cell with no value yet (nothing observed, no event, no interval begun) is *missing*,
never a silent zero.

"As known on D" (`point_in_time=True`) uses only observations with `known_from <= D`;
otherwise every observation in the store counts (the best current knowledge).

`PanelBuilder` loads a subject's observations once and builds panels for many as-of
dates incrementally: moving the knowledge cut-off forward only applies the observations
that became known in between, which is what backtests with hundreds of origins need.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .catalog import Catalog, Indicator

__all__ = ["MISSING", "OK", "STALE", "Panel", "PanelBuilder", "week_grid"]

OK, STALE, MISSING = 0, 1, 2
_NO_OBS = -1
_FAR_FUTURE = dt.date(9999, 12, 31).toordinal()


def week_grid(start: dt.date, end: dt.date) -> np.ndarray:
    """Sundays from the week of `start` to the last Sunday on or before `end` [ordinal days]."""
    first = start + dt.timedelta(days=6 - start.weekday())
    last = end - dt.timedelta(days=(end.weekday() + 1) % 7)
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(first.toordinal(), last.toordinal() + 1, 7, dtype=np.int64)


@dataclass
class Panel:
    """Indicator values on the weekly grid, with their age, status and provenance."""

    subject: str
    as_of: dt.date
    point_in_time: bool
    dates: np.ndarray  # row dates [ordinal days]
    indicators: list[str]
    raw: np.ndarray  # the value carried forward, stale or not (NaN: never observed)
    age_days: np.ndarray  # days since the period the value describes ended (NaN: none)
    status: np.ndarray  # OK, STALE or MISSING
    obs_id: np.ndarray  # observation (or latest event) behind the cell, -1: none
    events: np.ndarray | None = None  # event columns: events within max age; else 0
    stale_after: np.ndarray | None = None  # per indicator [days]
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {ind: j for j, ind in enumerate(self.indicators)}
        if self.events is None:
            self.events = np.zeros(self.raw.shape, dtype=np.int32)

    @property
    def values(self) -> np.ndarray:
        """The values the score uses: current and stale ones (NaN where missing)."""
        return np.where(self.status == MISSING, np.nan, self.raw)

    @property
    def excess_age(self) -> np.ndarray:
        """How far past its stale age each cell is, in multiples of that age (0 while
        current; NaN where missing): what widens a stale value's uncertainty."""
        if self.stale_after is None:
            return np.where(self.status == STALE, 1.0, np.where(self.status == OK, 0.0, np.nan))
        excess = (self.age_days - self.stale_after) / self.stale_after
        return np.where(self.status == MISSING, np.nan, np.maximum(excess, 0.0))

    @property
    def n_weeks(self) -> int:
        return len(self.dates)

    def column(self, indicator: str) -> int:
        return self._index[indicator]

    def date(self, row: int) -> dt.date:
        return dt.date.fromordinal(int(self.dates[row]))

    def row_of(self, day: dt.date) -> int:
        """The last row on or before `day` (-1 if none)."""
        return int(np.searchsorted(self.dates, day.toordinal(), side="right")) - 1

    def to_frame(self) -> Any:
        import pandas as pd

        index = pd.to_datetime([self.date(r) for r in range(self.n_weeks)])
        return pd.DataFrame(self.values, index=index, columns=self.indicators)


_Row = tuple[int, int, int, float, int]  # (known, start, end, value, id)
_WEEK = 7  # an interval counts in a row when it overlaps the 7 days ending on it


class _Series:
    """One indicator's observations, in the order they became known."""

    def __init__(self, ind: Indicator, rows: Sequence[_Row]) -> None:
        self.indicator = ind
        self.lifetime = ind.lifetime
        self.is_event = ind.lifetime == "event"
        self.max_age = ind.max_age_days
        self.stale_after = ind.stale_after_days
        self.half_life = ind.half_life_days or 0.0
        # rows: (known, start, end, value, id), sorted by known then id
        self.rows = sorted(rows)
        self.known = np.array([r[0] for r in self.rows], dtype=np.int64)
        self.arrived = 0
        self.starts: list[int] = []  # starts of arrived observations, sorted
        self.intervals: dict[int, _Row] = {}  # interval lifetime: latest known per start


class PanelBuilder:
    """Builds panels for one subject for any number of as-of dates.

    >>> builder = PanelBuilder.from_rows(catalog, "BLR", rows, None, None, today=today)
    >>> for day in origins:                      # ascending dates: incremental
    ...     panel = builder.panel(day, point_in_time=True)
    """

    def __init__(
        self,
        catalog: Catalog,
        subject: str,
        observations: Iterable[dict[str, Any]],
        start: dt.date,
        end: dt.date,
    ) -> None:
        self.catalog = catalog
        self.subject = subject
        self.indicators = [ind.id for ind in catalog]
        grouped: dict[str, list[_Row]] = {i: [] for i in self.indicators}
        for row in observations:
            if row["indicator"] in grouped:
                grouped[row["indicator"]].append(
                    (
                        _ordinal(row["known_from"]),
                        _ordinal(row["period_start"]),
                        _ordinal(row["period_end"]),
                        float(row["value"]),
                        int(row["id"]),
                    )
                )
        self.series = [_Series(catalog.indicators[i], grouped[i]) for i in self.indicators]
        self.start = start
        self.grid = week_grid(start, end)
        self.end = end
        self._reset()

    @classmethod
    def from_rows(
        cls,
        catalog: Catalog,
        subject: str,
        rows: Sequence[dict[str, Any]],
        start: dt.date | None,
        end: dt.date | None,
        *,
        today: dt.date,
    ) -> PanelBuilder:
        """A builder over every revision of a subject's observations (`id`, `indicator`,
        `period_start`, `period_end`, `value`, `known_from`), from its first period (or
        `today` when there is none) to `end` (default `today`)."""
        if start is None:
            first = min((r["period_start"] for r in rows), default=None)
            start = dt.date.fromisoformat(first) if first else today
        return cls(catalog, subject, rows, start, end or today)

    # -- incremental state ------------------------------------------------------------

    def _reset(self) -> None:
        shape = (len(self.grid), len(self.series))
        self._value = np.full(shape, np.nan)
        self._end = np.full(shape, np.nan)  # period end of the chosen obs, or latest event
        self._id = np.full(shape, _NO_OBS, dtype=np.int64)
        self._covered = np.zeros(shape, dtype=np.int32)  # events within max age
        self._cutoff = -1
        for s in self.series:
            s.arrived = 0
            s.starts = []
            s.intervals = {}

    def _advance(self, cutoff: int) -> None:
        """Apply every observation known by `cutoff` that is not applied yet."""
        if cutoff < self._cutoff:
            self._reset()
        for j, s in enumerate(self.series):
            upto = int(np.searchsorted(s.known, cutoff, side="right"))
            for k in range(s.arrived, upto):
                if s.is_event:
                    self._apply_event(j, s, s.rows[k])
                elif s.lifetime == "interval":
                    s.intervals[s.rows[k][1]] = s.rows[k]  # the latest known rules
                else:
                    self._apply_level(j, s, s.rows[k])
            if s.lifetime == "interval" and upto > s.arrived:
                self._fill_intervals(j, s)
            s.arrived = upto
        self._cutoff = cutoff

    def _apply_level(self, j: int, s: _Series, row: _Row) -> None:
        _, start, end, value, oid = row
        # The newcomer is the latest-known of its start, so it rules from its start
        # until the next later-starting observation already known.
        position = bisect.bisect_right(s.starts, start)
        next_start = s.starts[position] if position < len(s.starts) else _FAR_FUTURE
        bisect.insort(s.starts, start)
        lo = int(np.searchsorted(self.grid, start, side="left"))
        hi = int(np.searchsorted(self.grid, next_start, side="left"))
        if lo < hi:
            self._value[lo:hi, j] = value
            self._end[lo:hi, j] = end
            self._id[lo:hi, j] = oid

    def _apply_event(self, j: int, s: _Series, row: _Row) -> None:
        _, start, _end, magnitude, oid = row
        lo = int(np.searchsorted(self.grid, start, side="left"))
        if lo >= len(self.grid):
            return
        # The decay runs on for good (no cut-off at the maximum age, which would drop
        # the event's remainder in one step); the count covers the maximum age.
        ages = (self.grid[lo:] - start).astype(float)
        decayed = magnitude * np.exp2(-ages / s.half_life)
        column = self._value[lo:, j]
        self._value[lo:, j] = np.where(np.isnan(column), decayed, column + decayed)
        counted = int(np.searchsorted(self.grid, start + s.max_age, side="right"))
        self._covered[lo:counted, j] += 1
        newer = np.isnan(self._end[lo:, j]) | (self._end[lo:, j] <= start)
        self._end[lo:, j] = np.where(newer, start, self._end[lo:, j])
        self._id[lo:, j] = np.where(newer, oid, self._id[lo:, j])

    def _fill_intervals(self, j: int, s: _Series) -> None:
        """Recompute an interval column from the latest-known interval of each start."""
        value, end, ids = _interval_cells(self.grid, list(s.intervals.values()))
        self._value[:, j], self._end[:, j], self._id[:, j] = value, end, ids

    # -- panels -------------------------------------------------------------------------

    def panel(self, as_of: dt.date, *, point_in_time: bool = False) -> Panel:
        """The panel for all weeks up to `as_of`, as known on `as_of` (or now)."""
        day = as_of.toordinal()
        if as_of > self.end:
            self._extend(as_of)
        self._advance(day if point_in_time else _FAR_FUTURE)
        rows = int(np.searchsorted(self.grid, day, side="right"))
        dates = self.grid[:rows]
        value, end = self._value[:rows], self._end[:rows]
        ids, covered = self._id[:rows], self._covered[:rows]
        if not len(dates) or dates[-1] != day:
            point = self._point_row(day, day if point_in_time else _FAR_FUTURE)
            dates = np.append(dates, day)
            value = np.vstack([value, point[0]])
            end = np.vstack([end, point[1]])
            ids = np.vstack([ids, point[2]])
            covered = np.vstack([covered, point[3]])
        return self._finish(as_of, point_in_time, dates, value, end, ids, covered)

    def _extend(self, as_of: dt.date) -> None:
        start = dt.date.fromordinal(int(self.grid[0])) if len(self.grid) else self.start
        self.grid = week_grid(start, as_of)
        self.end = as_of
        self._reset()

    def _point_row(self, day: int, cutoff: int) -> tuple[np.ndarray, ...]:
        """One row computed directly (for an as-of date between two Sundays)."""
        n = len(self.series)
        value, end = np.full(n, np.nan), np.full(n, np.nan)
        ids, covered = np.full(n, _NO_OBS, dtype=np.int64), np.zeros(n, dtype=np.int32)
        for j, s in enumerate(self.series):
            known = [r for r in s.rows if r[0] <= cutoff and r[1] <= day]
            if not known:
                continue
            if s.is_event:
                value[j] = sum(r[3] * 2.0 ** (-(day - r[1]) / s.half_life) for r in known)
                latest = max(known, key=lambda r: (r[1], r[4]))
                end[j], ids[j] = latest[1], latest[4]
                covered[j] = sum(1 for r in known if day - r[1] <= s.max_age)
            elif s.lifetime == "interval":
                latest_of: dict[int, _Row] = {}
                for r in sorted(known):  # known order: the latest known of a start rules
                    latest_of[r[1]] = r
                cells = _interval_cells(np.array([day]), list(latest_of.values()))
                value[j], end[j], ids[j] = cells[0][0], cells[1][0], cells[2][0]
            else:
                chosen = max(known, key=lambda r: (r[1], r[0], r[4]))
                value[j], end[j], ids[j] = chosen[3], chosen[2], chosen[4]
        return value, end, ids, covered

    def _finish(
        self,
        as_of: dt.date,
        point_in_time: bool,
        dates: np.ndarray,
        value: np.ndarray,
        end: np.ndarray,
        ids: np.ndarray,
        covered: np.ndarray,
    ) -> Panel:
        age = np.maximum(dates[:, None] - end, 0.0)
        stale_after = np.array([s.stale_after for s in self.series], dtype=float)
        is_event = np.array([s.is_event for s in self.series])
        seen = ~np.isnan(value)
        status = np.full(value.shape, MISSING, dtype=np.int8)
        status[seen] = OK
        # An event's decayed sum is current by construction: it is never stale.
        status[seen & ~is_event & (age > stale_after)] = STALE
        return Panel(
            subject=self.subject,
            as_of=as_of,
            point_in_time=point_in_time,
            dates=dates.copy(),
            indicators=list(self.indicators),
            raw=value.copy(),
            age_days=np.where(np.isnan(end), np.nan, age),
            status=status,
            obs_id=ids.copy(),
            events=np.where(is_event, covered, 0).astype(np.int32),
            stale_after=stale_after,
        )


def _interval_cells(
    days: np.ndarray, intervals: Sequence[_Row]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, end and observation of an interval indicator on each row date.

    A row sees the intervals that overlap the week ending on it (its date and the six
    days before) and takes the largest; from the first start on, a row that sees none
    reads 0 (none in progress) and points at the interval that ended last.
    """
    n = len(days)
    value, end = np.full(n, np.nan), np.full(n, np.nan)
    ids = np.full(n, _NO_OBS, dtype=np.int64)
    if not intervals:
        return value, end, ids
    first = min(r[1] for r in intervals)
    value[days >= first] = 0.0
    for _, _start, stop, _, oid in sorted(intervals, key=lambda r: (r[2], r[4])):
        after = days > stop + _WEEK - 1  # ascending ends: the last to end wins
        end[after], ids[after] = stop, oid
    for _, start, stop, size, oid in sorted(intervals, key=lambda r: (r[3], r[4])):
        during = (days >= start) & (days - (_WEEK - 1) <= stop)  # ascending sizes: max wins
        # In progress, its age counts from its start: an interval that never ends (an
        # end mistyped years ahead) grows stale like any value, and its red line lapses.
        value[during], end[during], ids[during] = size, start, oid
    return value, end, ids


def _ordinal(text: str) -> int:
    return dt.date.fromisoformat(text[:10]).toordinal()
