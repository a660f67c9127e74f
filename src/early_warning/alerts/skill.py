"""A rule's track record: what it would have said before the events (pure).

    score = rule_skill(firings, events, horizon_weeks, end=end)
    record = score_rules(rules, firings_by_rule, events, start, end, horizons=(4, 12))

A *firing* is the week a rule raised an alert in a replay (one per crossing: a rule
that stays firing for a year fired once; a rule already firing when the replay began
did not cross in the period, and that first firing is not scored). For each horizon
H, in weeks:

- an event is *hit* when the rule fired in the H weeks before it (on or after the day
  7H days before the event, strictly before the event day: a firing in the week the
  event began, after it, did not warn of it);
- the *hit rate* is the share of the events in the period (after `start`, up to `end`)
  that were hit; the *lead time* of a hit is the weeks from the first firing in those H
  weeks to the event;
- a firing is a *true alarm* when an event began in the H weeks after it, a *false
  alarm* when none did and those H weeks are over by `end`, and *pending* when they
  are not over yet and nothing has happened so far (neither, so left out of the
  false-alarm rate);
- the *false-alarm rate* is false alarms / (true + false alarms).

The windows are those of the forecast targets (`forecast.targets`: an event counts
for day t when it starts in (t, t + 7H]) and of `forecast.metrics.alert_skill`, which
gives the same numbers when no firing is pending. Nothing here reads the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .rules import Rule

if TYPE_CHECKING:
    from ..forecast.targets import EventSet

__all__ = [
    "AT_START_NOTE",
    "EXPLAINED",
    "definition_hash",
    "false_alarms_text",
    "firings_text",
    "hit_rate_text",
    "lead_text",
    "rule_skill",
    "score_rules",
]


def rule_skill(
    firings: Sequence[int] | np.ndarray,
    events: Sequence[int] | np.ndarray,
    horizon_weeks: int,
    *,
    end: int,
) -> dict[str, Any]:
    """Hit rate, false-alarm rate and lead time of one rule at one horizon.

    `firings` and `events` are ordinal days (`date.toordinal()`); `events` are the
    events to be hit (the caller picks the period), and they alone make a firing a
    true alarm; `end` is the last day the record is complete to.
    """
    fired = np.sort(np.asarray(firings, dtype=np.int64))
    happened = np.sort(np.asarray(events, dtype=np.int64))
    window = 7 * horizon_weeks
    hits, leads, weeks = 0, [], []
    for event in happened:
        before = fired[(fired < event) & (fired >= event - window)]
        if len(before):
            hits += 1
            weeks.append(float(event - before.min()) / 7)
            leads.append(
                {
                    "event": dt.date.fromordinal(int(event)).isoformat(),
                    "first_firing": dt.date.fromordinal(int(before.min())).isoformat(),
                    "lead_weeks": round(float(event - before.min()) / 7, 2),
                }
            )
    true = false = pending = 0
    for day in fired:
        if ((happened > day) & (happened <= day + window)).any():
            true += 1
        elif day + window <= end:
            false += 1
        else:
            pending += 1
    judged = true + false
    return {
        "horizon_weeks": horizon_weeks,
        "events": len(happened),
        "hits": hits,
        "hit_rate": round(hits / len(happened), 4) if len(happened) else None,
        "firings": len(fired),
        "true_alarms": true,
        "false_alarms": false,
        "pending": pending,
        "false_alarm_rate": round(false / judged, 4) if judged else None,
        "mean_lead_weeks": round(float(np.mean(weeks)), 2) if weeks else None,
        "leads": leads,
    }


def definition_hash(rule: Rule) -> str:
    """A short digest of everything a rule says, so a stored score is shown only for
    the rule it was computed for (a changed level is another rule)."""
    text = json.dumps(dataclasses.asdict(rule), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def score_rules(
    rules: Sequence[Rule],
    firings: Mapping[str, Sequence[int]],
    events: EventSet,
    start: dt.date,
    end: dt.date,
    *,
    horizons: Sequence[int] = (4, 12),
    severity: int = 2,
    firing_at_start: Collection[str] = (),
) -> dict[str, Any]:
    """Every replayed rule scored against the events of severity >= `severity` that
    began after `start`, up to `end`.

    `firings[rule.id]` are the days the rule fired in the replay (a rule missing from
    it was not replayed: it does not apply to the subject); `firing_at_start` names the
    rules already firing when the replay began, whose firing then is no crossing in
    the period and is not among their firings. Events known only to the year cannot
    be placed in a week and are left out (`excluded_imprecise_events`).
    """
    chosen = events.at_least(severity)
    first, last = start.toordinal(), end.toordinal()
    days = chosen.start[(chosen.start > first) & (chosen.start <= last)]
    scored = []
    for rule in rules:
        if rule.id not in firings:
            continue
        fired = sorted(int(d) for d in firings[rule.id])
        scored.append(
            {
                "rule": rule.id,
                "kind": rule.kind,
                "severity": rule.severity,
                "definition_hash": definition_hash(rule),
                "firings": len(fired),
                "firing_at_start": rule.id in firing_at_start,
                "fired_on": [dt.date.fromordinal(d).isoformat() for d in fired],
                "horizons": [rule_skill(fired, days, h, end=last) for h in horizons],
            }
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "severity_at_least": severity,
        "horizons": list(horizons),
        "n_events": len(days),
        "event_days": [dt.date.fromordinal(int(d)).isoformat() for d in days],
        "excluded_imprecise_events": events.excluded_imprecise,
        "rules": scored,
    }


# -- the words of a score (the same in `alerts replay --score` and the report) ------

AT_START_NOTE = (
    "* already firing when the replay began: that firing is no crossing in the period "
    "and is not scored"
)
EXPLAINED = (
    "Hit rate: the events with a firing in the H weeks before them. False alarms: the "
    "firings followed by no event within H weeks (pending: those weeks not over by the "
    "end). Lead: the mean weeks from the first firing in the H weeks before an event to "
    "the event. A rule that stays firing fired once."
)


def firings_text(rule: Mapping[str, Any]) -> str:
    """ "2", or "2*" for a rule already firing when the replay began (`AT_START_NOTE`)."""
    return f"{rule['firings']}{'*' if rule.get('firing_at_start') else ''}"


def hit_rate_text(h: Mapping[str, Any]) -> str:
    """ "2 of 15 (13%)"."""
    return f"{h['hits']} of {h['events']}" + _share(h["hit_rate"])


def false_alarms_text(h: Mapping[str, Any]) -> str:
    """ "1 of 2 (50%)", with the firings still pending; "-" for a rule that never fired."""
    judged = h["true_alarms"] + h["false_alarms"]
    pending = f"{h['pending']} pending" if h["pending"] else ""
    if not judged:
        return f"- ({pending})" if pending else "-"
    shown = f"{h['false_alarms']} of {judged}" + _share(h["false_alarm_rate"])
    return f"{shown}, {pending}" if pending else shown


def lead_text(h: Mapping[str, Any]) -> str:
    """ "3.0 weeks" (the mean over the events hit), "-" when none was."""
    lead = h["mean_lead_weeks"]
    return "-" if lead is None else f"{lead:.1f} weeks"


def _share(rate: float | None) -> str:
    return "" if rate is None else f" ({rate:.0%})"
