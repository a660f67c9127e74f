"""Everything the weekly report shows, gathered from the store once.

`gather(...)` computes the numbers (score history, uncertainty band, forecasts, the
stored backtest, alerts, events, the indicator table) so that the chart and layout
code only draws. Every number here is one the command line shows too: the score is
`score --as-of` (best current knowledge), the forecast is `forecast --as-of` (as
known on that day), the band is `sensitivity --as-of`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from ..alerts import Alert, AlertEngine, Rule, list_alerts
from ..alerts.track_record import score_replay, stored_replay_score
from ..alerts.warning import Warning
from ..catalog import Catalog
from ..forecast import Forecast
from ..numbers import format_number
from ..panel import MISSING, OK, STALE
from ..periods import iso_week, parse_week, week_end
from ..scoring import Profile, ScoreResults, SensitivityResult
from ..services import assess_week, forecast_at, ranking_note, score, sensitivity
from ..store import Store

__all__ = ["IndicatorRow", "ReportData", "gather", "parse_week", "source_lines"]

TREND_WEEKS = 156  # three years on the trend chart (at least two, as asked)


@dataclass(frozen=True)
class IndicatorRow:
    """One line of the indicator table."""

    indicator: str
    name: str
    family: str
    value: str  # as the catalog describes it, with the unit
    period: str
    age_days: int | None
    status: str  # current | stale | missing
    risk: float | None  # normalised risk 0-1
    weight: float  # the profile's weight
    contribution: float | None  # points of the score
    source: str
    grade: str
    change: str  # since last week, in words


@dataclass
class ReportData:
    subject: str
    as_of: dt.date
    week: str
    profile: Profile
    catalog: Catalog
    results: ScoreResults | None = None
    record: dict[str, Any] = field(default_factory=dict)  # `score --json` of the week
    previous: dict[str, Any] | None = None
    uncertainty: SensitivityResult | None = None
    forecast: Forecast | None = None
    backtest: dict[int, dict[str, Any]] = field(default_factory=dict)  # horizon -> model -> row
    alerts: list[Alert] = field(default_factory=list)  # fired in the trend window
    active_alerts: list[Alert] = field(default_factory=list)  # firing in the report week
    alerts_checked: bool = False
    rule_scores: dict[str, Any] | None = None  # every rule's replay, scored (`alerts.skill`)
    warning: Warning | None = None  # the week's one level, as every face shows it
    ranking_note: str | None = None  # the stored backtest: the score does not rank
    events: list[dict[str, Any]] = field(default_factory=list)
    indicators: list[IndicatorRow] = field(default_factory=list)
    band_changes: list[dict[str, Any]] = field(default_factory=list)
    data_vintage: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what is missing, in words
    sources: list[str] = field(default_factory=list)  # unhealthy sources, one line each

    @property
    def empty(self) -> bool:
        return self.results is None

    @property
    def trend_rows(self) -> range:
        n = self.results.panel.n_weeks if self.results else 0
        return range(max(0, n - TREND_WEEKS), n)

    def inputs(self) -> dict[str, Any]:
        """What the report was made from (recorded with it)."""
        return {
            "subject": self.subject,
            "as_of": self.as_of.isoformat(),
            "week": self.week,
            "profile": self.profile.name,
            "profile_hash": self.profile.weights_hash,
            "catalog_version": self.catalog.version,
            "data_vintage": self.data_vintage,
            "versions": self.versions,
            "sources": self.sources,
        }


def gather(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    as_of: dt.date,
    rules: Sequence[Rule] = (),
    sources: Sequence[Mapping[str, Any]] = (),
) -> ReportData:
    """`sources`: the health of the data sources (`status --json` "sources", which the
    daemon reads from its job runs); page 1 names each unhealthy one."""
    data = ReportData(subject, as_of, iso_week(as_of), profile, catalog)
    data.sources = source_lines(sources)
    data.versions = _versions()
    data.data_vintage = store.data_vintage(subject)
    if subject not in store.subjects():
        data.notes.append(f"No observations for {subject} in the database.")
        return data
    results = score(store, catalog, profile, subject, as_of)
    if not results.panel.n_weeks:
        data.notes.append(f"No week to score for {subject} up to {as_of}.")
        return data
    data.results = results
    data.record = results.week(-1)
    data.previous = results.week(-2) if results.panel.n_weeks > 1 else None
    if data.record["score"] is None:
        data.notes.append(
            f"Insufficient data to score {subject} in week {data.week}: the coverage "
            f"({data.record['coverage']:.0%}) is below the profile's minimum."
        )
    data.uncertainty = sensitivity(store, catalog, profile, subject, as_of, results=results)
    data.forecast = forecast_at(store, catalog, profile, subject, as_of)
    data.warning = assess_week(
        store, catalog, profile, rules, subject, as_of, forecast=data.forecast
    )
    data.ranking_note = ranking_note(store, subject, profile)
    data.backtest = _backtest(store, subject, profile)
    _alerts(store, data)
    first_day = results.panel.date(data.trend_rows.start)
    data.rule_scores = _rule_scores(store, catalog, profile, rules, subject, as_of, first_day)
    data.events = [
        e
        for e in store.events(subject)
        if first_day.isoformat() <= str(e["date"]) <= as_of.isoformat()
    ]
    data.indicators = _indicator_rows(store, results)
    data.band_changes = _band_changes(results)
    return data


def source_lines(sources: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per unhealthy source, for page 1: "GDELT silent since
    2026-11-30T12:00Z", or the failure that keeps it unhealthy."""
    lines = []
    for source in sources:
        if source.get("healthy"):
            continue
        name = str(source["name"])
        shown = name.upper() if name.lower() == "gdelt" else name
        if source.get("silent_since"):
            lines.append(f"{shown} silent since {_minute(str(source['silent_since']))}")
        elif source.get("last_outcome") is None:
            lines.append(f"{shown} has not run yet")
        else:
            why = " ".join(str(source.get("problem") or source.get("last_error") or "").split())
            lines.append(f"{shown}: " + why[:200] + ("..." if len(why) > 200 else ""))
    return lines


