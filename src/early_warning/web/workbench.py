"""The analyst workbench's engine: rescoring, comparing and saving weight profiles.

HTTP-free, so it is tested and benchmarked on its own; `web.app` is a thin layer over it.
A `Session` keeps, for one subject and as-of date, what does not change while weights
move: the panel, the normalised risks, the saved profile's history and uncertainty band.
A slider move then costs one aggregation of the cached risks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..errors import InputError, NotFoundError, ProfileError
from ..forecast.metrics import roc_auc
from ..forecast.targets import event_within, events_from_rows
from ..panel import Panel, PanelBuilder
from ..scoring import CompositeIndex, Profile, ScoreResults, load_profile
from ..scoring.profiles import AGGREGATIONS, list_profiles, save_profile
from ..scoring.sensitivity import monte_carlo
from ..store import Store

__all__ = ["Session", "Workbench"]

PROFILE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,40}")
MAX_WEIGHT = 100.0
HORIZONS = (4, 12)


@dataclass
class Session:
    """What stays fixed while the weights move."""

    subject: str
    as_of: dt.date
    panel: Panel
    risk: np.ndarray
    saved: Profile
    saved_results: ScoreResults
    low: np.ndarray
    high: np.ndarray
    events: list[dict[str, Any]]


class Workbench:
    def __init__(self, db_path: Path, catalog: Catalog, models_dir: Path) -> None:
        self.db_path = db_path
        self.catalog = catalog
        self.models_dir = models_dir
        self._sessions: dict[tuple[str, str, str], Session] = {}
        self._lock = threading.Lock()

    def store(self) -> Store:
        return Store(self.db_path)

    # -- sessions ----------------------------------------------------------------------

    def data_end(self, store: Store, subject: str) -> dt.date:
        """The day the subject's newest figure became known (scores stop being fresh there)."""
        newest = store.db.execute(
            "SELECT max(known_from) FROM observations WHERE subject = ?", [subject]
        ).fetchone()[0]
        if newest is None:
            raise NotFoundError(f"no observations for {subject}")
        return min(dt.date.fromisoformat(newest[:10]), store.today())

    def session(
        self, subject: str, profile: str = "default", as_of: dt.date | None = None
    ) -> Session:
        """The cached session of a subject and saved profile (rebuilt when the profile file
        changes, or after `forget`): a slider move costs no file or database access."""
        path = self.models_dir / "weights" / f"{profile}.yaml"
        named = PROFILE_NAME.fullmatch(profile) and path.exists()
        stamp = path.stat().st_mtime_ns if named else 0
        key = (subject, as_of.isoformat() if as_of else "", f"{profile}:{stamp}")
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
        saved = load_profile(self.models_dir, profile, self.catalog)
        with self.store() as store:
            day = as_of or self.data_end(store, subject)
            builder = PanelBuilder.from_store(store, self.catalog, subject, end=day)
            panel = builder.panel(day)
            events = [e for e in store.events(subject) if str(e["date"]) <= day.isoformat()]
        index = CompositeIndex(self.catalog, saved)
        risk = index.normalise(panel)
        results = ScoreResults(index, panel, risk, index.aggregate(risk))
        u = saved.uncertainty
        draws = min(u.draws, 500)
        mc = monte_carlo(results, draws=draws, concentration=u.concentration, seed=u.seed)
        session = Session(subject, day, panel, risk, saved, results, mc.low, mc.high, events)
        with self._lock:
            self._sessions[key] = session
        return session

    def forget(self) -> None:
        """Drop cached sessions (after new data or a saved profile)."""
        with self._lock:
            self._sessions.clear()

    # -- the edited profile ----------------------------------------------------------------

    def edited(self, base: Profile, payload: dict[str, Any]) -> Profile:
        """The base profile with the weights, aggregation and bands of a request, validated."""
        indicators = _weights(payload.get("indicators", {}), self.catalog.indicators, "indicator")
        families = _weights(payload.get("families", {}), self.catalog.families, "family")
        profile = base.with_weights(indicators, families)
        aggregation = payload.get("aggregation", profile.aggregation)
        if aggregation not in AGGREGATIONS:
            raise InputError(
                f"aggregation: {aggregation!r} is not one of {', '.join(AGGREGATIONS)}"
            )
        profile = dataclasses.replace(profile, aggregation=aggregation)
        if "bands" in payload:
            bands = payload["bands"]
            if not isinstance(bands, list) or len(bands) != 4:
                raise InputError(
                    "bands: give the four lower bounds (guarded, elevated, high, severe)"
                )
            profile = dataclasses.replace(profile, bands=tuple(_number(b, "bands") for b in bands))
        self._check(profile)
        return profile

    def _check(self, profile: Profile) -> None:
        """What a profile file must satisfy, checked without writing one (a slider moves
        many times a second): bands rising, some family with weight and weighted members."""
        if any(b >= a for a, b in zip(profile.bands[1:], profile.bands[:-1], strict=True)):
            raise ProfileError("bands: each lower bound must be above the one before")
        usable = [
            f.id
            for f in self.catalog.families.values()
            if profile.family_weights[f.id] > 0
            and any(profile.indicator_weights[i] > 0 for i in f.indicators)
        ]
        if not usable:
            raise ProfileError(
                "family weights: at least one family with weight and weighted indicators"
            )

    def rescore(self, session: Session, payload: dict[str, Any]) -> dict[str, Any]:
        """The whole history under the edited weights, against the saved profile."""
        started = time.perf_counter()
        profile = self.edited(session.saved, payload)
        index = CompositeIndex(self.catalog, profile)
        agg = index.aggregate(session.risk)
        n = session.panel.n_weeks
        row = payload.get("row", n - 1)
        if isinstance(row, bool) or not isinstance(row, int) or not -n <= row < n:
            raise InputError(f"row: a week number from 0 to {n - 1}")
        week = _week(index, session, row % n)
        score = agg.score
        changed = np.flatnonzero(
            _band_index(score, profile.bands) != _band_index(session.saved_results.score,
                                                             session.saved.bands)
        )  # fmt: skip
        seconds = time.perf_counter() - started
        return {
            "subject": session.subject,
            "as_of": session.as_of.isoformat(),
            "profile_hash": profile.weights_hash,
            "saved_hash": session.saved.weights_hash,
            "bands": list(profile.bands),
            "score": _series(score),
            "band_changed": changed.tolist(),
            "week": week,
            "seconds": round(seconds, 6),
        }

    def timeline(self, session: Session) -> dict[str, Any]:
        """What the chart needs once: dates, the saved band, events."""
        # The chart opens where the saved profile first has a score.
        observed = ~np.isnan(session.saved_results.score)
        return {
            "first_scored": int(np.argmax(observed)) if observed.any() else 0,
            "dates": [session.panel.date(r).isoformat() for r in range(session.panel.n_weeks)],
            "saved": _series(session.saved_results.score),
            "low": _series(session.low),
            "high": _series(session.high),
            "events": [
                {"date": str(e["date"])[:10], "severity": e["severity"], "title": e["title"]}
                for e in session.events
            ],
        }

    def backtest(self, session: Session, payload: dict[str, Any]) -> dict[str, Any]:
        """How well each profile's weekly score ranks the weeks before escalation events
        (ROC AUC over the history, on current knowledge), edited against saved."""
        profile = self.edited(session.saved, payload)
        edited = CompositeIndex(self.catalog, profile).aggregate(session.risk).score
        saved = session.saved_results.score
        days = session.panel.dates
        events = events_from_rows(session.events).at_least(2)
        out = {"horizons": [], "events": len(events)}
        for horizon in HORIZONS:
            # Only weeks whose whole horizon lies inside the record can be judged.
            judged = days + 7 * horizon <= session.as_of.toordinal()
            y = event_within(days, events, horizon)
            entry = {"weeks": horizon}
            for name, series in (("edited", edited), ("saved", saved)):
                ok = judged & ~np.isnan(series)
                auc = roc_auc(series[ok], y[ok]) if ok.any() else None
                entry[name] = {"auc": None if auc is None else round(auc, 4),
                               "weeks": int(ok.sum()), "event_weeks": int(y[ok].sum())}  # fmt: skip
            out["horizons"].append(entry)
        return out

    # -- profiles ------------------------------------------------------------------------

    def profiles(self) -> list[dict[str, Any]]:
        with self.store() as store:
            history = store.profile_history()
        found = []
        for path in list_profiles(self.models_dir):
            try:
                profile = load_profile(self.models_dir, path.stem, self.catalog)
            except ProfileError as exc:
                found.append({"name": path.stem, "error": str(exc), "history": []})
                continue
            found.append({
                "name": profile.name, "hash": profile.weights_hash,
                "aggregation": profile.aggregation,
                "history": [h for h in history if h["name"] == profile.name][-20:],
            })  # fmt: skip
        return found

    def save(self, session: Session, payload: dict[str, Any], author: str) -> dict[str, Any]:
        """Write the edited profile as a new profile or over an existing one, audited."""
        name = str(payload.get("name", ""))
        mode = payload.get("mode", "new")
        note = str(payload.get("note", "")).strip()
        if not PROFILE_NAME.fullmatch(name):
            raise InputError("name: lower-case letters, digits, - and _, starting with a letter")
        if mode not in ("new", "update"):
            raise InputError("mode: new or update")
        if not note:
            raise InputError("note: say why the weights changed")
        if any(ord(c) < 32 and c not in "\n\t" for c in note + author):
            raise InputError("note: control characters are not allowed")
        path = self.models_dir / "weights" / f"{name}.yaml"
        if mode == "new" and path.exists():
            raise InputError(f"name: a profile {name!r} exists; choose update to change it")
        if mode == "update" and not path.exists():
            raise NotFoundError(f"name: no profile {name!r} to update")
        before = session.saved
        profile = dataclasses.replace(self.edited(before, payload), name=name, path=path)
        changes = [f"{key} {old:g} -> {new:g}" for key, old, new in _differences(before, profile)]
        text = save_profile(profile, self.catalog, path)
        with self.store() as store:
            store.record_profile(
                name, profile.weights_hash, text, "saved" if mode == "new" else "updated",
                author, note, changes="; ".join(changes),
            )  # fmt: skip
        self.forget()
        return {"name": name, "path": str(path), "hash": profile.weights_hash, "changes": changes}


