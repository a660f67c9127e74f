"""The indicator catalog: what is measured, in which unit, and which way is risk.

The catalog is a folder of YAML files (see docs/catalog.md):

    sources.yaml          the publications cited, by key
    theatres.yaml         optional: the subjects scored and each one's slice, profile
                          and rules (`early_warning.theatres`)
    <family>.yaml         one family and its indicators (every other *.yaml file)

`load_catalog(folder)` reads and validates all of it and returns a `Catalog`. Any
mistake raises `CatalogError` with one line naming the file, the indicator and the
field, so that a typo in a weight or a missing citation is found at load time and
never turns into a silently wrong score.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CatalogError, NotFoundError
from .files import parse_yaml, read_bytes
from .numbers import format_number, format_range
from .theatres import DEFAULT_PROFILE, DEFAULT_RULES, THEATRES_FILE, Role, Theatre, parse_theatres

__all__ = [
    "KINDS",
    "LIFETIMES",
    "NORMALISATIONS",
    "Catalog",
    "Citation",
    "Family",
    "Indicator",
    "Source",
    "load_catalog",
]

KINDS = ("continuous", "ordinal", "boolean", "event")
FREQUENCIES = ("annual", "quarterly", "monthly", "weekly", "daily", "irregular")
# How a value lives on the weekly grid (docs/scoring.md, "How a value lives"):
#   state     holds until the next value; past its maximum age it stays, marked stale,
#             and its uncertainty widens (it does not drop out and move its weight);
#   interval  holds from its start to its end (the `end` column, else its period), and
#             reads as 0 ("none in progress") between intervals once one was seen;
#   event     decays with a half-life; shown as recent activity with the count behind it;
#   release   published statistics: holds until the next release is due (the cycle of
#             its frequency plus `release_lag_days`), then stale as a state.
LIFETIMES = ("state", "interval", "event", "release")
CYCLE_DAYS = {"annual": 365, "quarterly": 92, "monthly": 31, "weekly": 7, "daily": 1}
NORMALISATIONS = ("minmax", "log", "ln", "zscore", "baseline", "ordinal", "boolean")
_METHODS_FOR_KIND = {
    "continuous": ("minmax", "log", "ln", "zscore", "baseline"),
    "event": ("minmax", "log", "ln", "zscore", "baseline"),
    "ordinal": ("ordinal",),
    "boolean": ("boolean",),
}
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,63}")
TRUE_WORDS = frozenset({"true", "yes", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "no", "0", "0.0"})

_INDICATOR_KEYS = {
    "id", "name", "description", "unit", "kind", "range", "levels", "direction",
    "frequency", "max_age_days", "half_life_days", "weight", "normalisation", "citations",
    "lifetime", "release_lag_days",
}  # fmt: skip
_REQUIRED_INDICATOR_KEYS = {
    "id", "name", "description", "unit", "kind", "direction", "frequency",
    "max_age_days", "weight", "normalisation", "citations",
}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """A publication the catalog and the embedded data cite."""

    key: str
    author: str
    title: str
    publisher: str
    date: str
    published: str
    url: str | None = None
    note: str | None = None

    def reference(self) -> str:
        """The citation as a reader expects it: author, title, publisher, date."""
        return f"{self.author}, \u201c{self.title}\u201d, {self.publisher}, {self.date}"


@dataclass(frozen=True)
class Citation:
    """Where in a publication an indicator's definition or direction comes from."""

    source: str
    section: str
    quote: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Indicator:
    """One indicator definition. Values are validated by `parse_value`."""

    id: str
    name: str
    family: str
    description: str
    unit: str
    kind: str
    higher_is_riskier: bool
    direction_reasoning: str
    contested: bool
    frequency: str
    max_age_days: int
    weight: float
    normalisation: Mapping[str, Any]
    citations: tuple[Citation, ...]
    range: tuple[float, float] | None = None
    levels: Mapping[int, str] | None = None
    half_life_days: float | None = None
    lifetime: str = "state"
    release_lag_days: int | None = None
    file: str = ""

    @property
    def stale_after_days(self) -> int:
        """Age [days since the period ended] past which a value is marked stale: for a
        release with a declared lag, the next release's due date plus that lag."""
        if self.lifetime == "release" and self.release_lag_days is not None:
            return CYCLE_DAYS[self.frequency] + self.release_lag_days
        return self.max_age_days

    @property
    def value_range(self) -> tuple[float, float]:
        """The valid values as [min, max], whatever the kind."""
        if self.kind == "boolean":
            return (0.0, 1.0)
        if self.kind == "ordinal":
            assert self.levels is not None
            return (float(min(self.levels)), float(max(self.levels)))
        assert self.range is not None
        return self.range

    def parse_value(self, text: str) -> float:
        """Turn the text of a value into a number, or raise ValueError saying why."""
        return self.value_parser()(text)

    def value_parser(self) -> Callable[[str], float]:
        """A fast parser for this indicator's values (used in bulk ingest)."""
        return _make_value_parser(self)

    def describe_value(
        self, value: float, *, unit: bool = True, digits: int = 4, events: int | None = None
    ) -> str:
        """A value as a reader wants to see it: a label for levels, true/false, or a
        number with its unit ("30,000 persons"; `format_number`, four significant digits
        unless told; `unit=False`: the number alone). An event's decayed sum reads as
        recent activity beside the count of `events` behind it (a weighted sum is not an
        observed value); 0 of an interval as none in progress."""
        if self.lifetime == "event":
            count = "no event" if not events else f"{events} event{'s' * (events != 1)}"
            return (
                f"recent activity {format_number(value, digits=3)} (weighted; {count} in "
                f"the last {format_number(self.max_age_days)} days)"
            )
        if self.lifetime == "interval" and value == 0:
            return "none in progress"
        if self.kind == "boolean":
            return "true" if value >= 0.5 else "false"
        if self.kind == "ordinal" and self.levels is not None:
            level = round(value)
            return f"{level} ({self.levels.get(level, '?')})"
        return format_number(value, self.unit if unit else None, digits=digits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "unit": self.unit,
            "kind": self.kind,
            "range": list(self.range) if self.range else None,
            "levels": dict(self.levels) if self.levels else None,
            "direction": {
                "higher_is_riskier": self.higher_is_riskier,
                "reasoning": self.direction_reasoning,
                "contested": self.contested,
            },
            "frequency": self.frequency,
            "max_age_days": self.max_age_days,
            "half_life_days": self.half_life_days,
            "lifetime": self.lifetime,
            "release_lag_days": self.release_lag_days,
            "stale_after_days": self.stale_after_days,
            "weight": self.weight,
            "normalisation": dict(self.normalisation),
            "citations": [
                {k: v for k, v in vars(c).items() if v is not None} for c in self.citations
            ],
        }


