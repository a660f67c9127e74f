"""The analyst workbench's engine: rescoring, comparing and saving weight profiles.

HTTP-free, so it is tested and benchmarked on its own; `web.app` is a thin layer over it.
A `Session` keeps, for one subject and as-of date, what does not change while weights
move: the panel, the normalised risks, the saved profile's history and uncertainty band.
A slider move then costs one aggregation of the cached risks, from the weight-free
terms made once per aggregation method (`scoring.aggregate.prepare`), and answers the
series alone (`series`); the selected week's detail is its own, rarer request (`week`).

A subject is opened in its scope (`services.theatres.subject_scope`), as `score
--subject` scores it: its theatre's slice of the catalog (the sliders show only the
slice's families and indicators), its theatre's profile unless one is named, and its
theatre's rules for the warning. A dyad (BLR-UKR) is thus scored from its event family
alone, not against the whole catalog, and shows the number `score` prints.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from ..alerts.rules import Rule
from ..alerts.warning import Warning
from ..catalog import Catalog
from ..errors import InputError, NotFoundError, ProfileError
from ..files import parse_yaml
from ..forecast.metrics import roc_auc
from ..forecast.targets import event_within, events_from_rows
from ..numbers import format_number
from ..panel import Panel
from ..scoring import CompositeIndex, Profile, ScoreResults, load_profile
from ..scoring.aggregate import Aggregate, Terms, prepare

# PROFILE_NAME is the one rule `weights set` also uses: a profile made on the command
# line opens here. No dot or slash, so a name is never a path.
from ..scoring.profiles import (
    AGGREGATIONS,
    PROFILE_NAME,
    READ_ONLY_PROFILE,
    Uncertainty,
    check_profile_name,
    list_profiles,
    parse_profile,
)
from ..scoring.sensitivity import monte_carlo
from ..services import assess_week, panel_builder
from ..services.profiles import ProfileChange, save_audited
from ..services.theatres import Scope, subject_scope
from ..store import Store

__all__ = ["MAX_WEIGHT", "Session", "Workbench"]

MAX_WEIGHT = 100.0
T = TypeVar("T")
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
    catalog: Catalog  # the subject's slice: what it is scored and edited with
    rules: tuple[Rule, ...]  # its theatre's rules that apply to it
    # A selected week's slice of the panel and risks, and the words of its values,
    # made when the week is first selected: a slider move recomputes only what the
    # weights change.
    weeks: dict[int, tuple[Panel, np.ndarray]] = field(default_factory=dict)
    value_texts: dict[tuple[int, int], str] = field(default_factory=dict)
    # What every slider move reuses: the weight-free terms of each aggregation method
    # (made on first use), the saved profile's band of every week, and the answer's
    # constant head, encoded once.
    terms: dict[str, Terms] = field(default_factory=dict)
    index: CompositeIndex = field(init=False)
    saved_band: np.ndarray = field(init=False)
    head: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.index = CompositeIndex(self.catalog, self.saved)
        self.saved_band = _band_index(self.saved_results.score, self.saved.bands)
        head = {"subject": self.subject, "as_of": self.as_of.isoformat(),
                "saved_hash": self.saved.weights_hash}  # fmt: skip
        self.head = json.dumps(head, separators=(",", ":")).encode()[:-1]  # open: more follows

    def terms_of(self, method: str) -> Terms:
        """The weight-free terms of aggregating the risks by `method`, made once."""
        if method not in self.terms:  # two threads may both make it: the same arrays
            self.terms[method] = prepare(self.risk, self.index.structure, method)
        return self.terms[method]


class Workbench:
    def __init__(
        self, db_path: Path, catalog: Catalog, models_dir: Path, *, busy_ms: int | None = None
    ) -> None:
        """`busy_ms`: how long a write waits for another process's write lock before
        "database is locked" (None: the store's own, long wait)."""
        self.db_path = db_path
        self.catalog = catalog
        self.models_dir = models_dir
        self.busy_ms = busy_ms
        self._sessions: dict[tuple[str, str, str], Session] = {}
        self._lock = threading.Lock()

    def store(self) -> Store:
        store = Store(self.db_path)
        if self.busy_ms is not None:
            store.set_busy_timeout(self.busy_ms)
        return store

    def load(self, name: str, catalog: Catalog | None = None) -> Profile:
        """A saved profile by name, read against `catalog` (a subject's slice; default the
        whole catalog); the errors name the profile, not the server's path."""
        return self._named(
            name, lambda: load_profile(self.models_dir, name, catalog or self.catalog)
        )

    def scope(self, subject: str, name: str) -> Scope:
        """The subject's slice, the saved profile `name` read against it, and its rules."""
        return self._named(
            name, lambda: subject_scope(self.catalog, self.models_dir, subject, name)
        )

    def _named(self, name: str, read: Callable[[], T]) -> T:
        """What `read` reads of the profile `name`, its errors naming the profile."""
        path = self.models_dir / "weights" / f"{name}.yaml"
        try:
            return read()
        except NotFoundError:
            known = ", ".join(p.stem for p in list_profiles(self.models_dir)) or "none"
            raise NotFoundError(
                f"profile {name!r}: no such weight profile (known: {known})"
            ) from None
        except ProfileError as exc:
            raise ProfileError(str(exc).replace(str(path), f"profile {name!r}")) from None

    # -- sessions ----------------------------------------------------------------------

    def data_end(self, store: Store, subject: str) -> dt.date:
        """The day the subject's newest figure became known (scores stop being fresh there)."""
        newest = store.newest_known_from(subject)
        if newest is None:
            raise NotFoundError(f"no observations for {subject}")
        return min(dt.date.fromisoformat(newest[:10]), store.today())

    def session(
        self, subject: str, profile: str | None = None, as_of: dt.date | None = None
    ) -> Session:
        """The cached session of a subject and saved profile (rebuilt when the profile file
        changes, or after `forget`): a slider move costs no file or database access.
        Without `profile`, the subject's theatre's; a subject no theatre scores is refused."""
        if profile is None:
            profile = self.catalog.role(subject)[1].profile
        key = self._key(subject, profile, as_of)
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
        if not PROFILE_NAME.fullmatch(profile):
            raise InputError("profile: a saved profile's name (letters, digits, - and _)")
        scope = self.scope(subject, profile)
        part, saved = scope.catalog, scope.profile
        with self.store() as store:
            day = as_of or self.data_end(store, subject)
            builder = panel_builder(store, part, subject, end=day)
            panel = builder.panel(day)
            events = [e for e in store.events(subject) if str(e["date"]) <= day.isoformat()]
        index = CompositeIndex(part, saved)
        risk = index.normalise(panel)
        results = ScoreResults(index, panel, risk, index.aggregate(risk))
        u = saved.uncertainty
        draws = min(u.draws, 500)
        mc = monte_carlo(results, draws=draws, concentration=u.concentration, seed=u.seed)
        session = Session(
            subject, day, panel, risk, saved, results, mc.low, mc.high, events, part, scope.rules
        )
        with self._lock:
            self._sessions[key] = session
        return session

    def cached(
        self, subject: str, profile: str | None = None, as_of: dt.date | None = None
    ) -> Session | None:
        """The session `session` would give if it is made already (else None): what a
        request may use without touching the database."""
        if profile is None:
            try:
                profile = self.catalog.role(subject)[1].profile
            except NotFoundError:
                return None  # `session` says why
        with self._lock:
            return self._sessions.get(self._key(subject, profile, as_of))

    def _key(self, subject: str, profile: str, as_of: dt.date | None) -> tuple[str, str, str]:
        """A session's cache key: the profile file's stamp makes an edited file a new one."""
        stamp = 0
        if PROFILE_NAME.fullmatch(profile):
            with contextlib.suppress(FileNotFoundError):  # one stat: on every slider move
                stamp = (self.models_dir / "weights" / f"{profile}.yaml").stat().st_mtime_ns
        return (subject, as_of.isoformat() if as_of else "", f"{profile}:{stamp}")

    def warning(self, session: Session) -> Warning:
        """The warning level of the session's week under its saved profile: the level
        every face shows for that week (`services.assess_week`), not the edited one."""
        with self.store() as store:
            return assess_week(
                store, session.catalog, session.saved, list(session.rules), session.subject,
                session.as_of,
            )  # fmt: skip

    def forget(self) -> None:
        """Drop cached sessions (after new data or a saved profile)."""
        with self._lock:
            self._sessions.clear()

    # -- the edited profile ----------------------------------------------------------------

    def edited(self, session: Session, payload: dict[str, Any]) -> Profile:
        """The saved profile with the weights, aggregation and bands of a request, validated
        against the session's slice (a weight outside it is refused by name)."""
        base, part = session.saved, session.catalog
        indicators = _weights(payload.get("indicators", {}), part.indicators, "indicator")
        families = _weights(payload.get("families", {}), part.families, "family")
        profile = base.with_weights(indicators, families)
        aggregation = payload.get("aggregation", profile.aggregation)
        if aggregation not in AGGREGATIONS:
            raise InputError(
                f"aggregation: {aggregation!r} is not one of {', '.join(AGGREGATIONS)}"
            )
        bands = profile.bands
        if "bands" in payload:
            bands = payload["bands"]
            if not isinstance(bands, list) or len(bands) != 4:
                raise InputError(
                    "bands: give the four lower bounds (guarded, elevated, high, severe)"
                )
            bands = tuple(_number(b, "bands") for b in bands)
        profile = dataclasses.replace(profile, aggregation=aggregation, bands=bands)
        self._check(profile, part)
        return profile

    def _check(self, profile: Profile, catalog: Catalog) -> None:
        """What a profile file must satisfy, checked without writing one (a slider moves
        many times a second): bands rising, some family with weight and weighted members."""
        if any(b >= a for a, b in zip(profile.bands[1:], profile.bands[:-1], strict=True)):
            raise ProfileError("bands: each lower bound must be above the one before")
        usable = [
            f.id
            for f in catalog.families.values()
            if profile.family_weights[f.id] > 0
            and any(profile.indicator_weights[i] > 0 for i in f.indicators)
        ]
        if not usable:
            raise ProfileError(
                "family weights: at least one family with weight and weighted indicators"
            )

    def rescore(self, session: Session, payload: dict[str, Any]) -> dict[str, Any]:
        """The whole history under the edited weights, against the saved profile, with
        the selected week's detail (`row`; default the newest week) in one answer. The
        page asks for `series` on a slider move and for `week` when the week changes."""
        started = time.perf_counter()
        profile = self.edited(session, payload)
        row = _row(session, payload)
        agg = self._aggregate(session, profile)
        index = CompositeIndex(session.catalog, profile)
        week = _week(index, session, row, agg.rows(slice(max(0, row - 1), row + 1)))
        score = agg.score
        changed = np.flatnonzero(_band_index(score, profile.bands) != session.saved_band)
        seconds = time.perf_counter() - started
        return {
            "subject": session.subject,
            "as_of": session.as_of.isoformat(),
            "profile_hash": profile.weights_hash,
            "saved_hash": session.saved.weights_hash,
            "bands": list(profile.bands),
            **_score_series(score, payload.get("series")),
            "band_changed": changed.tolist(),
            "week": week,
            "seconds": round(seconds, 6),
        }

    def series(self, session: Session, payload: dict[str, Any]) -> tuple[bytes, float]:
        """A slider move's answer (`"detail": false`), as the JSON bytes sent and the
        seconds it took: the history under the edited weights (packed as `series` asks),
        the bands, the weeks in another band than under the saved profile; the week
        detail and the edited profile's hash are left to `week`. The constant head is
        encoded once per session and the packed scores are written as they are."""
        started = time.perf_counter()
        profile = self.edited(session, payload)
        if "row" in payload:
            _row(session, payload)  # refused as in the full answer, though not needed here
        score = self._aggregate(session, profile).score
        changed = np.flatnonzero(_band_index(score, profile.bands) != session.saved_band)
        body = b"".join((
            session.head, b',"bands":', json.dumps(list(profile.bands)).encode(),
            b',"band_changed":', json.dumps(changed.tolist()).encode(), b",",
            _encoded_series(score, payload.get("series")),
        ))  # fmt: skip
        seconds = time.perf_counter() - started
        return body + b',"seconds":%.6f}' % seconds, seconds

    def week(self, session: Session, payload: dict[str, Any]) -> dict[str, Any]:
        """The selected week's detail under the edited weights (`row`; default the newest
        week) and the edited profile's hash: what the page asks when the selected week
        changes or a slider is let go. The whole history is aggregated, as for `series`,
        and the two weeks cut from it: aggregating those two rows alone costs less, but
        the product of a 2-row block differs from the whole history's in the last bits
        (1e-14), and the detail must show the very numbers of the line."""
        started = time.perf_counter()
        profile = self.edited(session, payload)
        row = _row(session, payload)
        index = CompositeIndex(session.catalog, profile)
        agg = self._aggregate(session, profile).rows(slice(max(0, row - 1), row + 1))
        week = _week(index, session, row, agg)
        return {
            "subject": session.subject,
            "as_of": session.as_of.isoformat(),
            "profile_hash": profile.weights_hash,
            "saved_hash": session.saved.weights_hash,
            "row": row,
            "week": week,
            "seconds": round(time.perf_counter() - started, 6),
        }

    def _aggregate(self, session: Session, profile: Profile) -> Aggregate:
        """The whole history under `profile`, from the session's weight-free terms."""
        terms = session.terms_of(profile.aggregation)
        return session.index.aggregate(session.risk, profile, terms=terms)

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
        profile = self.edited(session, payload)
        edited = self._aggregate(session, profile).score
        saved = session.saved_results.score
        days = session.panel.dates
        events = events_from_rows(session.events).at_least(2)
        out = {"horizons": [], "events": len(events)}
        record_end = int(events.start.max()) if len(events) else -(1 << 40)
        for horizon in HORIZONS:
            # Only weeks whose whole horizon lies inside the record can be judged: by the
            # as-of date, and a quiet one by the record's last event (past it the record
            # says nothing; forecast._labels does the same).
            y = event_within(days, events, horizon)
            ends = days + 7 * horizon
            judged = (ends <= session.as_of.toordinal()) & ((y == 1) | (ends <= record_end))
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
            if not PROFILE_NAME.fullmatch(path.stem):
                continue  # a file no request could name
            try:
                profile = self.load(path.stem)
            except (ProfileError, NotFoundError) as exc:
                found.append({"name": path.stem, "error": str(exc), "history": []})
                continue
            found.append({
                "name": profile.name, "hash": profile.weights_hash,
                "aggregation": profile.aggregation, "description": profile.description,
                "read_only": profile.name == READ_ONLY_PROFILE,
                "history": [h for h in history if h["name"] == profile.name][-20:],
            })  # fmt: skip
        return found

    def save(self, session: Session, payload: dict[str, Any], author: str) -> dict[str, Any]:
        """Write the edited profile as a new profile or over an existing one, audited.

        The file keeps its prose: the changed values are edited in the file's own text,
        so its reasoning and comments stay (a new profile starts from the text of the one
        it was edited from). The description says what changed relative to the profile
        it came from (`_description`): a new profile's is written afresh, an update's
        keeps its own words and says what changed last. The shipped `default` is
        read-only. The write lock is taken first: a busy database refuses before the file
        changes, and the file and its audit row are written together or not at all.
        """
        name = str(payload.get("name", ""))
        mode = payload.get("mode", "new")
        note = str(payload.get("note", "")).strip()
        check_profile_name(name, "name")
        if mode not in ("new", "update"):
            raise InputError("mode: new or update")
        if not note:
            raise InputError("note: say why the weights changed")
        if any(ord(c) < 32 and c not in "\n\t" for c in note + author):
            raise InputError("note: control characters are not allowed")
        path = self.models_dir / "weights" / f"{name}.yaml"
        before = session.saved
        edited = self.edited(session, payload)
        written: dict[str, Any] = {}

        def change(exists: bool) -> ProfileChange:  # under the write lock
            if mode == "new" and exists:
                raise InputError(f"name: a profile {name!r} exists; choose update to change it")
            if mode == "update" and not exists:
                raise NotFoundError(f"name: no profile {name!r} to update")
            target = self.load(name, session.catalog) if mode == "update" else before
            profile = dataclasses.replace(edited, name=name, path=path)
            written["profile"] = profile
            written["changes"] = _differences(target, profile)  # in the file written
            description = _description(
                target, name, mode, written["changes"], author=author, note=note, day=today
            )
            text = self._text(profile, target, description, session.catalog)
            return ProfileChange(profile.weights_hash, text, "; ".join(written["changes"]))

        with self.store() as store:
            today = store.today()
            save_audited(store, path, change, author=author, note=note)
        profile, changes = written["profile"], written["changes"]
        self.forget()
        return {
            "name": name, "path": f"weights/{name}.yaml", "hash": profile.weights_hash,
            "changes": changes,
        }  # fmt: skip

    def _text(
        self, profile: Profile, target: Profile, description: str | None, catalog: Catalog
    ) -> str:
        """The YAML of `profile` written over the text of `target`'s file (its prose and
        comments kept), or, if that text cannot be edited in place, rendered afresh with
        `target`'s description and reasoning."""
        prose = dict(target.extra_text)
        if description is not None:
            prose["description"] = description
        wanted = " ".join(prose.get("description", "").split())
        original = target.path.read_text(encoding="utf-8") if target.path else ""
        try:
            text = _edit_in_place(original, profile, catalog, description)
            data = parse_yaml(text, str(profile.path), ProfileError)
            check = parse_profile(data, catalog, str(profile.path))
        except (_CannotEdit, ProfileError):
            check = None
        if (
            check is None
            or check.weights_hash != profile.weights_hash
            or check.uncertainty != profile.uncertainty
            or check.name != profile.name
            or check.description != wanted
        ):
            fresh = dataclasses.replace(
                profile, extra_text=prose, description=wanted, reasoning=dict(target.reasoning),
                defaulted=(),
            )  # fmt: skip
            text = fresh.to_yaml(catalog)
            where = f"profile {profile.name!r}"
            parse_profile(parse_yaml(text, where, ProfileError), catalog, where)
        return text


class _CannotEdit(Exception):
    """The profile file's layout is not one `_edit_in_place` can change safely."""


def _edit_in_place(
    text: str, profile: Profile, catalog: Catalog, description: str | None = None
) -> str:
    """`text` (a profile file) with the values of `profile` put in place of the ones that
    differ: everything else, comments and folded prose included, stays as written.
    Raises _CannotEdit where the layout is unexpected; the caller checks the result."""
    if not text.strip():
        raise _CannotEdit
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    top = _pairs(root)
    edits: list[tuple[int, int, str]] = []

    def put(node: yaml.Node, value: Any) -> None:
        if not isinstance(node, yaml.ScalarNode | yaml.SequenceNode):
            raise _CannotEdit
        if yaml.SafeLoader("").construct_object(node, deep=True) == value:
            return
        start, end = node.start_mark.index, node.end_mark.index
        flow = _flow(value)
        if text[end - 1 : end] == "\n":  # a block scalar ends with its line break
            flow += "\n"
        edits.append((start, end, flow))

    if "name" in top:
        put(top["name"][1], profile.name)
    if description is not None:
        key, value = top.get("description", (None, None))
        if key is None or value is None:
            raise _CannotEdit
        if key.start_mark.column != 0:
            raise _CannotEdit
        dumped = yaml.safe_dump({"description": description}, allow_unicode=True, width=88)
        end = value.end_mark.index
        if text[end - 1 : end] != "\n":
            dumped = dumped.rstrip("\n")
        edits.append((key.start_mark.index, end, dumped))
    if "aggregation" in top:
        put(top["aggregation"][1], profile.aggregation)
    if "bands" in top:
        bands = _pairs(top["bands"][1])
        for band, bound in zip(("guarded", "elevated", "high", "severe"), profile.bands,
                               strict=True):  # fmt: skip
            if band in bands:
                put(bands[band][1], bound)
    for key in ("min_family_coverage", "min_total_coverage"):
        if key in top:
            put(top[key][1], getattr(profile, key))
    if "uncertainty" in top:
        settings = _pairs(top["uncertainty"][1])
        for field in dataclasses.fields(Uncertainty):
            if field.name in settings:
                value = getattr(profile.uncertainty, field.name)
                put(settings[field.name][1], list(value) if isinstance(value, tuple) else value)
    for section, weights, defaults in (
        ("families", profile.family_weights, {f.id: f.weight for f in catalog.families.values()}),
        ("indicators", profile.indicator_weights, {i.id: i.weight for i in catalog}),
    ):
        node = top.get(section, (None, None))[1]
        entries = _pairs(node) if isinstance(node, yaml.MappingNode) else {}
        missing = []
        for key, weight in weights.items():
            if key in entries:
                value = entries[key][1]
                if isinstance(value, yaml.MappingNode):
                    inner = _pairs(value)
                    if "weight" not in inner:
                        raise _CannotEdit
                    value = inner["weight"][1]
                put(value, weight)
            elif weight != defaults[key]:
                missing.append((key, weight))
        if missing:
            edits.append(_insertion(text, node, missing))
    edits.sort(reverse=True)
    for (_, end, _), (next_start, _, _) in zip(edits[1:], edits, strict=False):
        if end > next_start:
            raise _CannotEdit
    for start, end, replacement in edits:
        text = text[:start] + replacement + text[end:]
    return text


def _pairs(node: yaml.Node | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _CannotEdit
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _insertion(
    text: str, node: yaml.Node | None, missing: list[tuple[str, float]]
) -> tuple[int, int, str]:
    """New `key: {weight: W}` entries after the last entry of a block mapping."""
    if not isinstance(node, yaml.MappingNode) or node.flow_style or not node.value:
        raise _CannotEdit
    first_key, _ = node.value[0]
    _, last_value = node.value[-1]
    indent = " " * first_key.start_mark.column
    at = last_value.end_mark.index
    if text[at - 1 : at] != "\n":
        newline = text.find("\n", at)
        at = len(text) if newline < 0 else newline + 1
    lines = "".join(f"{indent}{key}:\n{indent}  weight: {_flow(w)}\n" for key, w in missing)
    return at, at, ("" if text[at - 1 : at] in ("\n", "") else "\n") + lines


def _flow(value: Any) -> str:
    """A value as one line of YAML."""
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9)
    return dumped.removesuffix("\n...\n").rstrip("\n")


def _row(session: Session, payload: dict[str, Any]) -> int:
    """The selected week of a request, 0 .. weeks - 1 (negative counts from the end)."""
    n = session.panel.n_weeks
    row = payload.get("row", n - 1)
    if isinstance(row, bool) or not isinstance(row, int) or not -n <= row < n:
        raise InputError(f"row: a week number from 0 to {n - 1} (or -{n} to -1 from the end)")
    return row % n


def _week(index: CompositeIndex, session: Session, row: int, agg: Aggregate) -> dict[str, Any]:
    """The selected week's detail (and its change on the week before), from the
    aggregate `agg` of those two weeks alone (the week before first, if there is one):
    the attribution of the whole history is not needed for one week."""
    if row not in session.weeks:
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
            events=panel.events[lo : row + 1],
        )
        session.weeks[row] = (part, session.risk[lo : row + 1])
    part, risk = session.weeks[row]
    results = ScoreResults(index, part, risk, agg)
    results.value_texts = session.value_texts
    return results.week(-1, top=12)