def _minute(stamp: str) -> str:
    """'2026-11-30T12:00:05.123+00:00' -> '2026-11-30T12:00Z' (UTC, to the minute)."""
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _versions() -> dict[str, str]:
    names = ("early-warning", "numpy", "scipy", "statsmodels", "scikit-learn", "SALib")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _backtest(store: Store, subject: str, profile: Profile) -> dict[int, dict[str, Any]]:
    """The newest stored track record per horizon and model for this profile."""
    rows = store.backtests(subject, profile.weights_hash)
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        entry = dict(row)
        entry["metrics"] = json.loads(row["metrics"] or "{}")
        found.setdefault(int(row["horizon_weeks"]), {})[row["model"]] = entry
    return dict(sorted(found.items()))


def _alerts(store: Store, data: ReportData) -> None:
    assert data.results is not None
    end = week_end(data.as_of).isoformat()
    first = data.results.panel.date(data.trend_rows.start).isoformat()
    every = list_alerts(store, subject=data.subject)
    data.alerts_checked = store.alerts_checked_since(data.subject, first)
    fired = [a for a in every if first <= a.as_of <= data.as_of.isoformat()]
    data.alerts = sorted(fired, key=lambda a: (a.as_of, a.rule))
    week = data.week
    # Active this week: fired by the end of it (even before the trend window), not resolved.
    data.active_alerts = [
        a
        for a in sorted(every, key=lambda a: (a.as_of, a.rule))
        if a.as_of <= data.as_of.isoformat()
        and week_end(dt.date.fromisoformat(a.as_of)).isoformat() <= end
        and (not a.evidence.get("resolved_week") or a.evidence["resolved_week"] > week)
    ]


def _rule_scores(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    rules: Sequence[Rule],
    subject: str,
    as_of: dt.date,
    first_day: dt.date,
) -> dict[str, Any] | None:
    """How each rule would have done: the newest kept score of these very rules under
    this profile that ended by `as_of` (`alerts replay --score --record`), else a
    replay over the trend chart's weeks computed now and not kept."""
    if not any(r.applies_to(subject) for r in rules):
        return None
    stored = stored_replay_score(store, subject, profile, rules, as_of)
    if stored is not None:
        return stored
    engine = AlertEngine(store, catalog, profile, rules)
    return score_replay(engine, subject, first_day, as_of)


