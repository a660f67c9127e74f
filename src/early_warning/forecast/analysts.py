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

Pool weights (a skill-weighted linear opinion pool of the ensemble and the analysts'
forecasts of the week): an analyst with no *scored record* yet (fewer than
`MIN_RESOLVED` resolved forecasts, or no both outcomes among them) has a small fixed
share, `NEW_SHARE` (together at most `NEW_SHARES_AT_MOST`); the rest of the pool is
shared by the ensemble and the scored analysts in proportion to their Brier skill, 0
for a negative one (worse than its own base rate). The ensemble's skill is that of its
stored backtest; without one it counts as no skill. When nobody has a positive skill
the rest stays with the ensemble, whose answer is then the prior ("no demonstrated
skill").
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
    "MIN_RESOLVED",
    "NEW_SHARE",
    "NEW_SHARES_AT_MOST",
    "analyst_pool",
    "horizon_pool",
    "not_scored",
    "pool_weight",
    "recorded_on",
    "retrospective",
    "score_analysts",
    "skill_pool",
]

NEW_SHARE = 0.05  # the share of the pool of an analyst with no scored record yet
NEW_SHARES_AT_MOST = 0.25  # of all such analysts together
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
    models, with the skill weight that record earns in the pool on `until`
    (`skill_weight`, None without a scored record, and `weight_basis` in words).

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
        scored[analyst] = record | {"skill_weight": weight, "weight_basis": basis}
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


def pool_weight(
    skill: float | None, resolved: int, what: str = "forecasts"
) -> tuple[float | None, str]:
    """A forecaster's skill weight from its record (None: no scored record yet), and
    the reason in words."""
    if skill is None or resolved < MIN_RESOLVED:
        if skill is None and resolved >= MIN_RESOLVED:
            return None, f"{resolved} resolved {what}, all with the same outcome: no scored record"
        return None, f"{resolved} resolved {what} (fewer than {MIN_RESOLVED}): no scored record"
    words = f"Brier skill {skill:+.3f} over {resolved} resolved {what}"
    if skill <= 0:
        return 0.0, f"{words}: no better than its base rate, no share by skill"
    return float(skill), f"{words}: skill weight {format_number(skill, digits=3)}"


def analyst_pool(
    rows: Sequence[Mapping[str, Any]],
    as_of: dt.date,
    horizon: int,
    severity: int,
    records: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The analysts' forecasts for the same target in the week up to `as_of`.

    Same severity and horizon, made no more than 6 days before `as_of` (so the windows
    nearly coincide); the latest of each analyst counts, with the skill weight its
    track record on `as_of` gives it (`records`: `score_analysts` on that day). A forecast
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
        if weight is None:
            basis += f"; a fixed share of {NEW_SHARE:.0%}"
        forecasts.append(
            {
                "analyst": analyst,
                "probability": float(row["probability"]),
                "made_on": row["made_on"],
                "skill_weight": weight,
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
    probability: float,
    ensemble_weight: float | None,
    ensemble_basis: str,
    analysts: Mapping[str, Any],
) -> dict[str, Any]:
    """The skill-weighted linear pool of the ensemble and the analysts' forecasts.

    `ensemble_weight` is the ensemble's skill weight (`pool_weight` of its backtest;
    None without one: no skill shown). Sets each forecast's `weight` (its share of the
    pool) and returns the shares (`pool_weights`), the pooled probability
    (`pooled_with_analysts`) and the rule in words (`pool_rule`).
    """
    forecasts = analysts["forecasts"]
    new = [f for f in forecasts if f["skill_weight"] is None]
    each = min(NEW_SHARE, NEW_SHARES_AT_MOST / len(new)) if new else 0.0
    rest = 1.0 - each * len(new)
    skill = {f["analyst"]: f["skill_weight"] for f in forecasts if f["skill_weight"] is not None}
    total = (ensemble_weight or 0.0) + sum(skill.values())
    if total > 0:
        ensemble = rest * (ensemble_weight or 0.0) / total
        shares = {name: rest * w / total for name, w in skill.items()}
    else:  # nobody has shown skill: the rest stays with the ensemble (then the prior)
        ensemble, shares = rest, dict.fromkeys(skill, 0.0)
        ensemble_basis += "; nobody has shown skill, so the rest of the pool stays with it"
    shares |= {f["analyst"]: each for f in new}
    for f in forecasts:
        f["weight"] = round(shares[f["analyst"]], 6)
    pooled = probability * ensemble + sum(
        f["probability"] * shares[f["analyst"]] for f in forecasts
    )
    terms = [("the ensemble", ensemble)] + [(f"{f['analyst']}'s forecast", shares[f["analyst"]])
                                             for f in forecasts]  # fmt: skip
    shown = " + ".join(f"{format_number(w, digits=3)} x {name}" for name, w in terms if w > 0)
    return {
        "ensemble_weight_basis": ensemble_basis,
        "pool_weights": {
            "ensemble": round(ensemble, 6),
            "analysts": {f["analyst"]: f["weight"] for f in forecasts},
        },
        "pooled_with_analysts": round(float(pooled), 6),
        "pool_rule": (
            f"skill-weighted linear pool: {shown} (an analyst without a scored record, "
            f"{MIN_RESOLVED} resolved forecasts with both outcomes, has a fixed share of "
            f"{NEW_SHARE:.0%}; the rest is shared by Brier skill over the forecaster's own "
            "base rate, 0 if negative, and stays with the ensemble when nobody has shown "
            "skill; the analysts' latest forecasts for the same severity and horizon made "
            "in the week up to the as-of date)"
        ),
    }


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
        weight: float | None = None
        basis = f"no backtest of the ensemble on record by {as_of}: no skill shown"
    else:
        weight, basis = pool_weight(
            ensemble_record.get("brier_skill"), int(ensemble_record.get("n_origins") or 0),
            "origins",
        )  # fmt: skip
        basis = f"backtest {ensemble_record.get('start')} to {ensemble_record.get('end')}: {basis}"
        if weight is None:
            basis += ", so no skill shown"
    return out | {"analysts": analysts} | skill_pool(probability, weight, basis, analysts)
