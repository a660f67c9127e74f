"""The warning level of a week, from the store: the one place every face gets it.

    warning = assess_week(store, catalog, profile, rules, "BLR", as_of)
    warning.level, warning.reasons        # "red", ["red line crossed: ...", ...]

From the same data as the score beside it: by default everything in the store (the
best current knowledge, which for the current week is what is known today), with
`point_in_time` only what was published by the date; the forecast is always made as
known on the date. No earlier `alerts check` or stored forecast is needed; a caller
that has just made the week's forecast (the pipeline) passes it, and gets the same
level.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from ..alerts.rules import Rule
from ..alerts.warning import Warning, assess
from ..catalog import Catalog
from ..forecast import Forecast, ModelSpec
from ..periods import iso_week
from ..scoring import CompositeIndex, Profile
from ..store import Store
from .forecasting import forecast_at
from .scoring import panel_builder

__all__ = [
    "WARNING_HORIZON",
    "assess_week",
    "forecast_probability",
    "ranking_note",
    "record_warning",
]

WARNING_HORIZON = 4  # [weeks] the forecast horizon the level looks at


def assess_week(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    rules: Sequence[Rule],
    subject: str,
    as_of: dt.date,
    *,
    forecast: Forecast | None = None,
    point_in_time: bool = False,
) -> Warning:
    """The warning level of the week of `as_of` (reads only)."""
    builder = panel_builder(store, catalog, subject, end=as_of)
    panel = builder.panel(as_of, point_in_time=point_in_time)
    results = CompositeIndex(catalog, profile).fit(panel)
    if not results.panel.n_weeks:
        return _nothing(subject, as_of)
    if forecast is None:
        # The level reads one horizon's probability: no other horizon and no bootstrap
        # interval (neither changes that probability; both cost seconds).
        forecast = forecast_at(
            store, catalog, profile, subject, as_of,
            horizons=(WARNING_HORIZON,), spec=ModelSpec(bootstrap=0),
        )  # fmt: skip
    return assess(
        rules,
        results,
        forecast=forecast_probability(forecast, WARNING_HORIZON),
        horizon_weeks=WARNING_HORIZON,
    )


def record_warning(store: Store, warning: Warning, profile: Profile, subject: str) -> None:
    """Keep the week's level (for `status`, which shows it without recomputing)."""
    store.record_warning(
        {
            "subject": subject,
            "week": warning.week,
            "as_of": warning.as_of,
            "profile_hash": profile.weights_hash,
            "level": warning.level,
            "record": json.dumps(warning.to_dict(), ensure_ascii=False, sort_keys=True),
        }
    )


def ranking_note(store: Store, subject: str, profile: Profile) -> str | None:
    """One line when the stored backtest says the profile's score ranks the weeks
    before an event at or below chance (AUC <= 0.5), else None."""
    newest: dict[int, tuple[float, str, str]] = {}
    for row in reversed(store.backtests(subject, profile.weights_hash)):  # newest first
        auc = json.loads(row["metrics"] or "{}").get("profile_ranking_auc")
        horizon = int(row["horizon_weeks"])
        if auc is not None and horizon not in newest:
            newest[horizon] = (float(auc), row["start"], row["end"])
    failing = {h: v for h, v in sorted(newest.items()) if v[0] <= 0.5}
    if not failing:
        return None
    _, start, end = next(iter(failing.values()))
    aucs = ", ".join(f"{auc:.2f} at {h} weeks" for h, (auc, _, _) in failing.items())
    return (
        f"The score does not rank: in the backtest of {start} .. {end}, weeks before an "
        f"event scored no higher than quiet weeks (AUC {aucs}; 0.5 is chance). Read the "
        "score as a description of the data, not as a warning; the red lines are."
    )


def forecast_probability(forecast: Forecast, weeks: int) -> float | None:
    """The ensemble's probability for the horizon of `weeks` (None if not forecast)."""
    for entry in forecast.horizons:
        if entry.get("weeks") == weeks:
            value = entry.get("probability")
            return None if value is None else float(value)
    return None


def _nothing(subject: str, as_of: dt.date) -> Warning:
    return Warning(
        level="none",
        reasons=(f"{subject}: no observations up to {as_of}",),
        week=iso_week(as_of),
        as_of=as_of.isoformat(),
    )
