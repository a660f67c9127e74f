"""One warning level for a week (pure): the red lines, the composite and the forecast.

The reports' red lines are tripwires, so a red line holding on current evidence makes
the week red whatever the composite says; the composite's band and the forecast say
how far and how likely. Levels, from the top:

  red    a red line holds that week on current evidence;
  amber  the composite is in the profile's `high` band or above, or the forecast gives
         an escalation event within its horizon a probability of `FORECAST_AMBER` or more;
  watch  the composite is `elevated`, the forecast gives `FORECAST_WATCH` or more, or a
         red line held only on stale evidence (it lapsed: the danger is unknown, not gone)
         for less than its indicator's stale age (after that it is named, not counted);
  none   otherwise.

Every face (the `score --json` "warning", page 1 of the report, the alert e-mail's
subject, `status`, the workbench) shows the level this function gives for the week,
from the same data as the score beside it (`services.warning` gathers the inputs).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..periods import iso_week
from ..scoring import ScoreResults
from .rules import Rule
from .signals import signals

__all__ = ["FORECAST_AMBER", "FORECAST_WATCH", "LEVELS", "Warning", "assess"]

LEVELS = ("none", "watch", "amber", "red")
FORECAST_WATCH, FORECAST_AMBER = 0.25, 0.50  # probability of an event within the horizon
_BAND_LEVEL = {"elevated": "watch", "high": "amber", "severe": "amber"}


@dataclass(frozen=True)
class Warning:
    """The level of one week and why, in words a duty officer reads first."""

    level: str
    reasons: tuple[str, ...]
    week: str
    as_of: str
    red_lines: tuple[str, ...] = ()  # ids of the red-line rules holding that week
    lapsed: tuple[str, ...] = ()  # ids of red lines that held only on stale evidence
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "reasons": list(self.reasons),
            "week": self.week,
            "as_of": self.as_of,
            "red_lines": list(self.red_lines),
            "lapsed": list(self.lapsed),
        }

    def headline(self) -> str:
        """One line: "RED: red line crossed: ..." or "NONE: nothing raises the level"."""
        return f"{self.level.upper()}: {self.reasons[0]}"


def assess(
    rules: Sequence[Rule],
    results: ScoreResults,
    row: int = -1,
    *,
    forecast: float | None = None,
    horizon_weeks: int = 4,
) -> Warning:
    """The warning level of week `row` of `results` (see the module docstring).

    `forecast` is the ensemble probability of an escalation event within
    `horizon_weeks`, made on that week (None: no forecast, it raises nothing).
    """
    row = row % results.panel.n_weeks
    subject = results.panel.subject
    red_rules = [r for r in rules if r.kind == "red_line" and r.applies_to(subject)]
    found = signals(red_rules, results)
    level, reasons = "none", []
    holding, lapsed = [], []
    lapsed_since: dict[str, str] = {}
    notes: list[str] = []  # said after the reasons: they do not raise the level
    for rule in red_rules:
        signal = found[rule.id]
        if signal.active[row]:
            holding.append(rule.id)
            reasons.append(
                f"red line crossed: {_clause(rule.description)} ({_values(rule, results, row)})"
            )
        elif signal.lapsed is not None and signal.lapsed[row]:
            assert signal.stale_since is not None
            stale_day = int(signal.stale_since[row])
            since = dt.date.fromordinal(stale_day).isoformat()
            lapsed_since[rule.id] = since
            words = (
                f"red line lapsed: {_clause(rule.description)}, held only on evidence stale "
                f"since {since}"
            )
            if _lapse_recent(rule, results, row, stale_day):
                lapsed.append(rule.id)
                reasons.append(words)
            else:  # stale for longer than its stale age again: said last, not raising
                notes.append(f"{words} (too long ago to raise the level)")
    if holding:
        level = "red"
    score = float(results.score[row])
    band = None if math.isnan(score) else results.band(row)
    if band in _BAND_LEVEL:
        reasons.append(f"the composite is {score:.1f}, in the {band} band")
        level = _higher(level, _BAND_LEVEL[band])
    if forecast is not None and not math.isnan(forecast):
        words = (
            f"the forecast gives {forecast:.0%} for an escalation event within "
            f"{horizon_weeks} weeks"
        )
        if forecast >= FORECAST_AMBER:
            level = _higher(level, "amber")
            reasons.append(words)
        elif forecast >= FORECAST_WATCH:
            level = _higher(level, "watch")
            reasons.append(words)
    if lapsed:
        level = _higher(level, "watch")
    if not reasons and not notes:
        reasons.append(f"no red line holds; {_composite_words(score, band)}")
    elif not reasons:
        reasons.append(f"nothing raises the level; {_composite_words(score, band)}")
    reasons.extend(notes)
    day = results.panel.date(row)
    return Warning(
        level=level,
        reasons=tuple(reasons),
        week=iso_week(day),
        as_of=(results.panel.as_of if row == results.latest_row else day).isoformat(),
        red_lines=tuple(holding),
        lapsed=tuple(lapsed),
        details={"score": None if band is None else round(score, 4), "band": band,
                 "forecast": forecast, "lapsed_since": lapsed_since},
    )  # fmt: skip


def _composite_words(score: float, band: str | None) -> str:
    if band is None:
        return "there is no composite score (insufficient data)"
    return f"the composite is {score:.1f} ({band})"


def _lapse_recent(rule: Rule, results: ScoreResults, row: int, stale_day: int) -> bool:
    """A lapsed red line raises the level to watch while its evidence has been stale
    for less than its own stale age (by then the value's band spans half the scale:
    nothing is known either way, and a years-old lapse would hold watch for ever)."""
    panel = results.panel
    if panel.stale_after is None:
        return True
    j = panel.column(rule.conditions[0].indicator)
    return int(panel.dates[row]) - stale_day <= float(panel.stale_after[j])


def _clause(description: str) -> str:
    """A rule's description as a short clause: its first sentence, on one line, without
    a trailing remark in brackets or its full stop (the rule file has the rest)."""
    text = " ".join(description.split()).split(". ")[0].rstrip(".")
    if text.endswith(")") and " (" in text:
        text = text[: text.rindex(" (")]
    return text


def _higher(a: str, b: str) -> str:
    return max(a, b, key=LEVELS.index)


def _values(rule: Rule, results: ScoreResults, row: int) -> str:
    """The values that made the red line hold: "ru_troops_in_belarus is 30000"."""
    panel, catalog = results.panel, results.index.catalog
    parts = []
    for condition in rule.conditions:
        j = panel.column(condition.indicator)
        shown = catalog.indicators[condition.indicator].describe_value(float(panel.raw[row, j]))
        parts.append(f"{condition.indicator} is {shown}")
    return "; ".join(parts)
