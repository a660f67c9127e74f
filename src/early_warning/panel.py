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

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .catalog import Catalog, Indicator

__all__ = ["MISSING", "OK", "STALE", "Observations", "Panel", "PanelBuilder", "week_grid"]

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


_WEEK = 7  # an interval counts in a row when it overlaps the 7 days ending on it
_KEY = 1 << 42  # indicator j's observations have the sort keys j * _KEY + period start
_NOTHING = -(1 << 41)  # the start of each indicator's first entry, "nothing known yet"
_ALWAYS = np.iinfo(np.int64).min  # known from: that entry is known at every cut-off
_STEPS_BACK = 4  # entries `_chosen` steps back over before it searches the known ones
_BLOCK = 32  # rows per block of the decay recurrence (see `_decay_sum`)
_MAX_EXPONENT = 900.0  # the largest power of 2 a block scales by (floats end at 2**1023)


@dataclass(frozen=True)
class Observations:
    """A subject's observations as columns: the catalog position of the indicator
    (`column`), the observation id, and its period start, period end and known-from
    date as ordinal days."""

    column: np.ndarray
    ids: np.ndarray
    start: np.ndarray
    end: np.ndarray
    known: np.ndarray
    value: np.ndarray

    @classmethod
    def from_rows(cls, indicators: Sequence[str], rows: Iterable[dict[str, Any]]) -> Observations:
        """From mappings (`id`, `indicator`, `period_start`, `period_end`, `value`,
        `known_from`), dates as ISO text; indicators not in `indicators` are left out."""
        where = {name: j for j, name in enumerate(indicators)}
        kept = [r for r in rows if r["indicator"] in where]
        return cls(
            np.array([where[r["indicator"]] for r in kept], dtype=np.int64),
            np.array([int(r["id"]) for r in kept], dtype=np.int64),
            _ordinals([r["period_start"] for r in kept]),
            _ordinals([r["period_end"] for r in kept]),
            _ordinals([r["known_from"] for r in kept]),
            np.array([float(r["value"]) for r in kept], dtype=float),
        )

    @classmethod
    def from_julian(
        cls, indicators: Sequence[str], rows: Sequence[tuple[str, int, float, float, float, float]]
    ) -> Observations:
        """From `(indicator, id, start, end, known, value)` tuples, the dates as Julian
        day numbers (what `Store.observation_days` returns; a time of day is dropped)."""
        where = {name: j for j, name in enumerate(indicators)}
        kept = [r for r in rows if r[0] in where]
        if not kept:
            return cls.from_rows(indicators, [])
        names, ids, start, end, known, value = zip(*kept, strict=True)
        return cls(
            np.array([where[n] for n in names], dtype=np.int64),
            np.array(ids, dtype=np.int64),
            *(_from_julian(days) for days in (start, end, known)),
            np.array(value, dtype=float),
        )


@dataclass(frozen=True)
class _Rows:
    """Cells of the weekly grid (and, for event columns, what their sums carry over)."""

    value: np.ndarray
    ids: np.ndarray
    age: np.ndarray
    status: np.ndarray
    covered: np.ndarray
    sums: np.ndarray  # event columns: the decayed sums (0 before the first event)
    begun: np.ndarray  # event columns: events begun by the row date
    gone: np.ndarray  # event columns: events older than the maximum age

    @classmethod
    def empty(cls, rows: int, m: int, ne: int) -> _Rows:
        shape, events = (rows, m), (rows, ne)
        return cls(
            np.empty(shape), np.empty(shape, dtype=np.int64), np.empty(shape),
            np.empty(shape, dtype=np.int8), np.zeros(shape, dtype=np.int32), np.empty(events),
            np.empty(events, dtype=np.int64), np.empty(events, dtype=np.int64),
        )  # fmt: skip


# the widest first: each field's start in the shared block stays aligned
_CELL_TYPES = (("value", np.float64), ("ids", np.int64), ("age", np.float64))
_CELL_TYPES += (("covered", np.int32), ("status", np.int8))
_CELL_BYTES = sum(np.dtype(kind).itemsize for _, kind in _CELL_TYPES)


