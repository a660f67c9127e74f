"""The one pipeline: score -> record -> forecast -> record -> warning level -> record ->
check alerts -> mail.

The daemon's `pipeline` job, `early-warning pipeline` and the demo all call
`run_pipeline`, so what the database holds after new data does not depend on which of
them ran (`tests/test_pipeline.py` runs it through each face and compares the rows).

    outcome = run_pipeline(store, catalog, profile, rules, notifier, ["BLR"], as_of)
    outcome.summary()    # "BLR: scored 52.4 (elevated), forecast, 2 new alert(s); ..."
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .alerts import AlertEngine, CheckResult, Notifier, Rule
from .alerts.warning import Warning
from .catalog import Catalog
from .forecast import Forecast
from .scoring import Profile, ScoreResults
from .services import (
    assess_week,
    forecast_at,
    record_forecast,
    record_scores,
    record_warning,
    score,
)
from .store import Store

__all__ = ["PipelineResult", "SubjectOutcome", "run_pipeline"]


@dataclass
class SubjectOutcome:
    """What the pipeline did for one subject."""

    subject: str
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

    def summary(self) -> str:
        words = [s.summary() for s in self.subjects] or ["no subject has observations"]
        if self.mail is not None:
            words.append(f"mail {self.mail.get('sent', 0)} sent")
        return "; ".join(words)


def run_pipeline(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    rules: Sequence[Rule],
    notifier: Notifier,
    subjects: Iterable[str],
    as_of: dt.date,
    *,
    flush: bool = True,
) -> PipelineResult:
    """For each subject: score and record the as-of week, forecast (point in time) and
    record every model's row, check the alert rules (new alerts are queued as mail);
    then flush the outbox once."""
    engine = AlertEngine(store, catalog, profile, rules, sink=notifier)
    result = PipelineResult(as_of)
    for subject in subjects:
        scores = score(store, catalog, profile, subject, as_of)
        record_scores(store, catalog, scores, [scores.latest_row])
        forecast = forecast_at(store, catalog, profile, subject, as_of)
        record_forecast(store, forecast, profile)
        warning = assess_week(store, catalog, profile, rules, subject, as_of, forecast=forecast)
        record_warning(store, warning, profile, subject)
        check = engine.check(subject, as_of, warning=warning)
        result.subjects.append(SubjectOutcome(subject, scores, forecast, check, warning))
    if flush:
        result.mail = notifier.flush()
    return result
