"""Forecast targets: "an escalation event of severity >= S within the next H weeks".

Pure functions on ordinal day numbers. An event counts for the week ending on day t
when it starts in (t, t + 7H]. Events known only to the year cannot be placed in a
week and are left out of the targets (and counted, so the caller can say so); events
known to the month count from the first day of the month.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EventSet", "event_within", "events_from_rows"]


@dataclass(frozen=True)
class EventSet:
    """Events usable as targets: start day, the day they became known, severity."""

    start: np.ndarray  # ordinal days, sorted
    known: np.ndarray  # ordinal days
    severity: np.ndarray
    excluded_imprecise: int = 0

    def at_least(self, severity: int) -> EventSet:
        keep = self.severity >= severity
        return EventSet(
            self.start[keep], self.known[keep], self.severity[keep], self.excluded_imprecise
        )

    def known_by(self, day: int) -> EventSet:
        keep = self.known <= day
        return EventSet(
            self.start[keep], self.known[keep], self.severity[keep], self.excluded_imprecise
        )

    def __len__(self) -> int:
        return len(self.start)


def events_from_rows(rows: Iterable[Mapping[str, Any]]) -> EventSet:
    """Events from store rows (`Store.events`)."""
    import datetime as dt

    start, known, severity = [], [], []
    excluded = 0
    for row in rows:
        if row.get("date_precision") == "year":
            excluded += 1
            continue
        start.append(dt.date.fromisoformat(row["date"]).toordinal())
        known.append(dt.date.fromisoformat(row["known_from"]).toordinal())
        severity.append(int(row["severity"]))
    order = np.argsort(start, kind="stable")
    return EventSet(
        np.array(start, dtype=np.int64)[order],
        np.array(known, dtype=np.int64)[order],
        np.array(severity, dtype=np.int64)[order],
        excluded,
    )


def event_within(days: np.ndarray, events: EventSet, horizon_weeks: int) -> np.ndarray:
    """1 where an event starts in (day, day + 7 * horizon], for each day in `days`."""
    days = np.asarray(days, dtype=np.int64)
    first_after = np.searchsorted(events.start, days, side="right")
    first_beyond = np.searchsorted(events.start, days + 7 * horizon_weeks, side="right")
    return (first_beyond > first_after).astype(float)
