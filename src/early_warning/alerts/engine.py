"""The alert service: the rules checked against the store, each crossing recorded once.

The pure parts live beside it: `signals` (each rule read as a weekly signal),
`states` (one state machine per rule and subject, and its `walk`), `records` (the
alert, a check's result, the words of a message). `AlertEngine` keeps the states in
SQLite (`alert_state`) and the alerts in `alerts`, writes an alert, its state and its
e-mail in one transaction, and evaluates only the weeks after the last one it
evaluated, so a repeated check adds nothing: one crossing, one alert. Its dedupe key
(`rule:subject:ISO week of the crossing`) is unique in the table and names the outbox
message, so even a lost state cannot send a crossing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..errors import InputError, NotFoundError
from ..panel import OK, STALE, PanelBuilder
from ..periods import SUNDAY, iso_week, week_end
from ..scoring import CompositeIndex, Profile, ScoreResults
from ..scoring.sensitivity import monte_carlo
from ..services import assess_week, panel_builder
from ..store import Store
from .records import (
    Alert,
    AlertSink,
    CheckResult,
    alert_from_row,
    alert_message,
    alert_threshold_text,
    alert_value_text,
    what_changed,
)
from .rules import Rule
from .signals import Signal, run_lengths, signals
from .states import ACTIVE_STATES, RuleState, Transition, walk
from .warning import Warning

_TAIL_WEEKS = 8  # weeks a point-in-time replay reads to judge the last one (see below)

__all__ = [
    "Alert",
    "AlertEngine",
    "CheckResult",
    "RuleState",
    "Signal",
    "run_lengths",
    "signals",
    "walk",
]


@dataclass(frozen=True)
class _Replayed:
    """A replay walked: the weeks, each rule's signal, its steps, and how to build an
    alert's evidence at a row (as known then, for a point-in-time replay)."""

    dates: np.ndarray
    first: int  # the row of the first week replayed
    signals: dict[str, Signal]
    evidence_at: Callable[[Rule, int], Alert]
    steps: list[tuple[Rule, list[Transition]]]


