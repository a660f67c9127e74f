"""Alert rules read as weekly signals (pure and vectorised).

`signals(rules, results)` gives, for every rule and every week, the number the rule
compares (`value`), whether the rule's condition holds (`active`), whether it has
clearly stopped holding (`clear`: past the hysteresis margin for a threshold, a
condition seen to fail for a red line) and for how many weeks in a row it has held
(`run`). A week where the rule cannot be evaluated (no value at all) is neither
active nor clear, so a firing alert stays firing through a gap in the data instead of
resolving silently. A red line whose condition holds only on stale evidence has
*lapsed* (`lapsed`): it is no longer active and it clears, with the date its evidence
went stale, so a years-old red is never carried as if current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..numbers import format_number
from ..panel import MISSING, OK, STALE
from ..scoring import ScoreResults
from .rules import OPERATORS, Rule

__all__ = ["Signal", "run_lengths", "signals", "target_series"]


@dataclass(frozen=True)
class Signal:
    """One rule read over every week of a score history."""

    value: np.ndarray  # the number compared; NaN: cannot be evaluated that week
    active: np.ndarray  # the condition holds
    clear: np.ndarray  # the condition clearly does not hold (past any hysteresis)
    run: np.ndarray  # consecutive weeks the condition has held, up to and including this one
    threshold: float | None  # the level, jump or (red line) first condition's value
    condition: str  # the rule in words: "score >= 60 for 2 weeks"
    series: np.ndarray | None = None  # for a change rule: the series whose jump is `value`
    lapsed: np.ndarray | None = None  # red line: held only on stale evidence that week
    stale_since: np.ndarray | None = None  # red line: day its evidence went stale [ordinal]


def run_lengths(active: np.ndarray) -> np.ndarray:
    """Consecutive True values ending at each position: [1,1,0,1] -> [1,2,0,1]."""
    active = np.asarray(active, dtype=bool)
    index = np.arange(len(active))
    last_false = np.maximum.accumulate(np.where(active, -1, index))
    return np.where(active, index - last_false, 0)


def signals(
    rules: Sequence[Rule],
    results: ScoreResults,
    *,
    forecasts: Mapping[int, np.ndarray] | None = None,
    exceedance: Mapping[float, np.ndarray] | None = None,
) -> dict[str, Signal]:
    """Every rule's signal over every week of `results`.

    `forecasts[h]` is the stored ensemble probability for horizon `h` weeks aligned
    with the weeks (NaN where none was made); `exceedance[level]` is the Monte Carlo
    probability that the score is at or above `level` (for rules with `robust`).
    """
    out = {}
    for rule in rules:
        if rule.kind == "red_line":
            out[rule.id] = _red_line(rule, results)
        elif rule.kind == "staleness":
            out[rule.id] = _staleness(rule, results)
        else:
            series = target_series(rule.target, results, forecasts or {})
            if rule.kind == "change":
                out[rule.id] = _change(rule, series)
            else:
                p_exceed = None
                if rule.robust is not None:
                    p_exceed = (exceedance or {}).get(rule.level)
                    if p_exceed is None:
                        raise ValueError(f"rule {rule.id}: robust needs the exceedance series")
                out[rule.id] = _threshold(rule, series, p_exceed)
    return out


def target_series(
    target: str, results: ScoreResults, forecasts: Mapping[int, np.ndarray]
) -> np.ndarray:
    """The weekly series a threshold or change rule looks at, on a 0-100 scale
    (forecast probabilities on 0-1)."""
    kind, _, name = target.partition(":")
    if kind == "score":
        return np.asarray(results.score, dtype=float)
    if kind == "family":
        k = results.index.structure.families.index(name)
        family = 100.0 * results.agg.family_score[:, k]
        return np.where(results.agg.sufficient[:, k], family, np.nan)
    if kind == "indicator":
        return 100.0 * results.risk[:, results.panel.column(name)]
    weeks = int(name)
    return np.asarray(forecasts.get(weeks, np.full(results.panel.n_weeks, np.nan)), dtype=float)


def _holds(op: str, value: np.ndarray, level: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~np.isnan(value) & OPERATORS[op](value, level)


def _threshold(rule: Rule, series: np.ndarray, p_exceed: np.ndarray | None) -> Signal:
    active = _holds(rule.op, series, rule.level)
    if p_exceed is not None:
        active &= ~np.isnan(p_exceed) & (np.nan_to_num(p_exceed) >= rule.robust)
    if rule.op in (">", ">="):
        clear = _holds("<", series, rule.level - rule.hysteresis)
    else:
        clear = _holds(">", series, rule.level + rule.hysteresis)
    words = f"{rule.target} {rule.op} {_setting(rule.level)}"
    if rule.min_weeks > 1:
        words += f" for {rule.min_weeks} weeks"
    if rule.hysteresis:
        words += f" (re-arms below {_setting(rule.level - rule.hysteresis)})"
    if rule.robust is not None:
        words += f", with probability >= {_setting(rule.robust)} under weight uncertainty"
    return Signal(series, active, clear, run_lengths(active), rule.level, words)


def _change(rule: Rule, series: np.ndarray) -> Signal:
    jump = np.full(len(series), np.nan)
    jump[1:] = series[1:] - series[:-1]
    active = _holds(">=", jump, rule.jump)
    clear = _holds("<", jump, rule.jump)
    words = f"{rule.target} up by {_setting(rule.jump)} or more in a week"
    return Signal(jump, active, clear, run_lengths(active), rule.jump, words, series)


def _red_line(rule: Rule, results: ScoreResults) -> Signal:
    panel, catalog = results.panel, results.index.catalog
    n = panel.n_weeks
    holds_all, failed = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    stale = np.zeros(n, dtype=bool)
    stale_since = np.full(n, np.nan)
    first_value = np.full(n, np.nan)
    words = []
    for k, condition in enumerate(rule.conditions):
        j = panel.column(condition.indicator)
        values = np.where(panel.status[:, j] == MISSING, np.nan, panel.raw[:, j])
        holds = _holds(condition.op, values, condition.value)
        holds_all &= holds
        failed |= ~np.isnan(values) & ~holds
        aged = panel.status[:, j] == STALE
        # The day this condition's evidence went stale: its age passed the stale age.
        after = np.nan if panel.stale_after is None else panel.stale_after[j]
        since = panel.dates - panel.age_days[:, j] + after + 1
        stale_since = np.where(aged, np.fmin(stale_since, since), stale_since)
        stale |= aged
        if k == 0:
            first_value = values
        indicator = catalog.indicators[condition.indicator]
        shown = indicator.describe_value(condition.value, digits=6)
        words.append(f"{condition.indicator} {condition.op} {shown}")
    active = holds_all & ~stale
    lapsed = holds_all & stale
    return Signal(
        first_value, active, failed | lapsed, run_lengths(active), rule.conditions[0].value,
        " and ".join(words), lapsed=lapsed, stale_since=np.where(lapsed, stale_since, np.nan),
    )  # fmt: skip


def _setting(number: float) -> str:
    """A number from the rule file, as precise as it was written there (six digits)."""
    return format_number(number, digits=6)


def _staleness(rule: Rule, results: ScoreResults) -> Signal:
    panel = results.panel
    columns = [panel.column(name) for name in rule.indicators]
    status = panel.status[:, columns]
    stale = status != OK if rule.missing else status == STALE
    count = stale.sum(axis=1).astype(float)
    active = count > 0
    clear = (panel.status[:, columns] == OK).all(axis=1)
    words = f"any of {', '.join(rule.indicators)} older than its maximum age"
    if rule.missing:
        words += " or never observed"
    return Signal(count, active, clear, run_lengths(active), 1.0, words)