def _indicator_rows(store: Store, results: ScoreResults) -> list[IndicatorRow]:
    panel, catalog, profile = results.panel, results.index.catalog, results.profile
    row = panel.n_weeks - 1
    ids = [int(i) for i in panel.obs_id[row] if i >= 0]
    sources = {}
    if ids:
        for r in store.observation_sources(ids):
            sources[r["id"]] = r
    rows = []
    for family in catalog.families.values():
        for ind_id in family.indicators:
            j = panel.column(ind_id)
            ind = catalog.indicators[ind_id]
            status = {OK: "current", STALE: "stale"}.get(int(panel.status[row, j]), "missing")
            raw = float(panel.raw[row, j])
            obs = sources.get(int(panel.obs_id[row, j]), {})
            age = panel.age_days[row, j]
            risk = float(results.risk[row, j])
            contribution = float(results.agg.contributions[row, j])
            events = int(panel.events[row, j])
            shown = "" if math.isnan(raw) else ind.describe_value(raw, events=events)
            rows.append(
                IndicatorRow(
                    indicator=ind_id,
                    name=ind.name,
                    family=family.id,
                    value="-" if math.isnan(raw) else shown,
                    period=str(obs.get("period") or ("events" if ind.kind == "event" else "-")),
                    age_days=None if math.isnan(age) else int(age),
                    status=status,
                    risk=None if math.isnan(risk) else risk,
                    weight=float(profile.indicator_weights[ind_id]),
                    contribution=contribution if status != "missing" else None,
                    source=str(obs.get("source") or ""),
                    grade=f"{obs.get('reliability') or ''}{obs.get('credibility') or ''}",
                    change=_change(panel, row, j, ind),
                )
            )
    return rows


def _change(panel: Any, row: int, j: int, ind: Any) -> str:
    if row == 0:
        return ""
    before, after = panel.raw[row - 1, j], panel.raw[row, j]
    was, now = panel.status[row - 1, j], panel.status[row, j]
    if ind.lifetime == "event":  # a decayed sum: say what happened, not its arithmetic
        if panel.events[row, j] > panel.events[row - 1, j] or (
            panel.obs_id[row, j] != panel.obs_id[row - 1, j]
        ):
            return "new event"
        return "decaying" if now == OK and before != after else ""
    if now == OK and was != OK:
        return "new" if was != STALE else "current again"
    if now != OK and was == OK:
        return "went stale" if now == STALE else "gone"
    if now != MISSING and before != after:
        if ind.kind == "continuous":
            return format_number(after - before, digits=4, signed=True)
        return f"{ind.describe_value(before)} -> {ind.describe_value(after)}"
    return ""


def _band_changes(results: ScoreResults, top: int = 6) -> list[dict[str, Any]]:
    """What would move the band: each heavy indicator at its riskiest and safest.

    Rescored exactly (the profile's own aggregation), one indicator at a time, with
    everything else as it is; only indicators with a current value can move.
    """
    row = results.panel.n_weeks - 1
    now = results.score[row]
    if math.isnan(now):
        return []
    index, risk = results.index, results.risk[row : row + 1]
    band = results.band(row)
    weights = np.array([results.profile.indicator_weights[i] for i in index.indicators])
    order = np.argsort(-weights * ~np.isnan(risk[0]), kind="stable")
    out = []
    for j in order[:top]:
        if np.isnan(risk[0, j]):
            continue
        moved = {}
        for label, value in (("riskiest", 1.0), ("safest", 0.0)):
            trial = risk.copy()
            trial[0, j] = value
            new = float(index.aggregate(trial).score[0])
            moved[label] = {"score": round(new, 2), "band": results.profile.band(new)}
        out.append(
            {
                "indicator": index.indicators[j],
                "name": index.catalog.indicators[index.indicators[j]].name,
                "risk": round(float(risk[0, j]), 3),
                "now": round(float(now), 2),
                "band": band,
                **moved,
            }
        )
    return out