def _week(index: CompositeIndex, session: Session, row: int) -> dict[str, Any]:
    """The selected week's detail (and its change on the week before), from those two
    weeks alone: the attribution of the whole history is not needed for one week."""
    lo = max(0, row - 1)
    panel = session.panel
    last = row == panel.n_weeks - 1
    part = dataclasses.replace(
        panel,
        as_of=panel.as_of if last else panel.date(row),
        dates=panel.dates[lo : row + 1],
        raw=panel.raw[lo : row + 1],
        age_days=panel.age_days[lo : row + 1],
        status=panel.status[lo : row + 1],
        obs_id=panel.obs_id[lo : row + 1],
    )
    risk = session.risk[lo : row + 1]
    return ScoreResults(index, part, risk, index.aggregate(risk)).week(-1, top=12)


def _differences(before: Profile, after: Profile) -> list[tuple[str, float, float]]:
    out = []
    for key, old in {**before.family_weights, **before.indicator_weights}.items():
        new = {**after.family_weights, **after.indicator_weights}[key]
        if abs(new - old) > 1e-12:
            out.append((key, old, new))
    if after.aggregation != before.aggregation:
        out.append((f"aggregation {before.aggregation}->{after.aggregation}", 0.0, 0.0))
    return out


def _weights(raw: Any, known: dict[str, Any], what: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise InputError(f"{what} weights: expected a mapping of id to weight")
    out = {}
    for key, value in raw.items():
        if key not in known:
            raise InputError(f"{what} {key!r}: not in the catalog")
        out[key] = _number(value, f"{what} {key}")
    return out


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not 0 <= value <= MAX_WEIGHT:
        raise InputError(f"{where}: must be between 0 and {MAX_WEIGHT:g}, got {value!r}")
    return float(value)


def _series(values: np.ndarray) -> list[float | None]:
    rounded = np.round(values, 3).tolist()
    return [None if v != v else v for v in rounded]  # NaN is the only value not equal to itself


def _band_index(score: np.ndarray, bands: tuple[float, ...]) -> np.ndarray:
    """0 (low) .. 4 (severe) per week; -1 where there is no score."""
    index = np.searchsorted(np.asarray(bands), score, side="right")
    return np.where(np.isnan(score), -1, index)