@dataclass(frozen=True)
class _Cells:
    """What a panel holds, one array per field, each the panel's own.

    The five arrays share one allocation: freed one by one, five arrays of a few
    hundred kilobytes each made the C allocator hand the memory back to the system
    after every panel and fault it in again for the next (a backtest's panels spent a
    quarter of their time in the kernel); one block the size of a panel is kept for
    the next one. Any field keeps the whole block alive."""

    value: np.ndarray
    ids: np.ndarray
    age: np.ndarray
    covered: np.ndarray
    status: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> _Cells:
        cells = shape[0] * shape[1]
        block, at, fields = np.empty(cells * _CELL_BYTES, dtype=np.uint8), 0, {}
        for name, kind in _CELL_TYPES:
            size = cells * np.dtype(kind).itemsize
            fields[name] = block[at : at + size].view(kind).reshape(shape)
            at += size
        return cls(**fields)


class PanelBuilder:
    """Builds panels for one subject for any number of as-of dates, with array operations.

    Every observation sits in one table sorted by indicator, period start, known-from
    date and id, each indicator's block opened by an entry that means "nothing yet".
    The cell of week w and indicator j, as known on D, is the last entry of j's block
    with a start on or before w that was known by D. Events and intervals take their
    values from their own array passes. Any as-of date, Sunday or not, point in time or
    not, goes through the same path.

    The Sunday rows of the last panel are kept: the next panel recomputes only the rows
    from the earliest period start among the observations known by one cut-off and not
    the other (for ascending as-of dates, the last few weeks), so a backtest's hundreds
    of point-in-time panels cost little more than copying them out. The result does not
    depend on what was built before (the decay recurrence restarts on fixed blocks).

    >>> builder = PanelBuilder.from_rows(catalog, "BLR", rows, None, None, today=today)
    >>> for day in origins:
    ...     panel = builder.panel(day, point_in_time=True)
    """

    def __init__(
        self,
        catalog: Catalog,
        subject: str,
        observations: Iterable[dict[str, Any]] | Observations,
        start: dt.date,
        end: dt.date,
    ) -> None:
        self.catalog = catalog
        self.subject = subject
        self.indicators = [ind.id for ind in catalog]
        if not isinstance(observations, Observations):
            observations = Observations.from_rows(self.indicators, observations)
        inds = [catalog.indicators[i] for i in self.indicators]
        self._intervals_at = [j for j, ind in enumerate(inds) if ind.lifetime == "interval"]
        self._stale_after = np.array([ind.stale_after_days for ind in inds], dtype=float)
        self._is_event = np.array([ind.lifetime == "event" for ind in inds])
        self._table(observations)
        self._events = _EventColumns(self, inds)
        self.start = start
        self.end = end
        self._known_cut: tuple[int, np.ndarray] | None = None
        self._set_grid(week_grid(start, end))

    @classmethod
    def from_rows(
        cls,
        catalog: Catalog,
        subject: str,
        rows: Sequence[dict[str, Any]] | Observations,
        start: dt.date | None,
        end: dt.date | None,
        *,
        today: dt.date,
    ) -> PanelBuilder:
        """A builder over every revision of a subject's observations (mappings with `id`,
        `indicator`, `period_start`, `period_end`, `value`, `known_from`, or
        `Observations`), from its first period (or `today` when there is none) to `end`
        (default `today`)."""
        if start is None:
            if isinstance(rows, Observations):
                first = dt.date.fromordinal(int(rows.start.min())) if len(rows.start) else None
            else:
                text = min((r["period_start"] for r in rows), default=None)
                first = dt.date.fromisoformat(text[:10]) if text else None
            start = first or today
        return cls(catalog, subject, rows, start, end or today)

    # -- the table ----------------------------------------------------------------------

    def _table(self, obs: Observations) -> None:
        m = len(self.indicators)
        blocks = np.arange(m, dtype=np.int64)
        column = np.concatenate([obs.column, blocks])
        start = np.concatenate([obs.start, np.full(m, _NOTHING, dtype=np.int64)])
        known = np.concatenate([obs.known, np.full(m, _ALWAYS, dtype=np.int64)])
        ids = np.concatenate([obs.ids, np.full(m, _NO_OBS, dtype=np.int64)])
        order = np.lexsort((ids, known, start, column))
        self._column, self._start = column[order], start[order]
        self._key = self._column * _KEY + self._start
        self._known, self._id = known[order], ids[order]
        self._value = np.concatenate([obs.value, np.full(m, np.nan)])[order]
        self._stop = np.concatenate([obs.end.astype(float), np.full(m, np.nan)])[order]
        # An event's cell dates from the latest event itself, not from a period's end.
        self._end = np.where(self._is_event[self._column], self._start, self._stop)
        self._end[self._start == _NOTHING] = np.nan
        self._offset = np.searchsorted(self._key, blocks * _KEY + _NOTHING)
        self._block_keys = blocks * _KEY
        self._by_known = np.argsort(self._known, kind="stable")
        self._known_sorted = self._known[self._by_known]

    def _set_grid(self, grid: np.ndarray) -> None:
        self.grid = grid
        self._grid_at = self._at(grid)
        self._events.set_grid(grid)
        # The Sunday rows of the panel built last, in the builder's own arrays (a panel
        # gets copies): rows before `_valid` hold as known by `_valid_cutoff`.
        self._rows = _Rows.empty(len(grid), len(self.indicators), len(self._events.columns))
        self._valid, self._valid_cutoff = 0, 0

    def _at(self, days: np.ndarray) -> np.ndarray:
        """For each day and indicator, the table position of the last entry starting on
        or before the day (its block's opening entry when none does)."""
        wanted = self._block_keys[None, :] + days[:, None]
        return np.searchsorted(self._key, wanted, side="right") - 1

    def _chosen(self, at: np.ndarray, cutoff: int) -> np.ndarray:
        """The last entry at or before each position `at` that was known by `cutoff`
        (every block opens with an entry known at every cut-off).

        Most positions are known already, and a late one is a few entries after the
        one it falls back to (the periods not yet published): stepping back a few
        times over the late ones alone costs less than listing the table's entries
        known by the cut-off, which is left for what is still late after that."""
        chosen = at.copy()
        flat = chosen.reshape(-1)
        late = np.flatnonzero(self._known[flat] > cutoff)
        for _ in range(_STEPS_BACK):
            if not len(late):
                return chosen
            flat[late] -= 1
            late = late[self._known[flat[late]] > cutoff]
        if self._known_cut is None or self._known_cut[0] != cutoff:
            self._known_cut = (cutoff, np.flatnonzero(self._known <= cutoff))
        known = self._known_cut[1]
        flat[late] = known[np.searchsorted(known, flat[late], side="right") - 1]
        return chosen

    # -- panels -------------------------------------------------------------------------

    def panel(self, as_of: dt.date, *, point_in_time: bool = False) -> Panel:
        """The panel for all weeks up to `as_of`, as known on `as_of` (or now)."""
        day = as_of.toordinal()
        if as_of > self.end:
            first = dt.date.fromordinal(int(self.grid[0])) if len(self.grid) else self.start
            self.end = as_of
            self._set_grid(week_grid(first, as_of))
        cutoff = day if point_in_time else _FAR_FUTURE
        n = int(np.searchsorted(self.grid, day, side="right"))
        extra = int(not n or self.grid[n - 1] != day)  # an as-of date between two Sundays
        out = self._cells(n, cutoff, day if extra else None)
        dates = np.append(self.grid[:n], [day] * extra)
        return Panel(
            subject=self.subject,
            as_of=as_of,
            point_in_time=point_in_time,
            dates=dates,
            indicators=list(self.indicators),
            raw=out.value,
            age_days=out.age,
            status=out.status,
            obs_id=out.ids,
            events=out.covered,
            stale_after=self._stale_after.copy(),
        )

    def _cells(self, n: int, cutoff: int, day: int | None) -> _Cells:
        """The panel's arrays: `n` Sunday rows, then the as-of day's own row when it is
        not a Sunday. The Sunday rows the last panel got right are copied as they were;
        the others and the day's row are computed in one pass (the day is one more row
        date: the same lookup, intervals and status; its events decay from the Sunday
        before it)."""
        kept = self._reusable(n, cutoff)
        rows, new = self._rows, slice(kept, n)
        dates, at = self.grid[new], self._grid_at[new]
        if day is not None:
            dates, at = np.append(dates, day), np.concatenate([at, self._at(np.array([day]))])
        chosen = self._chosen(at, cutoff)
        value, end, ids = self._value[chosen], self._end[chosen], self._id[chosen]
        covered = np.zeros(value.shape, dtype=np.int32)
        self._event_cells(kept, n, cutoff, day, value, covered)
        for j in self._intervals_at:
            value[:, j], end[:, j], ids[:, j] = _interval_cells(dates, self._intervals(j, cutoff))
        age, status = self._status(dates, value, end)
        computed = {"value": value, "ids": ids, "age": age, "status": status, "covered": covered}
        out = _Cells.empty((n + (day is not None), len(self.indicators)))
        for name, cells in computed.items():
            builder, panel = getattr(rows, name), getattr(out, name)
            builder[new] = cells[: n - kept]  # the Sunday rows, for the next panel
            panel[:kept], panel[kept:] = builder[:kept], cells
        self._valid, self._valid_cutoff = n, cutoff
        return out

    def _event_cells(
        self,
        kept: int,
        n: int,
        cutoff: int,
        day: int | None,
        value: np.ndarray,
        covered: np.ndarray,
    ) -> None:
        """The event columns of the computed rows (Sunday rows `kept` to `n`, then the
        day's row), in place; the Sunday rows' sums and counts are kept for the next."""
        rows, new, ev = self._rows, slice(kept, n), self._events.columns
        if not len(ev):
            return
        carry = (rows.sums[kept - 1], rows.begun[kept - 1], rows.gone[kept - 1]) if kept else None
        sums, begun, gone = self._events.rows(kept, n, cutoff, carry)
        rows.sums[new], rows.begun[new], rows.gone[new] = sums, begun, gone
        k = n - kept
        value[:k, ev] = np.where(begun > 0, sums, np.nan)  # no event begun: missing
        covered[:k, ev] = begun - gone
        if day is not None:
            last = (rows.sums[n - 1], rows.begun[n - 1], rows.gone[n - 1]) if n else None
            sunday = int(self.grid[n - 1]) if n else None
            row_sum, begun_day, within = self._events.day(day, n, cutoff, last, sunday)
            value[k, ev] = np.where(begun_day > 0, row_sum, np.nan)
            covered[k, ev] = within

    def _reusable(self, n: int, cutoff: int) -> int:
        """How many leading Sunday rows of the last panel hold for `cutoff`, on a block
        boundary of the decay recurrence."""
        lo, hi = sorted((self._valid_cutoff, cutoff))
        a = int(np.searchsorted(self._known_sorted, lo, side="right"))
        b = int(np.searchsorted(self._known_sorted, hi, side="right"))
        rows = min(self._valid, n)
        if b > a:
            first = int(self._start[self._by_known[a:b]].min())
            rows = min(rows, int(np.searchsorted(self.grid, first, side="left")))
        return rows - rows % _BLOCK

    def _status(
        self, dates: np.ndarray, value: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        age = np.maximum(dates[:, None] - end, 0.0)  # NaN where there is no value
        seen = ~np.isnan(value)
        status = np.full(value.shape, MISSING, dtype=np.int8)
        status[seen] = OK
        # An event's decayed sum is current by construction: it is never stale.
        status[seen & ~self._is_event & (age > self._stale_after)] = STALE
        return age, status

    def _intervals(self, j: int, cutoff: int) -> np.ndarray:
        """(start, end, size, id) of indicator j's intervals known by `cutoff`: per
        start the latest known (then the later recorded) rules."""
        hi = self._offset[j + 1] if j + 1 < len(self._offset) else None
        block = slice(self._offset[j] + 1, hi)
        known = self._known[block] <= cutoff
        start = self._start[block][known]
        last = np.append(start[1:] != start[:-1], True) if len(start) else known[:0]
        picked = [self._stop, self._value, self._id]
        columns = [start[last]] + [a[block][known][last] for a in picked]
        return np.stack([c.astype(float) for c in columns], axis=1)


class _EventColumns:
    """The event indicators' decayed sums and counts, for all their events at once.

    Each event is put on the first row date on or after it, decayed to that date; a
    row's sum is the row before decayed by one week plus what arrived in the week (a
    first-order recurrence, run in blocks). The count is the events begun by the row
    date minus those older than the maximum age.
    """

    def __init__(self, builder: PanelBuilder, inds: Sequence[Indicator]) -> None:
        self.columns = np.flatnonzero(builder._is_event)
        where = np.full(len(inds), -1)
        where[self.columns] = np.arange(len(self.columns))
        real = builder._start != _NOTHING
        rows = np.flatnonzero(builder._is_event[builder._column] & real)
        self.which = where[builder._column[rows]]  # event column of each event
        self.start = builder._start[rows]
        self.known = builder._known[rows]
        self.size = builder._value[rows]
        picked = [inds[j] for j in self.columns]
        self.half_life = np.array([ind.half_life_days or 1.0 for ind in picked], dtype=float)
        self.max_age = np.array([ind.max_age_days for ind in picked], dtype=np.int64)
        self.expires = self.start + self.max_age[self.which]  # the last day it counts
        self.decay = _Decay.of(np.exp2(-_WEEK / self.half_life))
        self.slot = self.out = np.empty(0, dtype=np.int64)
        self.weight = np.empty(0)

    def set_grid(self, grid: np.ndarray) -> None:
        if not len(self.columns):
            return
        self.slot = np.searchsorted(grid, self.start, side="left")
        # counted while the row date is at most start + maximum age
        self.out = np.searchsorted(grid, self.expires, side="right")
        # the events put on each row and those leaving the count on it, in table order
        # (what a day between two Sundays adds to the Sunday before it)
        rows = np.arange(len(grid) + 2)
        self.by_slot = np.argsort(self.slot, kind="stable")
        self.slot_at = np.searchsorted(self.slot[self.by_slot], rows)
        self.by_out = np.argsort(self.out, kind="stable")
        self.out_at = np.searchsorted(self.out[self.by_out], rows)
        if len(grid):
            on = np.minimum(self.slot, len(grid) - 1)
            decay = np.exp2(-(grid[on] - self.start) / self.half_life[self.which])
            self.weight = self.size * decay

    def rows(
        self, lo: int, n: int, cutoff: int, carry: tuple[np.ndarray, ...] | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sums, begun and gone counts of Sunday rows `lo` to `n`, from row `lo - 1`'s."""
        k, ne = max(n - lo, 0), len(self.columns)
        if not ne or not k:
            return np.zeros((k, ne)), np.zeros((k, ne), np.int64), np.zeros((k, ne), np.int64)
        # only the events put on these rows and those leaving the count on them, each
        # lot in table order (the order the sums add them in, as over all events)
        arrive = self.by_slot[self.slot_at[lo] : self.slot_at[n]]
        arrive = arrive[self.known[arrive] <= cutoff]
        flat = (self.slot[arrive] - lo) * ne + self.which[arrive]
        arrived = np.bincount(flat, weights=self.weight[arrive], minlength=k * ne)
        sums = _decay_sum(arrived.reshape(k, ne), self.decay, carry[0] if carry else None)
        begun = np.bincount(flat, minlength=k * ne).reshape(k, ne).cumsum(axis=0)
        leave = self.by_out[self.out_at[lo] : self.out_at[n]]
        leave = leave[self.known[leave] <= cutoff]
        flat = (self.out[leave] - lo) * ne + self.which[leave]
        gone = np.bincount(flat, minlength=k * ne).reshape(k, ne).cumsum(axis=0)
        if carry:
            begun, gone = begun + carry[1], gone + carry[2]
        return sums, begun, gone

    def day(
        self, day: int, n: int, cutoff: int, last: tuple[np.ndarray, ...] | None, sunday: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sum, begun count and count within the maximum age on a day after the
        Sunday `sunday` (row `n - 1`), from that Sunday's sum and counts (`last`): only
        the events that row `n` would take (begun after that Sunday) and those that
        leave the count on it are looked at."""
        ne = len(self.columns)
        new = self.by_slot[self.slot_at[n] : self.slot_at[n + 1]]
        new = new[(self.known[new] <= cutoff) & (self.start[new] <= day)]
        out = self.by_out[self.out_at[n] : self.out_at[n + 1]]
        out = out[(self.known[out] <= cutoff) & (self.expires[out] < day)]
        before, count, gone = np.zeros(ne), np.zeros(ne, dtype=np.int64), 0
        if last is not None and sunday is not None:
            before = last[0] * np.exp2(-(day - sunday) / self.half_life)
            count, gone = last[1], last[2]
        which = self.which[new]
        decayed = self.size[new] * np.exp2(-(day - self.start[new]) / self.half_life[which])
        row_sum = before + np.bincount(which, weights=decayed, minlength=ne)
        begun = count + np.bincount(which, minlength=ne)
        return row_sum, begun, begun - gone - np.bincount(self.which[out], minlength=ne)


@dataclass(frozen=True)
class _Decay:
    """The weekly decay factors of the event columns and the powers `_decay_sum` scales
    a block by, computed once per builder (the same numbers on every call)."""

    factor: np.ndarray
    row_by_row: bool  # a half-life of hours: a block's powers would leave the floats
    up: np.ndarray
    down: np.ndarray
    carry_in: np.ndarray

    @classmethod
    def of(cls, factor: np.ndarray) -> _Decay:
        steps = np.arange(_BLOCK, dtype=float)[:, None]
        # factor ** -steps stays finite unless row by row: the block is short enough
        # (the powers a row-by-row decay leaves unused may overflow)
        with np.errstate(over="ignore", divide="ignore"):
            row_by_row = bool(np.any(-np.log2(factor) * _BLOCK > _MAX_EXPONENT))
            down = factor ** (-steps)
        return cls(factor, row_by_row, factor**steps, down, factor ** (steps + 1))


def _decay_sum(arrived: np.ndarray, decay: _Decay, carry: np.ndarray | None) -> np.ndarray:
    """y[t] = factor * y[t-1] + arrived[t] down each column (y[-1] = `carry`), in blocks
    of `_BLOCK` rows: within a block a cumulative sum of the arrivals scaled up by the
    decay, then scaled down, plus the carry from the block before. The caller starts on
    a block boundary, so a row's sum never depends on where the computation began."""
    n, ne = arrived.shape
    if decay.row_by_row:
        out, last = np.empty((n, ne)), np.zeros(ne) if carry is None else carry
        for t in range(n):
            out[t] = last = decay.factor * last + arrived[t]
        return out
    blocks = -(-n // _BLOCK)
    padded = np.zeros((blocks * _BLOCK, ne))
    padded[:n] = arrived
    within = np.cumsum(padded.reshape(blocks, _BLOCK, ne) * decay.down, axis=1) * decay.up
    last = np.zeros(ne) if carry is None else carry
    for b in range(blocks):
        within[b] += decay.carry_in * last
        last = within[b, -1]
    return within.reshape(-1, ne)[:n]


def _interval_cells(
    days: np.ndarray, intervals: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, end and observation of an interval indicator on each row date, from its
    intervals as rows (start, end, size, id).

    A row sees the intervals that overlap the week ending on it (its date and the six
    days before) and takes the largest (then the later recorded); from the first start
    on, a row that sees none reads 0 (none in progress) and points at the interval that
    ended last (then the later recorded).
    """
    n = len(days)
    value, end = np.full(n, np.nan), np.full(n, np.nan)
    ids = np.full(n, _NO_OBS, dtype=np.int64)
    if not len(intervals):
        return value, end, ids
    start, stop, size, oid = intervals.T
    value[days >= start.min()] = 0.0
    by_end = np.lexsort((oid, stop))
    ended = np.searchsorted(stop[by_end], days - _WEEK, side="right") - 1  # stop + 6 < day
    after = ended >= 0
    end[after] = stop[by_end][ended[after]]
    ids[after] = oid[by_end][ended[after]]
    by_size = np.lexsort((oid, size))
    s, e = start[by_size], stop[by_size]
    during = (s[None, :] <= days[:, None]) & (e[None, :] >= days[:, None] - (_WEEK - 1))
    running = during.any(axis=1)
    largest = by_size[len(by_size) - 1 - np.argmax(during[:, ::-1], axis=1)][running]
    # In progress, its age counts from its start: an interval that never ends (an end
    # mistyped years ahead) grows stale like any value, and its red line lapses.
    value[running], end[running], ids[running] = size[largest], start[largest], oid[largest]
    return value, end, ids


def _ordinals(texts: Sequence[str]) -> np.ndarray:
    """ISO dates (a time after the date is ignored) as ordinal days."""
    days = np.array([t[:10] for t in texts], dtype="datetime64[D]").astype(np.int64)
    return days + _EPOCH


def _from_julian(days: Sequence[float]) -> np.ndarray:
    """Julian day numbers (noon-based) as ordinal days."""
    return np.floor(np.array(days, dtype=float) - _JULIAN_ORDINAL).astype(np.int64)


_EPOCH = dt.date(1970, 1, 1).toordinal()
_JULIAN_ORDINAL = 1721424.5  # julianday('0001-01-01') - 1: 0001-01-01 is ordinal 1