@dataclass(frozen=True)
class Family:
    id: str
    name: str
    description: str
    weight: float
    file: str
    indicators: tuple[str, ...] = ()


@dataclass
class Catalog:
    """All families, indicators and sources, plus a hash that versions them."""

    folder: Path
    sources: dict[str, Source]
    families: dict[str, Family]
    indicators: dict[str, Indicator]
    version: str
    theatres: tuple[Theatre, ...] = ()  # empty: one implicit theatre of every family
    _parsers: dict[str, Callable[[str], float]] = field(default_factory=dict, repr=False)
    _slices: dict[tuple[str, ...], Catalog] = field(default_factory=dict, repr=False)
    _whole: Catalog | None = field(default=None, repr=False)  # a slice's full catalog

    @property
    def whole(self) -> Catalog:
        """The full catalog this one is a slice of (itself when it is not a slice)."""
        return self._whole or self

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self.indicators.values())

    def __len__(self) -> int:
        return len(self.indicators)

    def __contains__(self, indicator_id: object) -> bool:
        return indicator_id in self.indicators

    def get(self, indicator_id: str) -> Indicator:
        try:
            return self.indicators[indicator_id]
        except KeyError:
            raise NotFoundError(f"unknown indicator {indicator_id!r}") from None

    def parser(self, indicator_id: str) -> Callable[[str], float]:
        """The cached value parser of an indicator (KeyError if unknown)."""
        parser = self._parsers.get(indicator_id)
        if parser is None:
            parser = self._parsers[indicator_id] = self.indicators[indicator_id].value_parser()
        return parser

    def in_family(self, family_id: str) -> list[Indicator]:
        return [self.indicators[i] for i in self.families[family_id].indicators]

    def in_theatre(self, subject: str) -> bool:
        """Whether the subject is scored: every one without theatres, else the declared."""
        return not self.theatres or any(t.role(subject) for t in self.theatres)

    def role(self, subject: str) -> tuple[Theatre | None, Role]:
        """The theatre a subject belongs to and what it is scored with there.

        Without theatres every subject is scored with the whole catalog, `default` and
        `alerts.yaml`; with them, a subject of no theatre is a `NotFoundError`.
        """
        if not self.theatres:
            return None, Role(tuple(self.families), DEFAULT_PROFILE, DEFAULT_RULES)
        for theatre in self.theatres:
            role = theatre.role(subject)
            if role is not None:
                return theatre, role
        known = "; ".join(f"{t.id}: {', '.join(t.subjects)}" for t in self.theatres)
        raise NotFoundError(
            f"subject {subject} belongs to no theatre of {self.folder / THEATRES_FILE} ({known})"
        )

    def slice_for_profile(self, name: str) -> Catalog:
        """The slice a profile is read against when no subject says: that of the first
        theatre role that names it (the whole catalog for any other profile)."""
        for theatre in self.theatres:
            for role in (theatre.country_role, theatre.dyad_role):
                if role.profile == name:
                    return self.slice(role.families)
        return self

    def slice(self, families: Sequence[str]) -> Catalog:
        """The catalog of some families only (a theatre's slice), in catalog order.

        Its version hashes the definitions it holds (families, indicators, the sources
        they cite), not the files, so a family or source added for another theatre
        leaves it as it was. The whole catalog is its own slice when it has no theatres.
        """
        key = tuple(f for f in self.families if f in families)
        if not self.theatres and len(key) == len(self.families):
            return self
        cached = self._slices.get(key)
        if cached is None:
            cached = self._slices[key] = self._make_slice(key)
        return cached

    def _make_slice(self, families: tuple[str, ...]) -> Catalog:
        chosen = {f: self.families[f] for f in families}
        indicators = {i.id: i for i in self if i.family in chosen}
        # Every source stays (a rule may cite one no indicator does); the version
        # hashes only those the slice's indicators cite.
        cited = {c.source for i in indicators.values() for c in i.citations}
        content = {
            "families": [vars(f) | {"file": ""} for f in chosen.values()],
            "indicators": [i.to_dict() for i in indicators.values()],
            "sources": [vars(s) for k, s in self.sources.items() if k in cited],
        }
        text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
        version = hashlib.sha256(text.encode()).hexdigest()[:16]
        return Catalog(
            self.folder, self.sources, chosen, indicators, version, self.theatres, _whole=self
        )