def _differences(before: Profile, after: Profile) -> list[str]:
    """What differs between two profiles, in words: `name old -> new` for each weight,
    then the aggregation and the bands."""
    out = []
    weights_after = {**after.family_weights, **after.indicator_weights}
    for key, old in {**before.family_weights, **before.indicator_weights}.items():
        new = weights_after[key]
        if abs(new - old) > 1e-12:
            out.append(f"{key} {format_number(old, digits=6)} -> {format_number(new, digits=6)}")
    if after.aggregation != before.aggregation:
        out.append(f"aggregation {before.aggregation} -> {after.aggregation}")
    if after.bands != before.bands:
        bounds = ("/".join(format_number(b, digits=6) for b in p.bands) for p in (before, after))
        out.append("bands {} -> {}".format(*bounds))
    return out


LAST_CHANGED = "Last changed on "


def _description(
    target: Profile,
    name: str,
    mode: str,
    changes: list[str],
    *,
    author: str,
    note: str,
    day: dt.date,
) -> str:
    """The description of a saved profile: what changed relative to the profile it came
    from, when, by whom and why, so its prose never claims the other profile's weights.

    A new profile is described from scratch (the prose of the profile it came from was
    written for that profile's weights); an update keeps the profile's own words and
    replaces the sentence that said what changed last."""
    what = "; ".join(changes) if changes else "no weight changed"
    why = note.strip().rstrip(".")
    if mode == "new":
        return (
            f"Derived from {target.name} ({target.weights_hash}) on {day} in the workbench "
            f"by {author}: {what}. Why: {why}. The reasoning beside each weight is "
            f"{target.name}'s, written for its values; `weights history {name}` lists every "
            "change."
        )
    own = " ".join(target.description.split())
    if LAST_CHANGED in own:
        own = own[: own.index(LAST_CHANGED)].rstrip()
    sentence = f"{LAST_CHANGED}{day} in the workbench by {author}: {what}. Why: {why}."
    return f"{own} {sentence}" if own else sentence