class AlertEngine:
    """Rules evaluated over a subject's scores, with their state kept in the store.

    With a `sink` (a `Notifier`), each new alert's message is queued in the same
    transaction that records the alert, so an alert is never recorded without its mail.
    """

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        profile: Profile,
        rules: Sequence[Rule],
        sink: AlertSink | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.profile = profile
        self.rules = list(rules)
        self.sink = sink

    # -- evaluation ----------------------------------------------------------------------

    def results(
        self,
        subject: str,
        as_of: dt.date,
        *,
        point_in_time: bool = False,
        builder: PanelBuilder | None = None,
    ) -> ScoreResults:
        builder = builder or panel_builder(self.store, self.catalog, subject, end=as_of)
        panel = builder.panel(as_of, point_in_time=point_in_time)
        return CompositeIndex(self.catalog, self.profile).fit(panel)

    def signals(self, results: ScoreResults) -> dict[str, Signal]:
        return signals(
            self.rules,
            results,
            forecasts=self._forecasts(results),
            exceedance=self._exceedance(results),
        )

    def _signals_of(self, rules: Sequence[Rule], results: ScoreResults) -> dict[str, Signal]:
        """`signals` of some of the rules (the stored forecasts and the Monte Carlo
        read only for rules that need them)."""
        engine = AlertEngine(self.store, self.catalog, self.profile, rules)
        return engine.signals(results)

    def _last_week_signals(self, results: ScoreResults) -> dict[str, Signal]:
        """Every rule's signal of the last week (only the last element of each series is
        for use), from the last few weeks alone: every signal is read week by week, but
        for a jump on the week before and the run of weeks a condition has held. A run
        is right up to the weeks read and at least that long beyond, which is all the
        state machine and `firings` ask (has it reached `min_weeks`? passed it?); a rule
        of more weeks than that reads the whole history, and so do forecast and Monte
        Carlo rules."""
        whole = [r for r in self.rules if r.robust is not None or r.target.startswith("fo")]
        rest = [r for r in self.rules if r not in whole]
        out = self._signals_of(whole, results) if whole else {}
        tail = results.tail(_TAIL_WEEKS)
        short = signals(rest, tail)
        longer = [
            r
            for r in rest
            if short[r.id].run[-1] >= tail.panel.n_weeks and r.min_weeks + 1 >= _TAIL_WEEKS
        ]
        if longer and tail.panel.n_weeks < results.panel.n_weeks:
            short |= signals(longer, results)
        return out | short

    def _forecasts(self, results: ScoreResults) -> dict[int, np.ndarray]:
        """Stored ensemble probabilities per horizon, each on the week it was made for."""
        horizons = {int(r.target.split(":")[1]) for r in self.rules if r.target.startswith("fo")}
        out = {}
        dates = results.panel.dates
        for weeks in horizons:
            series = np.full(len(dates), np.nan)
            rows = self.store.ensemble_forecasts(results.panel.subject, weeks)
            for as_of, probability in rows:
                # A forecast counts for the week it was made in and no later.
                day = dt.date.fromisoformat(as_of).toordinal()
                row = int(np.searchsorted(dates, day, side="left"))
                if row < len(dates) and dates[row] - day < 7 and probability is not None:
                    series[row] = probability
            out[weeks] = series
        return out

    def _exceedance(self, results: ScoreResults) -> dict[float, np.ndarray]:
        levels = sorted({r.level for r in self.rules if r.robust is not None})
        if not levels:
            return {}
        u = self.profile.uncertainty
        mc = monte_carlo(
            results, draws=u.draws, concentration=u.concentration, seed=u.seed,
            exceed_levels=levels,
        )  # fmt: skip
        return dict(mc.exceedance)

    # -- check -------------------------------------------------------------------------

    def check(
        self,
        subject: str,
        as_of: dt.date,
        *,
        dry_run: bool = False,
        warning: Warning | None = None,
    ) -> CheckResult:
        """Evaluate the weeks since the last check, up to `as_of`; record what fires.

        The first check of a rule evaluates only the latest week (with the run of weeks
        before it), so a fresh installation reports what holds now, not every crossing
        since the data began. Each new alert carries the week's warning level (given by
        the pipeline, else assessed here, only when something fired).
        """
        results = self.results(subject, as_of)
        panel = results.panel
        if not panel.n_weeks:
            raise NotFoundError(f"{subject}: no weeks to evaluate up to {as_of}")
        sig = self.signals(results)
        states = self.load_states(subject)
        fired: list[Alert] = []
        resolved: list[str] = []
        evaluated: set[str] = set()
        # A week is complete once its Sunday is over: a check on a Sunday judges that
        # week so far, like any other day of it, and judges it again later.
        complete = _complete_rows(panel.dates)
        complete = complete[panel.dates[complete] < as_of.toordinal()]
        last = panel.n_weeks - 1
        updates: list[RuleState] = []
        resolutions: list[tuple[RuleState, int]] = []
        for rule in self.rules:
            if not rule.applies_to(subject):
                continue
            state = states.get(rule.id) or RuleState(rule.id, subject)
            signal = sig[rule.id]
            start = (
                int(np.searchsorted(panel.dates, state.last_week.toordinal(), side="right"))
                if state.last_week is not None
                else _first_row_of_first_check(complete, last)
            )
            stop = (complete[-1] + 1) if len(complete) else 0
            steps = walk(rule, signal, panel.dates, state, range(start, max(start, stop)))
            if stop > start:
                state.last_week = panel.date(stop - 1)
                evaluated.update(iso_week(panel.date(r)) for r in range(start, stop))
            after_last = state.last_week is None or panel.dates[last] > state.last_week.toordinal()
            if last not in complete and after_last:  # the as-of day is in a partial week
                # Judged now (a crossing on Monday is reported on Monday), its fire or
                # resolve kept; the week itself stays open, so later checks judge it again.
                run_before = state.run_weeks
                steps += walk(rule, signal, panel.dates, state, range(last, last + 1))
                state.run_weeks = run_before
                evaluated.add(iso_week(panel.date(last)))
            for step in steps:
                if step.kind == "fire":
                    alert = self._alert(rule, signal, results, step.row)
                    alert.provisional = step.row == last and last not in complete
                    fired.append(alert)
                else:
                    resolved.append(rule.id)
                    resolutions.append((state, step.row))
            updates.append(state)
        not_evaluable = [
            r.id
            for r in self.rules
            if r.applies_to(subject) and np.isnan(sig[r.id].value[last]) and r.kind != "staleness"
        ]
        undelivered: list[Alert] = []
        self._attach_warnings(subject, fired, warning)
        if not dry_run:
            self._record(subject, updates, fired, resolutions, panel, sig)
            undelivered = self._deliver_pending(subject)
        active = fired if dry_run else self.active_alerts(subject)
        new_keys = {a.dedupe_key for a in fired}
        for alert in active:
            alert.new = alert.dedupe_key in new_keys
        return CheckResult(
            subject=subject,
            as_of=as_of.isoformat(),
            weeks_evaluated=sorted(evaluated),
            fired=fired,
            active=active,
            resolved=resolved,
            not_evaluable=not_evaluable,
            dry_run=dry_run,
            undelivered=undelivered,
        )

    def _attach_warnings(self, subject: str, fired: list[Alert], given: Warning | None) -> None:
        """Each new alert carries the warning level of its own week (a check that
        catches up fires for past weeks): the given one where it is that week's, else
        assessed once per week."""
        levels: dict[str, dict[str, Any]] = {}
        if given is not None:
            levels[given.week] = given.to_dict()
        for alert in fired:
            if alert.week not in levels:
                day = dt.date.fromisoformat(alert.as_of)
                levels[alert.week] = assess_week(
                    self.store, self.catalog, self.profile, self.rules, subject, day
                ).to_dict()
            alert.evidence["warning"] = levels[alert.week]

    # -- replay ------------------------------------------------------------------------

    def replay(
        self,
        subject: str,
        start: dt.date,
        end: dt.date,
        *,
        point_in_time: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> list[Alert]:
        """What the rules would have raised week by week from `start` to `end`.

        Works on a scratch state (every rule armed at `start`, with the run of weeks
        before it) and writes nothing. With `point_in_time`, each week is judged on the
        data as known that week; otherwise on the best current knowledge.
        """
        replayed = self._replay(subject, start, end, point_in_time, progress)
        dates, sig = replayed.dates, replayed.signals
        alerts = []
        for rule, steps in replayed.steps:
            for step in steps:
                if step.kind == "fire":
                    alerts.append(replayed.evidence_at(rule, step.row))
                else:
                    for alert in reversed(alerts):
                        if alert.rule == rule.id and alert.state == "firing":
                            alert.state = "resolved"
                            alert.evidence["resolved_week"] = iso_week(
                                dt.date.fromordinal(int(dates[step.row]))
                            )
                            alert.evidence["resolution"] = resolution(sig[rule.id], step.row)
                            break
        alerts.sort(key=lambda a: (a.as_of, a.rule))
        return alerts

    def firings(
        self,
        subject: str,
        start: dt.date,
        end: dt.date,
        *,
        point_in_time: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[dict[str, list[int]], set[str]]:
        """The days (ordinal) each rule that applies to `subject` would have fired on
        from `start` to `end`: the replay's alerts without their evidence, for scoring
        the rules (`alerts.skill`).

        A firing in the first week whose condition already held the week before (a
        rule already firing when the replay begins) is no crossing in the period: it
        is left out, and the rule named in the second item.
        """
        replayed = self._replay(subject, start, end, point_in_time, progress, evidence=False)
        days: dict[str, list[int]] = {}
        carried: set[str] = set()
        for rule, steps in replayed.steps:
            days[rule.id] = []
            run = replayed.signals[rule.id].run
            for step in steps:
                if step.kind != "fire":
                    continue
                if step.row == replayed.first and run[step.row] > rule.min_weeks:
                    carried.add(rule.id)
                    continue
                days[rule.id].append(int(replayed.dates[step.row]))
        return days, carried

    def replay_weeks(self, subject: str, start: dt.date, end: dt.date) -> int:
        """How many weeks a replay from `start` to `end` judges (for a progress bar)."""
        builder = panel_builder(self.store, self.catalog, subject, end=end)
        dates = builder.panel(end, point_in_time=True).dates
        return int(len(dates) - np.searchsorted(dates, start.toordinal(), side="left"))

    def _replay(
        self,
        subject: str,
        start: dt.date,
        end: dt.date,
        point_in_time: bool,
        progress: Callable[[int], None] | None,
        *,
        evidence: bool = True,
    ) -> _Replayed:
        """Every applicable rule walked from a scratch state over the weeks from `start`
        (`evidence=False`: the firings alone, no alert built)."""
        if start > end:
            raise InputError(f"--start {start} is after --end {end}")
        if point_in_time:
            return self._replay_point_in_time(subject, start, end, progress, evidence)
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
        return _Replayed(dates, first, sig, evidence_at, steps)

    def _replay_point_in_time(
        self,
        subject: str,
        start: dt.date,
        end: dt.date,
        progress: Callable[[int], None] | None,
        evidence: bool,
    ) -> _Replayed:
        """Week t read from the panel as known on week t, the rules walked week by week
        as the weeks are scored, so that an alert's evidence is taken from the week's
        own scores while they are at hand (no panel rebuilt per alert)."""
        builder = panel_builder(self.store, self.catalog, subject, end=end)
        dates = builder.panel(end, point_in_time=True).dates
        first = int(np.searchsorted(dates, start.toordinal(), side="left"))
        n = len(dates)
        columns = _SignalColumns(self.rules, n)
        walking = [(r, RuleState(r.id, subject), []) for r in self.rules if r.applies_to(subject)]
        alerts: dict[tuple[str, int], Alert] = {}
        for row in range(first, n):
            day = dt.date.fromordinal(int(dates[row]))
            week = self.results(subject, day, point_in_time=True, builder=builder)
            columns.put(row, self._last_week_signals(week))
            for rule, state, found in walking:
                if not columns.may_move(rule, state, row):
                    continue
                steps = walk(rule, columns.walked[rule.id], dates, state, range(row, row + 1))
                found += steps
                if evidence and any(step.kind == "fire" for step in steps):
                    before = bool(columns.active(rule.id)[row - 1]) if row > first else None
                    last = week.panel.n_weeks - 1
                    signal = self._signals_of([rule], week)[rule.id]
                    alerts[rule.id, row] = self._alert(rule, signal, week, last, before)
            if progress:
                progress(1)

        def evidence_at(rule: Rule, row: int) -> Alert:
            return alerts[rule.id, row]

        steps = [(rule, found) for rule, _, found in walking]
        return _Replayed(dates, first, columns.signals(), evidence_at, steps)

    # -- alerts and their evidence -----------------------------------------------------

    def _alert(
        self,
        rule: Rule,
        signal: Signal,
        results: ScoreResults,
        row: int,
        known_before: bool | None = None,
    ) -> Alert:
        """The alert of `rule` at `row`; `known_before` is whether the condition held the
        week before as known then (point-in-time replay), if that differs from now."""
        panel = results.panel
        day = panel.date(row)
        value = _finite(signal.value[row])
        evidence = self._evidence(rule, signal, results, row)
        if known_before is not None and rule.kind == "red_line" and row > 0:
            since = panel.date(row - 1).isoformat()
            evidence["changed"] = (
                f"as known on {since} the condition did not hold; it holds as known now"
                if not known_before
                else f"the condition already held as known on {since}"
            )
        return Alert(
            rule=rule.id,
            kind=rule.kind,
            severity=rule.severity,
            subject=panel.subject,
            as_of=day.isoformat(),
            week=iso_week(day),
            value=value,
            threshold=signal.threshold,
            condition=signal.condition,
            message=alert_message(rule, signal, row, self.catalog),
            evidence=evidence,
        )

    def _evidence(
        self, rule: Rule, signal: Signal, results: ScoreResults, row: int
    ) -> dict[str, Any]:
        """Drivers, the observations behind them with their sources, and the citations."""
        panel = results.panel
        indicators: list[str] = []
        drivers: list[dict[str, Any]] = []
        if rule.kind == "red_line":
            indicators = [c.indicator for c in rule.conditions]
        elif rule.kind == "staleness":
            indicators = list(rule.indicators)
        elif rule.target.startswith("indicator:"):
            indicators = [rule.target.split(":")[1]]
        scored = rule.target == "score" or rule.target.startswith("family:")
        if rule.kind in ("threshold", "change") and scored:
            family = rule.target.split(":")[1] if ":" in rule.target else None
            every = results.drivers(row, top=len(panel.indicators))
            picked = [
                d
                for d in every
                if family is None or self.catalog.indicators[d.indicator].family == family
            ][:3]
            drivers = [
                {"indicator": d.indicator, "change": d.change, "reason": d.reason} for d in picked
            ]
            indicators = [d.indicator for d in picked]
        observations = [self._observation(panel, row, name) for name in indicators]
        citations = []
        if rule.citation:
            source = self.catalog.sources[rule.citation["source"]]
            section = rule.citation["section"]
            citations.append(f"{source.reference()}, section \u201c{section}\u201d")
        for obs in observations:
            if obs.get("source"):
                grade = f" [{obs['grade']}]" if obs.get("grade") else ""
                where = f", {obs['citation']}" if obs.get("citation") else ""
                value = f" = {obs['display']}" if obs.get("display") else ""
                citations.append(f"{obs['indicator']}{value}: {obs['source']}{where}{grade}")
        if not drivers:
            drivers = [
                {"indicator": o["indicator"], "change": None, "reason": o["text"]}
                for o in observations
            ]
        return {
            "drivers": drivers,
            "observations": observations,
            "citations": citations,
            "changed": what_changed(rule, signal, row, panel),
            "value_text": alert_value_text(rule, float(signal.value[row]), self.catalog),
            "threshold_text": alert_threshold_text(rule, signal.threshold, self.catalog),
            "profile": self.profile.name,
            "profile_hash": self.profile.weights_hash,
            "description": rule.description,
        }

    def _observation(self, panel: Any, row: int, name: str) -> dict[str, Any]:
        j = panel.column(name)
        indicator = self.catalog.indicators[name]
        status = int(panel.status[row, j])
        raw = float(panel.raw[row, j])
        words = {OK: "current", STALE: "stale"}.get(status, "no value")
        item: dict[str, Any] = {
            "indicator": name,
            "name": indicator.name,
            "status": words,
            "value": None if math.isnan(raw) else raw,
            "display": None if math.isnan(raw) else indicator.describe_value(raw),
        }
        oid = int(panel.obs_id[row, j])
        found = None
        if oid >= 0 and indicator.kind != "event":
            found = self.store.observation_provenance(oid)
        if found:
            period, citation, reliability, credibility, known_from, source = found
            item.update(
                observation_id=oid, period=period, citation=citation or "", source=source or "",
                grade=f"{reliability or ''}{credibility or ''}", known_from=known_from,
            )  # fmt: skip
        shown = item["display"] or "no value"
        age = panel.age_days[row, j]
        aged = "" if math.isnan(age) else f", {int(age)} days old"
        item["text"] = f"{indicator.name}: {shown} ({words}{aged})"
        return item

    # -- persistence -------------------------------------------------------------------

    def load_states(self, subject: str) -> dict[str, RuleState]:
        rows = self.store.alert_states(subject)
        states = {}
        for r in rows:
            states[r["rule"]] = RuleState(
                rule=r["rule"], subject=subject, state=r["state"], run_weeks=r["run_weeks"],
                last_week=_day(r["last_week"]), fired_week=_day(r["fired_week"]),
                alert_id=r["alert_id"],
            )  # fmt: skip
        return states

    def _record(
        self,
        subject: str,
        states: Iterable[RuleState],
        fired: list[Alert],
        resolutions: list[tuple[RuleState, int]],
        panel: Any,
        sig: dict[str, Signal],
    ) -> None:
        """Alerts and states in one transaction (the caller queues mail inside it too)."""
        now = self.store.now()
        with self.store.transaction():
            for alert in fired:
                alert.id, alert.new = self.store.record_alert(
                    dedupe_key=alert.dedupe_key, rule=alert.rule, kind=alert.kind,
                    severity=alert.severity, subject=subject,
                    week_date=week_end(dt.date.fromisoformat(alert.as_of)).isoformat(),
                    as_of=alert.as_of, value=alert.value, threshold=alert.threshold,
                    condition=alert.condition, message=alert.message,
                    evidence=json.dumps(alert.evidence), profile_hash=self.profile.weights_hash,
                    fired_at=now,
                )  # fmt: skip
                if alert.new and self.sink is not None:
                    outbox_id = self.sink.queue(alert)
                    self.store.set_alert_outbox(alert.id, outbox_id)
            by_rule = {a.rule: a.id for a in fired}
            for state, row in resolutions:
                self.store.resolve_alerts(
                    state.rule, subject, resolved_week=iso_week(panel.date(row)),
                    through=week_end(panel.date(row)).isoformat(),
                    resolution=resolution(sig[state.rule], row),
                )  # fmt: skip
            for state in states:
                if state.rule in by_rule:
                    state.alert_id = by_rule[state.rule]
                self.store.save_alert_state(
                    rule=state.rule, subject=subject, state=state.state,
                    run_weeks=state.run_weeks, last_week=_text(state.last_week),
                    fired_week=_text(state.fired_week), alert_id=state.alert_id, updated_at=now,
                )  # fmt: skip

    def _deliver_pending(self, subject: str) -> list[Alert]:
        """Queue the message of every active alert that has none yet (nobody was
        subscribed to its severity when it fired); return those still without one."""
        if self.sink is None:
            return []
        still = []
        with self.store.transaction():
            for alert in self.active_alerts(subject):
                if alert.evidence.get("outbox_id"):
                    continue
                outbox_id = self.sink.queue(alert)
                if outbox_id is None:
                    still.append(alert)
                    continue
                self.store.set_alert_outbox(alert.id, outbox_id)
        return still

    def active_alerts(self, subject: str | None = None) -> list[Alert]:
        return [a for a in list_alerts(self.store, subject=subject) if a.state in ACTIVE_STATES]


def list_alerts(
    store: Store,
    *,
    subject: str | None = None,
    state: str | None = None,
    limit: int | None = None,
) -> list[Alert]:
    """Recorded alerts, newest first."""
    return [alert_from_row(r) for r in store.alerts(subject=subject, state=state, limit=limit)]


def alert_row(store: Store, alert_id: int) -> dict[str, Any]:
    row = store.alert(alert_id)
    if row is None:
        raise NotFoundError(f"alert {alert_id}: no such alert (see `alerts list`)")
    return row


def acknowledge(store: Store, alert_id: int, note: str, by: str = "") -> Alert:
    """Mark an alert as seen; a firing rule then stays quiet until it resolves.

    Once only: the first acknowledgement (note, who, when) is the audit trail.
    """
    row = alert_row(store, alert_id)
    if row["acknowledged_at"]:
        raise InputError(
            f"alert {alert_id} was already acknowledged by {row['acknowledged_by'] or '?'} "
            f"at {row['acknowledged_at']}: {row['ack_note']!r}"
        )
    store.acknowledge_alert(alert_id, rule=row["rule"], subject=row["subject"], note=note, by=by)
    return alert_from_row(alert_row(store, alert_id))


def resolution(signal: Signal, row: int) -> str:
    """Why an alert ended at `row`: its condition cleared, or its evidence went stale."""
    if signal.lapsed is not None and signal.lapsed[row]:
        assert signal.stale_since is not None
        since = dt.date.fromordinal(int(signal.stale_since[row])).isoformat()
        return f"lapsed: the evidence is stale since {since} (the condition is not known to hold)"
    return "cleared: the condition no longer holds"


def _complete_rows(dates: np.ndarray) -> np.ndarray:
    """Rows that are whole weeks (Sundays); the as-of day may end a partial one."""
    weekday = (dates - 1) % 7  # date.fromordinal(1) is a Monday (weekday 0)
    return np.flatnonzero(weekday == SUNDAY)


def _first_row_of_first_check(complete: np.ndarray, last: int) -> int:
    """A rule checked for the first time evaluates only the latest complete week."""
    return int(complete[-1]) if len(complete) else last + 1


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _text(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


class _SignalColumns:
    """Each rule's signal assembled week by week from the signals as known each week
    (the value of week t as known on week t), for a point-in-time replay."""

    NAMES = ("value", "active", "clear", "run", "lapsed", "stale_since")

    def __init__(self, rules: Sequence[Rule], n: int) -> None:
        self.columns: dict[str, dict[str, np.ndarray]] = {
            r.id: {
                "value": np.full(n, np.nan),
                "active": np.zeros(n, bool),
                "clear": np.zeros(n, bool),
                "run": np.zeros(n, np.int64),
                "lapsed": np.zeros(n, bool),
                "stale_since": np.full(n, np.nan),
            }
            for r in rules
        }
        self.template: dict[str, Signal] = {}
        # the arrays being filled, seen as signals by the state machine (which reads
        # `active`, `clear` and `run` of the rows it walks, all filled by then)
        self.walked = {rule_id: self._signal(c, None) for rule_id, c in self.columns.items()}

    def put(self, row: int, now: dict[str, Signal]) -> None:
        for rule_id, s in now.items():
            column = self.columns[rule_id]
            for name in self.NAMES:
                series = getattr(s, name)
                if series is not None:
                    column[name][row] = series[-1]
            self.template[rule_id] = s

    def may_move(self, rule: Rule, state: RuleState, row: int) -> bool:
        """Whether `walk` could fire or resolve `rule` at `row` (else it is not asked:
        the weeks in between move nothing but the scratch state's run of weeks)."""
        c = self.columns[rule.id]
        if state.state in ACTIVE_STATES:
            return bool(c["clear"][row])
        return bool(c["active"][row] and c["run"][row] >= rule.min_weeks)

    def active(self, rule_id: str) -> np.ndarray:
        return self.columns[rule_id]["active"]

    def signals(self) -> dict[str, Signal]:
        return {
            rule_id: self._signal(c, self.template.get(rule_id))
            for rule_id, c in self.columns.items()
        }

    @staticmethod
    def _signal(c: dict[str, np.ndarray], shape: Signal | None) -> Signal:
        return Signal(
            c["value"], c["active"], c["clear"], c["run"],
            shape.threshold if shape else None, shape.condition if shape else "",
            lapsed=c["lapsed"], stale_since=c["stale_since"],
        )  # fmt: skip
