"""The one pipeline: score -> record -> forecast -> record -> warning level -> record ->
check alerts -> mail.

The daemon's `pipeline` job, `early-warning pipeline` and the demo all call
`run_pipeline`, so what the database holds after new data does not depend on which of
them ran (`tests/test_pipeline.py` runs it through each face and compares the rows).

    scopes, outside = pipeline_scopes(catalog, models_dir, store.subjects())
    outcome = run_pipeline(store, scopes, notifier, as_of, outside=outside)
    outcome.summary()    # "BLR: scored 52.4 (elevated), forecast, 2 new alert(s); ..."

Each subject is scored with its theatre's slice of the catalog, profile and rules
(`services.theatres`); a subject of no theatre is named in the summary, not scored.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .alerts import AlertEngine, CheckResult, Notifier
from .alerts.warning import Warning
from .catalog import Catalog
from .forecast import Forecast
from .scoring import ScoreResults
from .services import (
    assess_week,
    forecast_at,
    record_forecast,
    record_scores,
    record_warning,
    score,
)
from .services.theatres import Scope, subject_scope
from .store import Store

__all__ = ["PipelineResult", "SubjectOutcome", "pipeline_scopes", "run_pipeline"]


@dataclass
class SubjectOutcome:
    """What the pipeline did for one subject."""

    subject: str
    theatre: str | None
    scores: ScoreResults
    forecast: Forecast
    check: CheckResult
    warning: Warning

    def summary(self) -> str:
        latest = self.scores.score[-1] if len(self.scores.score) else math.nan
        scored = (
            "scored (insufficient data)"
            if math.isnan(latest)
            else f"scored {latest:.1f} ({self.scores.band(self.scores.latest_row)})"
        )
        return (
            f"{self.subject}: warning {self.warning.level}, {scored}, forecast, "
            f"{len(self.check.fired)} new alert(s)"
        )


@dataclass
class PipelineResult:
    as_of: dt.date
    subjects: list[SubjectOutcome] = field(default_factory=list)
    mail: dict[str, int] | None = None  # the flush's counts; None when not flushed
    outside: list[str] = field(default_factory=list)  # subjects of no theatre, not scored

    def summary(self) -> str:
        words = [s.summary() for s in self.subjects]
        if self.outside:
            words.append(f"{', '.join(self.outside)}: in no theatre, not scored")
        words = words or ["no subject has observations"]
        if self.mail is not None:
            words.append(f"mail {self.mail.get('sent', 0)} sent")
        return "; ".join(words)


def pipeline_scopes(
    catalog: Catalog, models_dir: Path, subjects: Iterable[str], profile: str | None = None
) -> tuple[list[Scope], list[str]]:
    """The scope of each subject (sorted) that belongs to a theatre, and those that do
    not: data kept for a subject no theatre declares (a neighbour's GDP) is not scored."""
    scopes, outside = [], []
    for subject in sorted(subjects):
        if catalog.in_theatre(subject):
            scopes.append(subject_scope(catalog, models_dir, subject, profile))
        else:
            outside.append(subject)
    return scopes, outside


def run_pipeline(
    store: Store,
    scopes: Sequence[Scope],
    notifier: Notifier,
    as_of: dt.date,
    *,
    flush: bool = True,
    outside: Sequence[str] = (),
) -> PipelineResult:
    """For each subject, with its theatre's slice, profile and rules: score and record
    the as-of week, forecast (point in time) and record every model's row, check the
    alert rules (new alerts are queued as mail); then flush the outbox once."""
    result = PipelineResult(as_of, outside=list(outside))
    for scope in scopes:
        result.subjects.append(_run_subject(store, scope, notifier, as_of))
    if flush:
        result.mail = notifier.flush()
    return result


def _run_subject(store: Store, scope: Scope, notifier: Notifier, as_of: dt.date) -> SubjectOutcome:
    catalog, profile, rules, subject = scope.catalog, scope.profile, scope.rules, scope.subject
    engine = AlertEngine(store, catalog, profile, list(rules), sink=notifier)
    scores = score(store, catalog, profile, subject, as_of)
    record_scores(store, catalog, scores, [scores.latest_row])
    forecast = forecast_at(store, catalog, profile, subject, as_of)
    record_forecast(store, forecast, profile)
    warning = assess_week(store, catalog, profile, rules, subject, as_of, forecast=forecast)
    record_warning(store, warning, profile, subject)
    check = engine.check(subject, as_of, warning=warning)
    return SubjectOutcome(subject, scope.theatre_id, scores, forecast, check, warning)
