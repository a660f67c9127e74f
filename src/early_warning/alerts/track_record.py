"""Every rule's track record from the store: a point-in-time replay scored against
the event record (`skill.score_rules`), kept when asked, read back for the report.

    scores = score_replay(engine, "BLR", start, end)      # reads only
    record_replay_score(store, scores)                     # `alerts replay --score --record`
    stored = stored_replay_score(store, "BLR", profile, rules, as_of)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from ..forecast import DEFAULT_HORIZONS  # a rule is scored at the forecasts' horizons
from ..forecast.targets import events_from_rows
from ..scoring import Profile
from ..store import Store
from .engine import AlertEngine
from .rules import Rule
from .skill import definition_hash, score_rules

__all__ = ["DEFAULT_HORIZONS", "record_replay_score", "score_replay", "stored_replay_score"]


def score_replay(
    engine: AlertEngine,
    subject: str,
    start: dt.date,
    end: dt.date,
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    severity: int = 2,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Each rule that applies to `subject`, replayed point in time from `start` to
    `end` (each week judged on the data as known that week) and scored against the
    subject's events of severity >= `severity` (as recorded now) at each horizon."""
    firings, carried = engine.firings(subject, start, end, point_in_time=True, progress=progress)
    events = events_from_rows(engine.store.events(subject))
    scores = score_rules(
        engine.rules, firings, events, start, end, horizons=horizons, severity=severity,
        firing_at_start=carried,
    )  # fmt: skip
    return {
        "subject": subject,
        "point_in_time": True,
        "profile": engine.profile.name,
        "profile_hash": engine.profile.weights_hash,
        **scores,
    }


def record_replay_score(store: Store, scores: dict[str, Any]) -> int:
    """Keep a replay score (`rule_scores`), where the weekly report finds it."""
    return store.record_rule_scores(
        {
            "subject": scores["subject"],
            "start": scores["start"],
            "end": scores["end"],
            "severity": scores["severity_at_least"],
            "horizons": ",".join(str(h) for h in scores["horizons"]),
            "profile": scores["profile"],
            "profile_hash": scores["profile_hash"],
            "rules": json.dumps({r["rule"]: r["definition_hash"] for r in scores["rules"]}),
            "record": json.dumps(scores),
        }
    )


def stored_replay_score(
    store: Store,
    subject: str,
    profile: Profile,
    rules: Sequence[Rule],
    as_of: dt.date,
    severity: int = 2,
) -> dict[str, Any] | None:
    """The newest kept score of exactly these rules under this profile whose replay
    ended by `as_of` (a later one saw events after it), or None."""
    wanted = {r.id: definition_hash(r) for r in rules if r.applies_to(subject)}
    for row in store.rule_scores(subject, profile.weights_hash):  # newest first
        if row["severity"] != severity or row["end"] > as_of.isoformat():
            continue
        if json.loads(row["rules"]) != wanted:
            continue  # a rule was added, removed or changed since
        found: dict[str, Any] = json.loads(row["record"])
        found["computed_at"] = row["computed_at"]
        return found
    return None