def _weights(raw: Any, known: dict[str, Any], what: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise InputError(f"{what} weights: expected a mapping of id to weight")
    out = {}
    for key, value in raw.items():
        if key not in known:
            raise InputError(f"{what} {key!r}: not in the catalog")
        out[key] = _number(value, what, key)
    return out


def _number(value: Any, where: str, key: str = "") -> float:
    """`value` as a weight (or a band bound), refused with `where` (and `key`) named."""
    if type(value) is float and 0 <= value <= MAX_WEIGHT:
        return value  # the common case, checked first: a slider sends every weight
    where = f"{where} {key}" if key else where
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not 0 <= value <= MAX_WEIGHT:
        raise InputError(
            f"{where}: must be between 0 and {format_number(MAX_WEIGHT, digits=6)}, got {value!r}"
        )
    return float(value)


def _score_series(score: np.ndarray, form: Any) -> dict[str, Any]:
    """The scores as a JSON list (`score`), or with `"series": "float32"` as the bytes
    of little-endian 32-bit floats in base64 (`score_float32`, NaN where no score):
    a third of the bytes, and no number written out one by one on every slider move."""
    if _series_form(form) is None:
        return {"score": _series(score)}
    return {"score_float32": _packed(score).decode("ascii")}


def _encoded_series(score: np.ndarray, form: Any) -> bytes:
    """`_score_series` as the JSON of its one key, written straight to bytes."""
    if _series_form(form) is None:
        return b'"score":' + json.dumps(_series(score)).encode()
    return b'"score_float32":"' + _packed(score) + b'"'


def _series_form(form: Any) -> str | None:
    if form is not None and form != "float32":
        raise InputError(f"series: {form!r} is not float32 (or leave it out for a list)")
    return form


def _packed(score: np.ndarray) -> bytes:
    return base64.b64encode(np.asarray(score, dtype="<f4").tobytes())


def _series(values: np.ndarray) -> list[float | None]:
    rounded = np.round(values, 3).tolist()
    return [None if v != v else v for v in rounded]  # NaN is the only value not equal to itself


def _band_index(score: np.ndarray, bands: tuple[float, ...]) -> np.ndarray:
    """0 (low) .. 4 (severe) per week; -1 where there is no score."""
    index = np.searchsorted(np.asarray(bands), score, side="right")
    return np.where(np.isnan(score), -1, index)
