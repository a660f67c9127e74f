"""The row-wise point-in-time panel builder as it was before issue 19 (a test reference).

`early_warning.panel` builds panels with array operations; this is the previous,
row-by-row builder, kept here only so that `test_panel_vectorised.py` can prove the
two give the same panels (ties of one period known on one day aside: see there).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from early_warning.catalog import Catalog, Indicator
from early_warning.panel import MISSING, OK, STALE, Panel, week_grid

_NO_OBS = -1
_FAR_FUTURE = dt.date(9999, 12, 31).toordinal()


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


class RowPanelBuilder:
    """The previous builder: rows applied one by one as they became known."""

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
    ) -> RowPanelBuilder:
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
