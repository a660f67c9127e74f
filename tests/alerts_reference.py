"""The point-in-time replay as it was before issue 19 (a test reference).

`AlertEngine` gathers each alert's evidence from the week's own panel while it walks
the weeks; this engine rebuilds a panel from the store for every alert, as before, so
that `test_alerts_replay.py` can prove the alerts and their evidence did not change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from early_warning.alerts.engine import AlertEngine, RuleState, Signal, walk
from early_warning.alerts.records import Alert
from early_warning.alerts.rules import Rule
from early_warning.errors import InputError
from early_warning.scoring import ScoreResults
from early_warning.services import panel_builder


class RowReplayEngine(AlertEngine):
    """`AlertEngine` with the previous point-in-time replay."""

    def _replay(
        self,
        subject: str,
        start: dt.date,
        end: dt.date,
        point_in_time: bool,
        progress: Callable[[int], None] | None,
        *,
        evidence: bool = True,  # built for every firing regardless, as before
    ) -> tuple:
        """Every applicable rule walked from a scratch state over the weeks from `start`."""
        if start > end:
            raise InputError(f"--start {start} is after --end {end}")
        if point_in_time:
            results, sig, evidence_at = self._replay_point_in_time(subject, start, end, progress)
        else:
            results = self.results(subject, end)
            sig = self.signals(results)

            def evidence_at(rule: Rule, row: int) -> Alert:
                return self._alert(rule, sig[rule.id], results, row)

        dates = results.panel.dates
        first = int(np.searchsorted(dates, start.toordinal(), side="left"))
        steps = []
        for rule in self.rules:
            if not rule.applies_to(subject):
                continue
            state = RuleState(rule.id, subject)
            steps.append((rule, walk(rule, sig[rule.id], dates, state, range(first, len(dates)))))
        return _replayed(dates, first, sig, evidence_at, steps)

    def _replay_point_in_time(
        self,
        subject: str,
        start: dt.date,
        end: dt.date,
        progress: Callable[[int], None] | None,
    ) -> tuple[ScoreResults, dict[str, Signal], Callable[[Rule, int], Alert]]:
        """Signals where week t is read from the panel as known on week t."""
        builder = panel_builder(self.store, self.catalog, subject, end=end)
        final = self.results(subject, end, point_in_time=True, builder=builder)
        dates = final.panel.dates
        first = int(np.searchsorted(dates, start.toordinal(), side="left"))
        n = len(dates)
        columns: dict[str, dict[str, np.ndarray]] = {
            r.id: {
                "value": np.full(n, np.nan),
                "active": np.zeros(n, bool),
                "clear": np.zeros(n, bool),
                "run": np.zeros(n, np.int64),
                "lapsed": np.zeros(n, bool),
                "stale_since": np.full(n, np.nan),
            }
            for r in self.rules
        }
        template: dict[str, Signal] = {}
        for row in range(first, n):
            day = dt.date.fromordinal(int(dates[row]))
            week = self.results(subject, day, point_in_time=True, builder=builder)
            for rule_id, s in self.signals(week).items():
                for name in ("value", "active", "clear", "run", "lapsed", "stale_since"):
                    series = getattr(s, name)
                    if series is not None:
                        columns[rule_id][name][row] = series[-1]
                template[rule_id] = s
            if progress:
                progress(1)
        sig = {}
        for rule_id, c in columns.items():
            shape = template.get(rule_id)
            sig[rule_id] = Signal(
                c["value"], c["active"], c["clear"], c["run"],
                shape.threshold if shape else None, shape.condition if shape else "",
                lapsed=c["lapsed"], stale_since=c["stale_since"],
            )  # fmt: skip

        def evidence_at(rule: Rule, row: int) -> Alert:
            day = dt.date.fromordinal(int(dates[row]))
            known = self.results(
                subject, day, point_in_time=True,
                builder=panel_builder(self.store, self.catalog, subject, end=day),
            )  # fmt: skip
            before = bool(columns[rule.id]["active"][row - 1]) if row > first else None
            last = known.panel.n_weeks - 1
            return self._alert(rule, self.signals(known)[rule.id], known, last, before)

        return final, sig, evidence_at


def _replayed(*fields: object) -> object:
    from early_warning.alerts import engine

    return engine._Replayed(*fields)  # type: ignore[arg-type]
