"""Scoring with the database: score a subject as known, record what was scored.

The core (`early_warning.scoring`) works on a panel; this module builds the panel from
the store and writes results back only when asked (`record_scores`,
`record_sensitivity`): reading never writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable

import numpy as np

from ..catalog import Catalog
from ..panel import Observations, Panel, PanelBuilder
from ..scoring import CompositeIndex, Profile, ScoreResults, SensitivityResult, analyse
from ..scoring.sensitivity import SOBOL_SAMPLES
from ..store import Store
from .kept import kept

__all__ = [
    "load_panel",
    "panel_builder",
    "record_scores",
    "record_sensitivity",
    "score",
    "sensitivity",
]


def panel_builder(
    store: Store,
    catalog: Catalog,
    subject: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> PanelBuilder:
    """A panel builder over every revision of the subject's observations, read once."""
    rows = Observations.from_julian([i.id for i in catalog], store.observation_days(subject))
    return PanelBuilder.from_rows(catalog, subject, rows, start, end, today=store.today())


def load_panel(
    store: Store,
    catalog: Catalog,
    subject: str,
    as_of: dt.date,
    *,
    point_in_time: bool = False,
    start: dt.date | None = None,
) -> Panel:
    """One panel, straight from the store."""
    builder = panel_builder(store, catalog, subject, start=start, end=as_of)
    return builder.panel(as_of, point_in_time=point_in_time)


def score(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    as_of: dt.date,
    *,
    point_in_time: bool = False,
    start: dt.date | None = None,
    builder: PanelBuilder | None = None,
) -> ScoreResults:
    """Score every week of a subject up to `as_of` under a profile."""
    builder = builder or panel_builder(store, catalog, subject, start=start, end=as_of)
    panel = builder.panel(as_of, point_in_time=point_in_time)
    return CompositeIndex(catalog, profile).fit(panel)


def record_scores(
    store: Store, catalog: Catalog, results: ScoreResults, rows: list[int] | None = None
) -> None:
    """Store weekly scores with the profile hash and data vintage; audit the profile."""
    profile = results.profile
    content = profile.to_yaml(catalog)
    store.record_profile(profile.name, profile.weights_hash, content, "used")
    vintage = store.data_vintage(results.panel.subject)
    now = store.now()
    rows = list(range(results.panel.n_weeks)) if rows is None else rows
    records = []
    for row in rows:
        if np.isnan(results.score[row]):
            continue
        week = results.week(row)
        records.append(
            {
                "subject": week["subject"],
                "week_date": week["week_date"],
                "as_of": results.panel.as_of.isoformat(),
                "point_in_time": int(results.panel.point_in_time),
                "profile": profile.name,
                "profile_hash": profile.weights_hash,
                "catalog_version": catalog.version,
                "data_vintage": vintage,
                "score": week["score"],
                "band": week["band"],
                "coverage": week["coverage"],
                "record": json.dumps(week, ensure_ascii=False),
                "computed_at": now,
            }
        )
    store.record_scores(records)


def sensitivity(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    as_of: dt.date,
    *,
    point_in_time: bool = False,
    draws: int | None = None,
    concentration: float | None = None,
    seed: int | None = None,
    sobol_samples: int = SOBOL_SAMPLES,
    progress: Callable[[int], None] | None = None,
    results: ScoreResults | None = None,
) -> SensitivityResult:
    """Monte Carlo band (weight uncertainty under the profile's own methods), the latest
    score under the other methods, probability of `high` or worse, rank stability and
    Sobol indices with their intervals (`scoring.sensitivity.analyse`).

    The result is kept across processes (`services.kept`), by the scored series it
    reads and its settings; `record_sensitivity` records it in `sensitivity_runs`.
    """
    results = results or score(store, catalog, profile, subject, as_of, point_in_time=point_in_time)
    u = profile.uncertainty
    parts = (
        catalog.version, profile.weights_hash, dataclasses.asdict(u), subject,
        as_of.isoformat(), results.panel.point_in_time, _series_digest(results),
        draws or u.draws, concentration or u.concentration, u.seed if seed is None else seed,
        sobol_samples,
    )  # fmt: skip
    return kept(
        store, "sensitivity", parts,
        lambda: analyse(
            results, draws=draws, concentration=concentration, seed=seed,
            sobol_samples=sobol_samples, progress=progress,
        ),
        SensitivityResult.to_dict, lambda value: SensitivityResult(**value),
    )  # fmt: skip


def _series_digest(results: ScoreResults) -> str:
    """A hash of the scored series an analysis reads: its weeks, every carried value
    with its age, status and observation, and every risk."""
    panel, digest = results.panel, hashlib.sha256()
    for array in (panel.dates, panel.raw, panel.age_days, panel.status, panel.obs_id):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(np.ascontiguousarray(results.risk).tobytes())
    return digest.hexdigest()


def record_sensitivity(store: Store, outcome: SensitivityResult, *, point_in_time: bool) -> None:
    """Keep a sensitivity analysis with its settings, profile hash and data vintage."""
    store.record_sensitivity(
        {
            "subject": outcome.subject,
            "as_of": outcome.as_of,
            "point_in_time": int(point_in_time),
            "profile": outcome.profile,
            "profile_hash": outcome.profile_hash,
            "data_vintage": store.data_vintage(outcome.subject),
            "draws": outcome.draws,
            "concentration": outcome.concentration,
            "seed": outcome.seed,
            "result": json.dumps(outcome.to_dict()),
        }
    )
