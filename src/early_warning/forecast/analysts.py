"""Analysts' own forecasts held to account (pure: no database).

A forecast is *made* on the day it is recorded (`recorded_at`, the store's clock, in
UTC like `made_on`'s default). One entered on a later day than the `made_on` it gives
(`forecast add --made-on` in the past) is *retrospective*: kept and listed, but never
scored and never pooled, because whoever entered it already knew what happened in
between.

An analyst's *track record* as known on a day: their forecasts for the subject (any
horizon and severity) whose horizon has passed by then, each against the events known
by then; the Brier score, and the Brier skill against their own base rate (the share
of their forecasts that came true, as a constant forecast: skill means telling the
eventful periods from the quiet ones, not guessing the overall frequency).

Pool weights (a skill-weighted linear opinion pool): each forecaster, every analyst
and the model ensemble (by its stored backtest), weighs its Brier skill when it has a
*scored record* (at least `MIN_RESOLVED` resolved forecasts, both outcomes among
them); 0 when that skill is negative (worse than its own base rate); `DEFAULT_WEIGHT`
while it has no scored record. The pooled probability is the weighted mean; when no
forecaster has a positive weight nothing is pooled, and the words say so.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..numbers import format_number
from .metrics import brier, brier_skill, log_loss
from .targets import EventSet, event_within

__all__ = [
    "DEFAULT_WEIGHT",
    "MIN_RESOLVED",
    "analyst_pool",
    "horizon_pool",
    "not_scored",
    "pool_weight",
    "recorded_on",
    "retrospective",
    "score_analysts",
    "skill_pool",
]

DEFAULT_WEIGHT = 0.05  # a forecaster with no scored record yet
MIN_RESOLVED = 5  # resolved forecasts (both outcomes among them) before skill counts
WINDOW_DAYS = 6  # an analyst's forecast counts for an as-of date up to 6 days after it


def recorded_on(row: Mapping[str, Any]) -> dt.date:
    """The day a forecast was entered (its `recorded_at`, UTC)."""
    return dt.date.fromisoformat(str(row["recorded_at"])[:10])


def retrospective(row: Mapping[str, Any]) -> bool:
    """Entered on a later day than the day it says it was made."""
    return dt.date.fromisoformat(row["made_on"]) < recorded_on(row)


def score_analysts(
    rows: Sequence[Mapping[str, Any]], events: EventSet, until: dt.date
) -> dict[str, Any]:
    """Each analyst's forecasts whose horizon has passed by `until`, scored like the
    models, with the weight the analyst would carry in the pool on `until`.

    Retrospective forecasts are left out (`not_scored` lists them). `events` are the
    events as known when scoring (for the pool on a past day: those known by then).
    """
    by_analyst: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        if retrospective(row):
            continue
        made = dt.date.fromisoformat(row["made_on"]).toordinal()
        horizon = int(row["horizon_weeks"])
        if made + 7 * horizon > until.toordinal():
            continue  # not resolved yet
        outcome = event_within(np.array([made]), events.at_least(int(row["severity"])), horizon)[0]
        p, y = by_analyst.setdefault(row["analyst"], ([], []))
        p.append(float(row["probability"]))
        y.append(float(outcome))
    scored = {}
    for analyst, (p, y) in sorted(by_analyst.items()):
        pa, ya = np.array(p), np.array(y)
        skill = brier_skill(pa, ya, np.full(len(ya), ya.mean()))
        record = {
            "resolved": len(p),
            "came_true": int(ya.sum()),
            "brier": round(brier(pa, ya), 6),
            "brier_skill": None if math.isnan(skill) else round(skill, 6),
            "log_loss": round(log_loss(pa, ya), 6),
        }
        weight, basis = pool_weight(record["brier_skill"], len(p))
        scored[analyst] = record | {"pool_weight": weight, "weight_basis": basis}
    return scored


def not_scored(rows: Sequence[Mapping[str, Any]], until: dt.date) -> list[dict[str, Any]]:
    """The analysts' forecasts `score_analysts` leaves out on `until`, and why."""
    out = []
    for row in rows:
        made = dt.date.fromisoformat(row["made_on"])
        resolves = made + dt.timedelta(weeks=int(row["horizon_weeks"]))
        if retrospective(row):
            reason = (
                f"retrospective: entered on {recorded_on(row)} for {made}; never scored "
                "(only a forecast recorded on the day it is made is held to account)"
            )
        elif resolves > until:
            reason = f"open: resolves on {resolves}"
        else:
            continue
        out.append(
            {
                "analyst": row["analyst"],
                "made_on": row["made_on"],
                "recorded_on": recorded_on(row).isoformat(),
                "weeks": int(row["horizon_weeks"]),
                "severity": int(row["severity"]),
                "probability": float(row["probability"]),
                "reason": reason,
            }
        )
    return out


def pool_weight(skill: float | None, resolved: int, what: str = "forecasts") -> tuple[float, str]:
    """A forecaster's weight in the pool from its record, and the reason in words."""
    if skill is None or resolved < MIN_RESOLVED:
        shown = format_number(DEFAULT_WEIGHT, digits=3)
        if skill is None and resolved >= MIN_RESOLVED:
            why = f"{resolved} resolved {what}, all with the same outcome: skill not measurable"
        else:
            why = f"{resolved} resolved {what} (fewer than {MIN_RESOLVED}): no scored record"
        return DEFAULT_WEIGHT, f"{why}; default weight {shown}"
    words = f"Brier skill {skill:+.3f} over {resolved} resolved {what}"
    if skill <= 0:
        return 0.0, f"{words}: no better than its base rate, weight 0"
    return float(skill), f"{words}: weight {format_number(skill, digits=3)}"


