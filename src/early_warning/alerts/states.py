"""One state machine per rule and subject (pure).

      armed ──(active for min_weeks, cool-down passed)──> firing ──(ack)──> acknowledged
        ^                                                   │                 │
        └──────────── resolved <──────────(clear)───────────┴─────────────────┘

`resolved` re-fires like `armed`, but only after the cool-down counted from the last
alert. Only the fire transitions produce alerts; `walk` jumps from one transition to
the next with `numpy` searches, so 50 rules over 1,040 weeks cost a few hundred Python
steps, not 52,000.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ..periods import week_end
from .rules import Rule
from .signals import Signal

__all__ = ["ACTIVE_STATES", "RuleState", "Transition", "walk"]

ACTIVE_STATES = ("firing", "acknowledged")


@dataclass
class RuleState:
    """Where one rule stands for one subject."""

    rule: str
    subject: str
    state: str = "armed"  # armed | firing | acknowledged | resolved
    run_weeks: int = 0
    last_week: dt.date | None = None  # last complete week evaluated (a Sunday)
    fired_week: dt.date | None = None  # week of the last alert (cool-down from here)
    alert_id: int | None = None


@dataclass(frozen=True)
class Transition:
    row: int
    kind: str  # fire | resolve


def walk(
    rule: Rule,
    signal: Signal,
    dates: np.ndarray,
    state: RuleState,
    rows: range,
) -> list[Transition]:
    """Move `state` over `rows` (ascending) and return the fire and resolve steps.

    `dates` are the rows' ordinal days. The walk jumps between transitions: from a
    firing state to the next clear week, from an armed one to the next week where the
    condition has held `min_weeks` in a row and the cool-down has passed.
    """
    found: list[Transition] = []
    eligible = signal.active & (signal.run >= rule.min_weeks)
    t, stop = rows.start, rows.stop
    while t < stop:
        if state.state in ACTIVE_STATES:
            hits = np.flatnonzero(signal.clear[t:stop])
            if not len(hits):
                break
            t += int(hits[0])
            state.state = "resolved"
            found.append(Transition(t, "resolve"))
            t += 1
            continue
        if state.fired_week is not None and rule.cooldown_weeks:
            ready = state.fired_week.toordinal() + 7 * rule.cooldown_weeks
            t = max(t, int(np.searchsorted(dates, ready, side="left")))
        hits = np.flatnonzero(eligible[t:stop])
        if not len(hits):
            break
        t += int(hits[0])
        state.state = "firing"
        state.fired_week = week_end(dt.date.fromordinal(int(dates[t])))
        found.append(Transition(t, "fire"))
        t += 1
    if stop > rows.start:
        state.run_weeks = int(signal.run[stop - 1])
    return found
