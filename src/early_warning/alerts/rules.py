"""Alert rules: `models/alerts.yaml`, validated against the catalog.

Kinds:
  red_line   all conditions on raw indicator values hold (`all: [{indicator, op, value}]`)
  threshold  `target` (score | family:<id> | indicator:<id> for normalised risk |
             forecast:<weeks>) compared with `level` by `op`; re-arms only after falling
             back past `level -/+ hysteresis`; fires after `min_weeks` weeks in a row;
             optional `robust: q` (fire only if P(score above level) >= q)
  change     `target` moved by at least `jump` from the week before
  staleness  any of `indicators` is older than its maximum age (with `missing: true`, or
             has never had a value)

A mistake raises `ProfileError`-like `RuleError` naming the file, the rule and field.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import RuleError
from ..files import read_yaml
from ..numbers import format_number
from ..periods import SUBJECT_PATTERN, subject_problem

__all__ = ["KINDS", "OPERATORS", "SEVERITIES", "Condition", "Rule", "RuleError", "load_rules"]

KINDS = ("red_line", "threshold", "change", "staleness")
SEVERITIES = ("watch", "amber", "red")
OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
_RULE_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TARGET = re.compile(r"score|family:[a-z_]+|indicator:[a-z0-9_]+|forecast:[1-9][0-9]{0,2}")
# The fields each kind reads; any other field is a mistake, not silently ignored.
_COMMON = {"id", "kind", "severity", "description", "cooldown_weeks", "citation", "subjects"}
_FIELDS = {
    "red_line": _COMMON | {"all"},
    "threshold": _COMMON | {"target", "op", "level", "hysteresis", "min_weeks", "robust"},
    "change": _COMMON | {"target", "jump"},
    "staleness": _COMMON | {"indicators", "missing"},
}


@dataclass(frozen=True)
class Condition:
    indicator: str
    op: str
    value: float

    def holds(self, value: float) -> bool:
        return not math.isnan(value) and OPERATORS[self.op](value, self.value)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    severity: str
    description: str
    conditions: tuple[Condition, ...] = ()
    target: str = "score"
    op: str = ">="
    level: float = 0.0
    hysteresis: float = 0.0
    min_weeks: int = 1
    jump: float = 0.0
    robust: float | None = None
    indicators: tuple[str, ...] = ()
    missing: bool = False  # staleness: count never-observed indicators too
    cooldown_weeks: int = 4
    citation: Mapping[str, str] = field(default_factory=dict)
    subjects: tuple[str, ...] = ()  # the subjects the rule is written for; empty: all

    def applies_to(self, subject: str) -> bool:
        return not self.subjects or subject in self.subjects


def load_rules(path: Path, catalog: Catalog) -> list[Rule]:
    """Read and validate an alert-rule file."""
    data = read_yaml(path, RuleError, "rule file")
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{path}: expected a 'rules:' list")
    rules, seen = [], set()
    for position, raw in enumerate(data["rules"], start=1):
        rule = _rule(path, position, raw, catalog)
        if rule.id in seen:
            raise RuleError(f"{path}: rule {rule.id!r}: field 'id': used twice")
        seen.add(rule.id)
        rules.append(rule)
    return rules


def _subjects(raw: Any, fail: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise fail("subjects", "give a list of subject codes (BLR, BLR-RUS)")
    for code in raw:
        if not isinstance(code, str):
            raise fail("subjects", f"{code!r} is not an ISO alpha-3 code or AAA-BBB dyad")
        if not SUBJECT_PATTERN.fullmatch(code):
            raise fail("subjects", subject_problem(code))
    return tuple(raw)


def _rule(path: Path, position: int, raw: Any, catalog: Catalog) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(f"{path}: rule #{position}: expected a mapping")
    rule_id = str(raw.get("id", f"#{position}"))

    def fail(name: str, problem: str) -> RuleError:
        return RuleError(f"{path}: rule {rule_id!r}: field {name!r}: {problem}")

    if not _RULE_ID.fullmatch(rule_id):
        raise fail("id", "use lower-case letters, digits and _")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise fail("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise fail("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
    unknown = set(raw) - _FIELDS[kind]
    if unknown:
        raise fail(sorted(unknown)[0], f"not a field of a {kind} rule")
    description = " ".join(str(raw.get("description") or "").split())
    common = {
        "id": rule_id,
        "kind": kind,
        "severity": severity,
        "description": description or rule_id.replace("_", " ").capitalize() + ".",
        "cooldown_weeks": _whole(raw.get("cooldown_weeks", 4), "cooldown_weeks", fail),
        "citation": _citation(raw.get("citation"), catalog, fail),
        "subjects": _subjects(raw.get("subjects"), fail),
    }
    if kind == "red_line":
        if not common["citation"]:
            raise fail("citation", "a red line carries its citation (source and section)")
        return Rule(**common, conditions=_conditions(raw.get("all"), catalog, fail))
    if kind == "staleness":
        names = raw.get("indicators")
        if not isinstance(names, list) or not names:
            raise fail("indicators", "give a list of indicator ids")
        for name in names:
            if name not in catalog.indicators:
                raise fail("indicators", f"unknown indicator {name!r}")
        missing = raw.get("missing", False)
        if not isinstance(missing, bool):
            raise fail("missing", "true or false")
        return Rule(**common, indicators=tuple(names), missing=missing)
    target = str(raw.get("target", "score"))
    _check_target(target, catalog, fail)
    if kind == "change":
        return Rule(**common, target=target, jump=_number(raw.get("jump"), "jump", fail, low=0.0))
    op = raw.get("op", ">=")
    if op not in (">", ">=", "<", "<="):
        raise fail("op", f"{op!r}: a threshold uses >, >=, < or <=")
    robust = raw.get("robust")
    if robust is not None and (target != "score" or op not in (">", ">=")):
        raise fail("robust", "applies to a rule on the score with > or >=")
    # Scores and risks are on 0-100, forecast probabilities on 0-1: a level outside
    # the scale is a rule that can never fire.
    top = 1.0 if target.startswith("forecast:") else 100.0
    return Rule(
        **common,
        target=target,
        op=op,
        level=_number(raw.get("level"), "level", fail, low=0.0, high=top),
        hysteresis=_number(raw.get("hysteresis", 0), "hysteresis", fail, low=0.0),
        min_weeks=max(1, _whole(raw.get("min_weeks", 1), "min_weeks", fail)),
        robust=None if robust is None else _number(robust, "robust", fail, low=0.0, high=1.0),
    )


def _number(
    value: Any,
    name: str,
    fail: Callable[[str, str], RuleError],
    low: float = -math.inf,
    high: float = math.inf,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(name, f"expected a number, got {value!r}")
    if not low <= value <= high:
        low_text, high_text = format_number(low, digits=6), format_number(high, digits=6)
        bounds = f">= {low_text}" if high == math.inf else f"between {low_text} and {high_text}"
        raise fail(name, f"must be {bounds}")
    return float(value)


def _whole(value: Any, name: str, fail: Callable[[str, str], RuleError]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(name, f"expected a whole number >= 0, got {value!r}")
    return value


def _check_target(target: str, catalog: Catalog, fail: Callable[[str, str], RuleError]) -> None:
    if not _TARGET.fullmatch(target):
        raise fail(
            "target", f"{target!r}: use score, family:<id>, indicator:<id> or forecast:<weeks>"
        )
    kind, _, name = target.partition(":")
    if kind == "family" and name not in catalog.families:
        raise fail("target", f"unknown family {name!r}")
    if kind == "indicator" and name not in catalog.indicators:
        raise fail("target", f"unknown indicator {name!r}")


def _conditions(
    raw: Any, catalog: Catalog, fail: Callable[[str, str], RuleError]
) -> tuple[Condition, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("all", "give a list of conditions {indicator, op, value}")
    conditions = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"indicator", "op", "value"}:
            raise fail("all", "each condition is {indicator, op, value}")
        name, op, value = item["indicator"], item["op"], item["value"]
        if name not in catalog.indicators:
            raise fail("all", f"unknown indicator {name!r}")
        if op not in OPERATORS:
            raise fail("all", f"operator {op!r} is not one of {', '.join(OPERATORS)}")
        indicator = catalog.indicators[name]
        if indicator.kind == "boolean" and op not in ("==", "!="):
            raise fail("all", f"{name} is true or false: compare it with == or !=")
        try:
            number = indicator.parse_value(
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        except ValueError as exc:
            raise fail("all", f"{name}: {exc}") from None
        conditions.append(Condition(name, op, number))
    return tuple(conditions)


def _citation(raw: Any, catalog: Catalog, fail: Callable[[str, str], RuleError]) -> dict[str, str]:
    if raw is None:
        return {}
    if (
        not isinstance(raw, dict)
        or raw.get("source") not in catalog.sources
        or not raw.get("section")
    ):
        raise fail("citation", "give a source key from sources.yaml and a section")
    return {"source": str(raw["source"]), "section": str(raw["section"])}
