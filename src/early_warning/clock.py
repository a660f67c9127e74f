"""The clock seam: everything that stamps a time asks a `Clock`.

Production code uses `SystemClock`; tests pass a `FixedClock` (or advance one) so that
timestamps, and therefore database contents and report bytes, are reproducible.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "iso_timestamp"]


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: dt.datetime | str) -> None:
        if isinstance(start, str):
            start = dt.datetime.fromisoformat(start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


def iso_timestamp(moment: dt.datetime) -> str:
    """UTC timestamp text that sorts correctly: 2024-05-01T12:00:00.000000Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