def analyst_pool(
    rows: Sequence[Mapping[str, Any]],
    as_of: dt.date,
    horizon: int,
    severity: int,
    records: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The analysts' forecasts for the same target in the week up to `as_of`.

    Same severity and horizon, made no more than 6 days before `as_of` (so the windows
    nearly coincide); the latest of each analyst counts, with the weight its track
    record on `as_of` gives it (`records`: `score_analysts` on that day). A forecast
    that claims that week but was entered later is listed in `not_pooled`: "not known
    yet on <as_of>" when it was entered after `as_of`, "retrospective" otherwise.
    """
    records = records or {}
    current: dict[str, Mapping[str, Any]] = {}
    left_out = []
    for row in rows:
        made = dt.date.fromisoformat(row["made_on"])
        if (
            row["horizon_weeks"] != horizon
            or row["severity"] != severity
            or not 0 <= (as_of - made).days <= WINDOW_DAYS
        ):
            continue
        entered = recorded_on(row)
        if entered > as_of:
            reason = f"not known yet on {as_of}: entered on {entered}"
        elif retrospective(row):
            reason = f"retrospective: entered on {entered} for {made}; never pooled"
        else:
            current[row["analyst"]] = row
            continue
        left_out.append(
            {
                "analyst": row["analyst"],
                "probability": float(row["probability"]),
                "made_on": row["made_on"],
                "recorded_on": entered.isoformat(),
                "reason": reason,
            }
        )
    forecasts = []
    for analyst, row in sorted(current.items()):
        record = records.get(analyst, {})
        weight, basis = pool_weight(record.get("brier_skill"), int(record.get("resolved", 0)))
        forecasts.append(
            {
                "analyst": analyst,
                "probability": float(row["probability"]),
                "made_on": row["made_on"],
                "weight": weight,
                "weight_basis": basis,
                "resolved": int(record.get("resolved", 0)),
                "brier_skill": record.get("brier_skill"),
            }
        )
    values = [f["probability"] for f in forecasts]
    return {
        "count": len(forecasts),
        "mean": round(float(np.mean(values)), 6) if values else None,
        "forecasts": forecasts,
        "not_pooled": left_out,
    }


def skill_pool(
    probability: float, ensemble_weight: float, ensemble_basis: str, analysts: Mapping[str, Any]
) -> dict[str, Any]:
    """The skill-weighted linear pool of the ensemble and the analysts' forecasts.

    Returns the normalised weights (`pool_weights`), the pooled probability
    (`pooled_with_analysts`, absent when no forecaster has a positive weight) and the
    rule in words (`pool_rule`).
    """
    named = {f["analyst"]: f["weight"] for f in analysts["forecasts"]}
    total = ensemble_weight + sum(named.values())
    out: dict[str, Any] = {"ensemble_weight_basis": ensemble_basis}
    if total <= 0:
        out["pool_weights"] = {"ensemble": 0.0, "analysts": dict.fromkeys(named, 0.0)}
        out["pool_rule"] = (
            "skill-weighted linear pool: no forecaster has a positive weight (none has "
            "beaten its base rate), so nothing is pooled"
        )
        return out
    share = {name: w / total for name, w in named.items()}
    pooled = probability * ensemble_weight / total + sum(
        f["probability"] * share[f["analyst"]] for f in analysts["forecasts"]
    )
    terms = [("the ensemble", ensemble_weight / total)] + [
        (f"{name}'s forecast", w) for name, w in share.items()
    ]
    shown = " + ".join(f"{format_number(w, digits=3)} x {name}" for name, w in terms if w > 0)
    out["pool_weights"] = {
        "ensemble": round(ensemble_weight / total, 6),
        "analysts": {name: round(w, 6) for name, w in share.items()},
    }
    out["pooled_with_analysts"] = round(float(pooled), 6)
    out["pool_rule"] = (
        f"skill-weighted linear pool: {shown} (each forecaster weighs its Brier skill "
        f"over its own base rate once it has {MIN_RESOLVED} resolved forecasts, 0 if that "
        f"is negative, {format_number(DEFAULT_WEIGHT, digits=3)} until then; the "
        "analysts' latest forecasts for the same severity and horizon made in the week "
        "up to the as-of date)"
    )
    return out


def horizon_pool(
    probability: float,
    rows: Sequence[Mapping[str, Any]],
    records: Mapping[str, Mapping[str, Any]],
    as_of: dt.date,
    horizon: int,
    severity: int,
    ensemble_record: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The analysts' part of a forecast's horizon: who forecast the same target that
    week and with what weight (`analysts`), the pool with the ensemble
    (`pool_weights`, `pooled_with_analysts`, `pool_rule`), and the forecasts that
    claim that week but are not pooled, with the reason (`analysts_not_pooled`).

    `ensemble_record` is the ensemble's stored backtest at this horizon (`brier_skill`,
    `n_origins`, `start`, `end`), or None when there is none by `as_of`.
    """
    analysts = analyst_pool(rows, as_of, horizon, severity, records)
    left_out = analysts.pop("not_pooled")
    out: dict[str, Any] = {"analysts_not_pooled": left_out} if left_out else {}
    if not analysts["count"] or math.isnan(probability):
        return out
    if ensemble_record is None:
        weight, basis = pool_weight(None, 0, "origins")
        basis = f"no backtest of the ensemble on record by {as_of} ({basis})"
    else:
        weight, basis = pool_weight(
            ensemble_record.get("brier_skill"), int(ensemble_record.get("n_origins") or 0),
            "origins",
        )  # fmt: skip
        basis = f"backtest {ensemble_record.get('start')} to {ensemble_record.get('end')}: {basis}"
    return out | {"analysts": analysts} | skill_pool(probability, weight, basis, analysts)