# -- value parsing -------------------------------------------------------------------


# A dot-decimal number as people write it: no digit separators ("1_5"), no non-ASCII
# digits, no "inf" or "nan" (Python's float() accepts all of those).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _parse_number(text: str) -> float:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        if text.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            raise ValueError(f"{_clip(text)!r} is not a finite number")
        raise ValueError(f"{_clip(text)!r} is not a number (use digits and a decimal point)")
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{_clip(text)!r} is not a finite number")
    if number == 0 and any(d in "123456789" for d in text.lower().partition("e")[0]):
        # 1e-400 is not zero, but a float cannot hold it: a reject, never a silent 0.
        raise ValueError(f"{_clip(text)!r} is too small to store (it would become 0)")
    return number


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _make_value_parser(ind: Indicator) -> Callable[[str], float]:
    if ind.kind == "boolean":

        def parse_boolean(text: str) -> float:
            word = text.strip().lower()
            if word in TRUE_WORDS:
                return 1.0
            if word in FALSE_WORDS:
                return 0.0
            if _NUMBER.fullmatch(word) and float(word) in (0.0, 1.0):
                return float(word) + 0.0  # "-0.0" is false too
            raise ValueError(f"{_clip(text)!r} is not a boolean (true/false/yes/no/1/0)")

        return parse_boolean

    if ind.kind == "ordinal":
        assert ind.levels is not None
        by_label = {label.strip().lower(): float(n) for n, label in ind.levels.items()}
        by_number = {str(n): float(n) for n in ind.levels}
        by_number.update({f"{n}.0": float(n) for n in ind.levels})
        known = ", ".join(str(n) for n in ind.levels)

        def parse_ordinal(text: str) -> float:
            key = text.strip()
            level = by_number.get(key)
            if level is None:
                level = by_label.get(key.lower())
            if level is None and _NUMBER.fullmatch(key):
                number = float(key) + 0.0
                if number.is_integer() and int(number) in ind.levels:
                    level = number
            if level is None:
                raise ValueError(f"{_clip(text)!r} is not a level of {ind.id} (levels {known})")
            return level

        return parse_ordinal

    assert ind.range is not None
    low, high = ind.range

    def parse_number_in_range(text: str) -> float:
        number = _parse_number(text)
        if number < low or number > high:  # ten digits: the value as it was typed
            raise ValueError(
                f"{format_number(number, digits=10)} is outside the valid range "
                f"{format_range(low, high, digits=10)}"
            )
        return number

    return parse_number_in_range


