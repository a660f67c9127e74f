"""Alerts as records: the crossing, what one check found, and the words of a message
(pure: the alert service reads and writes them through the store)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..catalog import Catalog
from ..numbers import format_number
from .rules import Rule
from .signals import Signal

__all__ = [
    "Alert",
    "AlertSink",
    "CheckResult",
    "alert_from_row",
    "alert_message",
    "alert_threshold_text",
    "alert_value_text",
    "what_changed",
]


@dataclass
class Alert:
    """One crossing: the `alerts check --json` record (DESIGN.md 3.4) and its evidence."""

    rule: str
    kind: str
    severity: str
    subject: str
    as_of: str  # the date of the week evaluated when it fired
    week: str  # its ISO week
    value: float | None
    threshold: float | None
    condition: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    state: str = "firing"
    new: bool = True
    provisional: bool = False  # fired on a week not yet complete (the as-of day)

    @property
    def value_text(self) -> str:
        """The value as people read it: as the check wrote it, with its unit ("30,000
        persons"), or the number alone for an alert recorded before it did."""
        written = self.evidence.get("value_text")
        return written or format_number(self.value, digits=4, missing="no value")

    @property
    def threshold_text(self) -> str:
        """The threshold as the check wrote it ("false", "13,000 persons"), or the
        number alone for an alert recorded before it did."""
        written = self.evidence.get("threshold_text")
        return written or format_number(self.threshold, digits=6, missing="-")

    @property
    def dedupe_key(self) -> str:
        return f"{self.rule}:{self.subject}:{self.week}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "subject": self.subject,
            "as_of": self.as_of,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "id": self.id,
            "kind": self.kind,
            "week": self.week,
            "condition": self.condition,
            "state": self.state,
            "new": self.new,
            "dedupe_key": self.dedupe_key,
            "drivers": self.evidence.get("drivers", []),
            "citations": self.evidence.get("citations", []),
            "changed": self.evidence.get("changed", ""),
            "resolution": self.evidence.get("resolution"),
            "warning": self.evidence.get("warning"),
        }


@dataclass
class CheckResult:
    """What one `alerts check` found for one subject."""

    subject: str
    as_of: str
    weeks_evaluated: list[str]
    fired: list[Alert]  # new alerts of this check
    active: list[Alert]  # every alert firing or acknowledged after the check
    resolved: list[str]  # rule ids that resolved in this check
    not_evaluable: list[str]  # rules with no value in the latest week (and why)
    dry_run: bool = False
    undelivered: list[Alert] = field(default_factory=list)  # active, no message: nobody subscribed

    def to_list(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.active]


class AlertSink(Protocol):
    def queue(self, alert: Alert) -> int | None:
        """Queue the alert's message; its outbox id, or None if nobody is to receive it."""
        ...


def alert_from_row(row: Mapping[str, Any]) -> Alert:
    evidence = json.loads(row["evidence"] or "{}")
    alert = Alert(
        rule=row["rule"], kind=row["kind"], severity=row["severity"], subject=row["subject"],
        as_of=row["as_of"], week=row["dedupe_key"].rsplit(":", 1)[1], value=row["value"],
        threshold=row["threshold"], condition=row["condition"] or "",
        message=row["message"], evidence=evidence, id=row["id"], state=row["state"], new=False,
    )  # fmt: skip
    alert.evidence.update(
        acknowledged_at=row["acknowledged_at"], acknowledged_by=row["acknowledged_by"],
        ack_note=row["ack_note"], resolved_week=row["resolved_week"],
        resolution=row.get("resolution"),
        fired_at=row["fired_at"], outbox_id=row["outbox_id"],
        delivery=row.get("delivery") or "not mailed: nobody subscribed to its severity",
    )  # fmt: skip
    return alert


def alert_message(rule: Rule, signal: Signal, row: int, catalog: Catalog) -> str:
    value = signal.value[row]
    if rule.kind == "red_line":
        first = rule.conditions[0]
        shown = catalog.indicators[first.indicator].describe_value(float(value))
        return f"Red line crossed: {rule.description} ({first.indicator} is {shown})"
    if rule.kind == "staleness":
        state = "without a current value" if rule.missing else "stale"
        return f"Data quality: {rule.description} ({int(value)} {state})"
    if rule.kind == "change":
        return f"{rule.description} ({rule.target} {format_number(value, signed=True)} in a week)"
    return f"{rule.description} ({rule.target} is {format_number(value)}; {signal.condition})"


def alert_threshold_text(rule: Rule, threshold: float | None, catalog: Catalog) -> str:
    """A red line's level as its indicator reads it (a boolean's "false", not 0)."""
    if threshold is None:
        return "-"
    if rule.kind == "red_line":
        return catalog.indicators[rule.conditions[0].indicator].describe_value(threshold)
    return format_number(threshold, digits=6)


def alert_value_text(rule: Rule, value: float, catalog: Catalog) -> str:
    """What an alert's value is, in words: a red line's first indicator with its unit,
    a score's points, a count of stale indicators, a forecast's probability."""
    if math.isnan(value):
        return "no value"
    if rule.kind == "red_line":
        return catalog.indicators[rule.conditions[0].indicator].describe_value(value)
    if rule.kind == "staleness" or rule.target.startswith("forecast:"):
        return format_number(value)
    return format_number(value, "points", digits=4, signed=rule.kind == "change")


def what_changed(rule: Rule, signal: Signal, row: int, panel: Any) -> str:
    if row == 0:
        return "first week of the record"
    values = signal.series if signal.series is not None else signal.value
    before, now = values[row - 1], values[row]
    since = panel.date(row - 1).isoformat()
    if rule.kind == "red_line":
        if signal.active[row - 1]:
            return f"on the data known now, the condition also held for the week of {since}"
        return f"the condition did not hold for the week of {since} and holds now"
    name = rule.target if rule.kind in ("threshold", "change") else "stale key indicators"
    if math.isnan(before):
        return f"{name}: no value on {since}; {format_number(now, digits=4)} now"
    change = format_number(now - before, digits=4, signed=True)
    return (
        f"{name}: {format_number(before, digits=4)} on {since}, "
        f"{format_number(now, digits=4)} now ({change})"
    )