# -- loading and validation --------------------------------------------------------


def load_catalog(folder: str | Path) -> Catalog:
    """Load and validate every YAML file of a catalog folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogError(f"{folder}: catalog folder not found")
    sources_file = folder / "sources.yaml"
    if not sources_file.is_file():
        raise CatalogError(f"{sources_file}: file not found (the catalog needs its sources)")
    digest = hashlib.sha256()
    sources = _load_sources(sources_file, digest)
    families: dict[str, Family] = {}
    indicators: dict[str, Indicator] = {}
    family_files = sorted(
        p for p in folder.glob("*.yaml") if p.name not in ("sources.yaml", THEATRES_FILE)
    )
    if not family_files:
        raise CatalogError(f"{folder}: no family files (*.yaml) besides sources.yaml")
    for path in family_files:
        family, members = _load_family(path, sources, indicators, digest)
        families[family.id] = family
        for ind in members:
            indicators[ind.id] = ind
    theatres = _load_theatres(folder / THEATRES_FILE, list(families))
    return Catalog(folder, sources, families, indicators, digest.hexdigest()[:16], theatres)


def _load_theatres(path: Path, families: list[str]) -> tuple[Theatre, ...]:
    # Not part of the catalog's version: theatres say who is scored with which slice,
    # and each slice's version hashes what it holds (`Catalog.slice`).
    if not path.is_file():
        return ()
    return parse_theatres(parse_yaml(read_bytes(path, CatalogError), path, CatalogError),
                          families, path)  # fmt: skip


def _read_yaml(path: Path, digest: Any) -> Any:
    raw = read_bytes(path, CatalogError)
    digest.update(path.name.encode() + b"\0" + raw)
    return parse_yaml(raw, path, CatalogError)


def _load_sources(path: Path, digest: Any) -> dict[str, Source]:
    data = _read_yaml(path, digest)
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        raise CatalogError(f"{path}: expected a mapping 'sources:' of key -> publication")
    sources = {}
    for key, entry in data["sources"].items():
        where = f"{path}: source {key!r}"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: expected a mapping")
        for name in ("author", "title", "publisher", "date", "published"):
            if not str(entry.get(name) or "").strip():
                raise CatalogError(f"{where}: field {name!r} is required")
        sources[str(key)] = Source(
            key=str(key),
            author=str(entry["author"]),
            title=str(entry["title"]),
            publisher=str(entry["publisher"]),
            date=str(entry["date"]),
            published=str(entry["published"]),
            url=entry.get("url"),
            note=entry.get("note"),
        )
    return sources


def _load_family(
    path: Path, sources: Mapping[str, Source], seen: Mapping[str, Indicator], digest: Any
) -> tuple[Family, list[Indicator]]:
    data = _read_yaml(path, digest)
    if not isinstance(data, dict) or not isinstance(data.get("family"), dict):
        raise CatalogError(f"{path}: expected a 'family:' mapping and an 'indicators:' list")
    fam = data["family"]
    fam_id = str(fam.get("id", ""))
    if fam_id != path.stem:
        raise CatalogError(
            f"{path}: family field 'id': {fam_id!r} must match the file name {path.stem!r}"
        )
    for name in ("name", "description"):
        if not str(fam.get(name) or "").strip():
            raise CatalogError(f"{path}: family field {name!r} is required")
    fam_weight = _non_negative(fam.get("weight"), f"{path}: family field 'weight'")
    raw_indicators = data.get("indicators")
    if not isinstance(raw_indicators, list) or not raw_indicators:
        raise CatalogError(f"{path}: field 'indicators': expected a non-empty list")
    members: list[Indicator] = []
    for position, raw in enumerate(raw_indicators, start=1):
        ind = _parse_indicator(path, position, raw, fam_id, sources)
        if ind.id in seen or any(m.id == ind.id for m in members):
            other = seen[ind.id].file if ind.id in seen else path.name
            raise CatalogError(f"{path}: indicator {ind.id!r}: field 'id': also defined in {other}")
        members.append(ind)
    family = Family(
        id=fam_id,
        name=str(fam["name"]),
        description=str(fam["description"]).strip(),
        weight=fam_weight,
        file=path.name,
        indicators=tuple(m.id for m in members),
    )
    return family, members


def _non_negative(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CatalogError(f"{where}: expected a number, got {value!r}")
    if value < 0:
        raise CatalogError(f"{where}: must be >= 0, got {value!r}")
    return float(value)


def _parse_indicator(
    path: Path, position: int, raw: Any, family: str, sources: Mapping[str, Source]
) -> Indicator:
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: indicator #{position}: expected a mapping")
    ind_id = str(raw.get("id", f"#{position}"))
    where = f"{path}: indicator {ind_id!r}"

    def fail(field_name: str, problem: str) -> CatalogError:
        return CatalogError(f"{where}: field {field_name!r}: {problem}")

    if not ID_PATTERN.fullmatch(ind_id):
        raise fail("id", "use lower-case letters, digits and _ (2-64 characters)")
    unknown = set(raw) - _INDICATOR_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], "unknown field (check the spelling)")
    for name in sorted(_REQUIRED_INDICATOR_KEYS - set(raw)):
        raise fail(name, "is required")
    for name in ("name", "description", "unit"):
        if not isinstance(raw[name], str) or not raw[name].strip():
            raise fail(name, "expected non-empty text")

    kind = raw["kind"]
    if kind not in KINDS:
        raise fail("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    frequency = raw["frequency"]
    if frequency not in FREQUENCIES:
        raise fail("frequency", f"{frequency!r} is not one of {', '.join(FREQUENCIES)}")

    value_range = _parse_range(raw.get("range"), kind, fail)
    levels = _parse_levels(raw.get("levels"), kind, fail)

    direction = raw["direction"]
    if not isinstance(direction, dict):
        raise fail("direction", "expected a mapping with higher_is_riskier and reasoning")
    if not isinstance(direction.get("higher_is_riskier"), bool):
        raise fail("direction", "'higher_is_riskier' must be true or false")
    reasoning = direction.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise fail("direction", "'reasoning' is required: say why, with the reports' argument")
    contested = direction.get("contested", False)
    if not isinstance(contested, bool):
        raise fail("direction", "'contested' must be true or false")

    max_age = raw["max_age_days"]
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0:
        raise fail("max_age_days", f"expected a whole number of days > 0, got {max_age!r}")
    half_life = raw.get("half_life_days")
    if kind == "event" and half_life is None:
        raise fail("half_life_days", "is required for kind 'event'")
    if half_life is not None and kind != "event":
        raise fail("half_life_days", f"only event indicators decay; this one is {kind!r}")
    if half_life is not None:
        if isinstance(half_life, bool) or not isinstance(half_life, int | float) or half_life <= 0:
            raise fail("half_life_days", f"expected a number of days > 0, got {half_life!r}")
        half_life = float(half_life)
    lifetime, release_lag = _parse_lifetime(raw, kind, frequency, fail)

    try:
        weight = _non_negative(raw["weight"], "weight")
    except CatalogError as exc:
        raise fail("weight", str(exc).split(": ", 1)[1]) from None

    normalisation = _parse_normalisation(raw["normalisation"], kind, value_range, fail)
    citations = _parse_citations(raw["citations"], sources, fail)

    return Indicator(
        id=ind_id,
        name=raw["name"].strip(),
        family=family,
        description=" ".join(raw["description"].split()),
        unit=raw["unit"].strip(),
        kind=kind,
        higher_is_riskier=direction["higher_is_riskier"],
        direction_reasoning=" ".join(reasoning.split()),
        contested=contested,
        frequency=frequency,
        max_age_days=max_age,
        weight=weight,
        normalisation=normalisation,
        citations=citations,
        range=value_range,
        levels=levels,
        half_life_days=half_life,
        lifetime=lifetime,
        release_lag_days=release_lag,
        file=path.name,
    )


def default_lifetime(kind: str, frequency: str) -> str:
    """The lifetime of an indicator that declares none: events decay, statistics with a
    publication cycle are releases, anything else is a state."""
    if kind == "event":
        return "event"
    return "release" if frequency in ("annual", "quarterly", "monthly") else "state"


def _parse_lifetime(
    raw: Mapping[str, Any], kind: str, frequency: str, fail: Callable[[str, str], CatalogError]
) -> tuple[str, int | None]:
    lifetime = raw.get("lifetime", default_lifetime(kind, frequency))
    if lifetime not in LIFETIMES:
        raise fail("lifetime", f"{lifetime!r} is not one of {', '.join(LIFETIMES)}")
    if (lifetime == "event") != (kind == "event"):
        need = "kind 'event'" if lifetime == "event" else f"lifetime 'event' (kind {kind!r})"
        raise fail("lifetime", f"{lifetime!r} needs {need}: only events decay")
    lag = raw.get("release_lag_days")
    if lag is not None:
        if lifetime != "release":
            raise fail("release_lag_days", f"only a release has a lag; this one is {lifetime!r}")
        if frequency not in CYCLE_DAYS:
            raise fail("release_lag_days", f"a release needs a cycle, not {frequency!r}")
        if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
            raise fail("release_lag_days", f"expected a whole number of days >= 0, got {lag!r}")
    return lifetime, lag


def _parse_range(raw: Any, kind: str, fail: Callable[[str, str], CatalogError]) -> Any:
    if kind in ("ordinal", "boolean"):
        if raw is not None:
            raise fail("range", f"not used for kind {kind!r} (the levels define the values)")
        return None
    if raw is None:
        raise fail("range", f"is required for kind {kind!r}")
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        or not raw[0] < raw[1]
    ):
        raise fail("range", "expected [min, max] with min < max")
    return (float(raw[0]), float(raw[1]))


def _parse_levels(raw: Any, kind: str, fail: Callable[[str, str], CatalogError]) -> Any:
    if kind != "ordinal":
        if raw is not None:
            raise fail("levels", f"only ordinal indicators have levels, this one is {kind!r}")
        return None
    if not isinstance(raw, dict) or len(raw) < 2:
        raise fail("levels", "expected a mapping of at least two level numbers to meanings")
    if not all(isinstance(k, int) and not isinstance(k, bool) for k in raw):
        raise fail("levels", "level numbers must be whole numbers")
    numbers = sorted(raw)
    if numbers != list(range(len(numbers))):
        raise fail("levels", f"levels must be 0, 1, 2, ... without gaps, got {numbers}")
    labels = [str(v).strip() for v in raw.values()]
    if not all(labels):
        raise fail("levels", "every level needs a meaning")
    if len({label.lower() for label in labels}) != len(labels):
        raise fail("levels", "two levels have the same meaning")
    return {int(k): str(v).strip() for k, v in sorted(raw.items())}


def _parse_normalisation(
    raw: Any, kind: str, value_range: Any, fail: Callable[[str, str], CatalogError]
) -> dict[str, Any]:
    if not isinstance(raw, dict) or "method" not in raw:
        raise fail("normalisation", "expected a mapping with a 'method'")
    method = raw["method"]
    allowed = _METHODS_FOR_KIND[kind]
    if method not in allowed:
        raise fail("normalisation", f"method {method!r} does not fit kind {kind!r} (use {allowed})")
    result = dict(raw)
    if method in ("minmax", "log", "ln"):
        goalposts = raw.get("goalposts")
        if (
            not isinstance(goalposts, list)
            or len(goalposts) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in goalposts)
            or not goalposts[0] < goalposts[1]
        ):
            raise fail("normalisation", "'goalposts' must be [lower, upper] with lower < upper")
        low, high = value_range
        if goalposts[0] < low or goalposts[1] > high:
            raise fail("normalisation", f"goalposts {goalposts} lie outside the range")
        if method == "log" and goalposts[0] < 0:
            raise fail("normalisation", "log goalposts must be >= 0 (log is log(1 + x))")
        if method == "ln" and goalposts[0] <= 0:
            raise fail("normalisation", "ln goalposts must be > 0 (ln is the plain logarithm)")
        result["goalposts"] = [float(goalposts[0]), float(goalposts[1])]
    if method == "zscore":
        window = raw.get("baseline_weeks")
        if isinstance(window, bool) or not isinstance(window, int) or window < 8:
            raise fail("normalisation", "'baseline_weeks' must be a whole number >= 8")
    if method == "baseline":
        _check_baseline(raw, fail)
    return result


def _check_baseline(raw: dict[str, Any], fail: Callable[[str, str], CatalogError]) -> None:
    """A trailing window of whole weeks and the shortest history a value is judged on:
    fewer than 8 earlier values give no distribution worth ranking against."""
    window, least = raw.get("baseline_weeks"), raw.get("min_history")
    if isinstance(window, bool) or not isinstance(window, int) or window < 8:
        raise fail("normalisation", "baseline: 'baseline_weeks' must be a whole number >= 8")
    if isinstance(least, bool) or not isinstance(least, int) or not 8 <= least <= window:
        raise fail(
            "normalisation",
            f"baseline: 'min_history' must be a whole number from 8 to baseline_weeks ({window})",
        )
    start = raw.get("baseline_from", 0.0)
    if isinstance(start, bool) or not isinstance(start, int | float) or not 0 <= start < 1:
        raise fail("normalisation", "baseline: 'baseline_from' must be a number from 0 to below 1")
    extra = set(raw) - {"method", "baseline_weeks", "min_history", "baseline_from"}
    if extra:
        raise fail("normalisation", f"baseline: unknown field {sorted(extra)[0]!r}")


def _parse_citations(
    raw: Any, sources: Mapping[str, Source], fail: Callable[[str, str], CatalogError]
) -> tuple[Citation, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("citations", "at least one citation is required")
    citations = []
    for item in raw:
        if not isinstance(item, dict):
            raise fail("citations", "each citation is a mapping with 'source' and 'section'")
        key = item.get("source")
        if key not in sources:
            raise fail("citations", f"source {key!r} is not in sources.yaml")
        section = item.get("section")
        if not isinstance(section, str) or not section.strip():
            raise fail("citations", f"citation of {key!r} needs a 'section'")
        extra = set(item) - {"source", "section", "quote", "note"}
        if extra:
            raise fail("citations", f"unknown citation field {sorted(extra)[0]!r}")
        citations.append(
            Citation(
                source=key,
                section=section.strip(),
                quote=item.get("quote"),
                note=item.get("note"),
            )
        )
    return tuple(citations)
