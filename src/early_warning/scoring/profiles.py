"""Weight profiles: the analyst's weights, bands and coverage rules, as YAML.

A profile lives in `models/weights/<name>.yaml` (format in docs/scoring.md). It gives
each family and each indicator a weight with the reasoning behind it, the aggregation
method, the band thresholds, the minimum coverage below which a family (or the whole
score) is reported as insufficient instead of scored, and the settings of the
uncertainty analysis. Indicators the profile does not list keep the catalog's default
weight, and `Profile.defaulted` says which.

`Profile.weights_hash` is a hash of everything that changes a score (not of the prose),
so every stored score can say which exact weights produced it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..catalog import Catalog
from ..errors import InputError, NotFoundError, ProfileError
from ..files import read_yaml
from ..numbers import format_number

__all__ = [
    "AGGREGATIONS",
    "BAND_NAMES",
    "PROFILE_NAME",
    "READ_ONLY_PROFILE",
    "Profile",
    "Uncertainty",
    "check_profile_name",
    "list_profiles",
    "load_profile",
    "parse_profile",
    "save_profile",
]

# The one rule for a profile's name (its file is models/weights/NAME.yaml), shared by
# `weights set` and the workbench, so a profile made in one opens in the other.
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
READ_ONLY_PROFILE = "default"  # shipped with the project: a change is saved under a new name


def check_profile_name(name: str, field: str = "name") -> None:
    """Refuse a name no file may have, and the shipped read-only profile (any case)."""
    if not PROFILE_NAME.fullmatch(name):
        raise InputError(
            f"{field}: {name[:80]!r}: use letters, digits, - and _, starting with a letter "
            "or digit (at most 64)"
        )
    if name.lower() == READ_ONLY_PROFILE:
        raise InputError(
            f"{field}: the shipped {READ_ONLY_PROFILE!r} profile is read-only; save under "
            "another name (it starts as a copy of default)"
        )


AGGREGATIONS = ("arithmetic", "geometric")
BAND_NAMES = ("low", "guarded", "elevated", "high", "severe")
_TOP_KEYS = {
    "name", "description", "aggregation", "bands", "bands_reasoning", "min_family_coverage",
    "min_total_coverage", "coverage_reasoning", "uncertainty", "families", "indicators",
}  # fmt: skip


@dataclass(frozen=True)
class Uncertainty:
    """How the Monte Carlo and Sobol analyses perturb this profile."""

    concentration: float = 40.0
    draws: int = 2000
    seed: int = 20261122
    aggregation: tuple[str, ...] = AGGREGATIONS
    normalisation: tuple[str, ...] = ("minmax", "log")
    sobol_range: float = 0.5


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    aggregation: str
    bands: tuple[float, float, float, float]  # lower bounds of guarded, elevated, high, severe
    min_family_coverage: float
    min_total_coverage: float
    family_weights: Mapping[str, float]
    indicator_weights: Mapping[str, float]
    reasoning: Mapping[str, str] = field(default_factory=dict)
    defaulted: tuple[str, ...] = ()
    uncertainty: Uncertainty = Uncertainty()
    path: Path | None = None
    extra_text: Mapping[str, str] = field(default_factory=dict)

    def band(self, score: float) -> str | None:
        """The named band of a 0-100 score (None for no score)."""
        if score is None or math.isnan(score):
            return None
        level = sum(score >= bound for bound in self.bands)
        return BAND_NAMES[level]

    def band_floor(self, name: str) -> float:
        return 0.0 if name == "low" else self.bands[BAND_NAMES.index(name) - 1]

    @property
    def weights_hash(self) -> str:
        """A hash of every setting that changes a score (not of the prose)."""
        content = {
            "aggregation": self.aggregation,
            "bands": list(self.bands),
            "min_family_coverage": self.min_family_coverage,
            "min_total_coverage": self.min_total_coverage,
            "families": dict(sorted(self.family_weights.items())),
            "indicators": dict(sorted(self.indicator_weights.items())),
        }
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_weights(
        self,
        indicators: Mapping[str, float] | None = None,
        families: Mapping[str, float] | None = None,
    ) -> Profile:
        """A copy with some weights changed (the profile is otherwise the same)."""
        return replace(
            self,
            indicator_weights={**self.indicator_weights, **(indicators or {})},
            family_weights={**self.family_weights, **(families or {})},
            defaulted=tuple(i for i in self.defaulted if i not in (indicators or {})),
        )

    def to_yaml(self, catalog: Catalog) -> str:
        """The profile as YAML, families and indicators in catalog order, reasoning kept."""
        data: dict[str, Any] = {"name": self.name}
        data["description"] = self.extra_text.get("description", self.description)
        data["aggregation"] = self.aggregation
        data["bands"] = dict(zip(BAND_NAMES[1:], self.bands, strict=True))
        if "bands_reasoning" in self.extra_text:
            data["bands_reasoning"] = self.extra_text["bands_reasoning"]
        data["min_family_coverage"] = self.min_family_coverage
        data["min_total_coverage"] = self.min_total_coverage
        if "coverage_reasoning" in self.extra_text:
            data["coverage_reasoning"] = self.extra_text["coverage_reasoning"]
        u = self.uncertainty
        data["uncertainty"] = {
            "concentration": u.concentration,
            "draws": u.draws,
            "seed": u.seed,
            "aggregation": list(u.aggregation),
            "normalisation": list(u.normalisation),
            "sobol_range": u.sobol_range,
        }
        data["families"] = {
            f: _entry(self.family_weights[f], self.reasoning.get(f"family:{f}"))
            for f in catalog.families
        }
        data["indicators"] = {
            i: _entry(self.indicator_weights[i], self.reasoning.get(i))
            for i in catalog.indicators
            if i not in self.defaulted
        }
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


def _entry(weight: float, reasoning: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"weight": weight}
    if reasoning:
        entry["reasoning"] = reasoning
    return entry


def _number(value: Any, where: str, *, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{where}: expected a number, got {value!r}")
    if not low <= value <= high:
        low_text, high_text = format_number(low, digits=6), format_number(high, digits=6)
        bounds = f">= {low_text}" if high == math.inf else f"between {low_text} and {high_text}"
        raise ProfileError(f"{where}: must be {bounds}, got {value!r}")
    return float(value)


def parse_profile(data: Any, catalog: Catalog, source: str = "<profile>") -> Profile:
    """Validate a profile's parsed YAML against the catalog.

    Read against a theatre's slice (`Catalog.slice`), families and indicators of the
    whole catalog outside the slice are checked and left out, so a profile written for
    the whole catalog scores a slice; a name the catalog does not have is an error."""
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: expected a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ProfileError(f"{source}: unknown field {sorted(unknown)[0]!r}")
    name = str(data.get("name") or Path(source).stem)
    aggregation = data.get("aggregation", "arithmetic")
    if aggregation not in AGGREGATIONS:
        raise ProfileError(
            f"{source}: field 'aggregation': {aggregation!r} is not one of {AGGREGATIONS}"
        )
    bands = _parse_bands(data.get("bands"), source)
    min_family = _number(
        data.get("min_family_coverage", 0.35), f"{source}: field 'min_family_coverage'", high=1
    )
    min_total = _number(
        data.get("min_total_coverage", 0.25), f"{source}: field 'min_total_coverage'", high=1
    )

    reasoning: dict[str, str] = {}
    family_weights = {f.id: f.weight for f in catalog.families.values()}
    for fam, entry in (data.get("families") or {}).items():
        where = f"{source}: family {fam!r}"
        if fam not in catalog.whole.families:
            raise ProfileError(
                f"{where}: not a family of the catalog ({', '.join(catalog.whole.families)})"
            )
        weight, text = _weight_entry(entry, where)
        if fam not in catalog.families:
            continue  # another theatre's family: checked, but not scored in this slice
        family_weights[fam] = weight
        if text:
            reasoning[f"family:{fam}"] = text

    indicator_weights = {ind.id: ind.weight for ind in catalog}
    listed = set()
    for ind_id, entry in (data.get("indicators") or {}).items():
        where = f"{source}: indicator {ind_id!r}"
        if ind_id not in catalog.whole.indicators:
            raise ProfileError(f"{where}: unknown indicator (not in the catalog)")
        weight, text = _weight_entry(entry, where)
        if ind_id not in catalog.indicators:
            continue
        indicator_weights[ind_id] = weight
        listed.add(ind_id)
        if text:
            reasoning[ind_id] = text

    if not any(w > 0 for w in family_weights.values()):
        raise ProfileError(f"{source}: every family weighs 0; nothing would be scored")
    for fam, weight in family_weights.items():
        members = catalog.families[fam].indicators
        if weight > 0 and not any(indicator_weights[i] > 0 for i in members):
            raise ProfileError(
                f"{source}: family {fam!r}: empty family: it weighs "
                f"{format_number(weight, digits=6)} but all its indicators weigh 0"
            )

    extra = {
        key: " ".join(str(data[key]).split())
        for key in ("description", "bands_reasoning", "coverage_reasoning")
        if data.get(key)
    }
    return Profile(
        name=name,
        description=extra.get("description", ""),
        aggregation=aggregation,
        bands=bands,
        min_family_coverage=min_family,
        min_total_coverage=min_total,
        family_weights=family_weights,
        indicator_weights=indicator_weights,
        reasoning=reasoning,
        defaulted=tuple(i for i in catalog.indicators if i not in listed),
        uncertainty=_parse_uncertainty(data.get("uncertainty"), source),
        path=Path(source) if source != "<profile>" else None,
        extra_text=extra,
    )


def _weight_entry(entry: Any, where: str) -> tuple[float, str | None]:
    if isinstance(entry, dict):
        unknown = set(entry) - {"weight", "reasoning"}
        if unknown:
            raise ProfileError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        if "weight" not in entry:
            raise ProfileError(f"{where}: field 'weight' is required")
        text = entry.get("reasoning")
        return _number(entry["weight"], f"{where}: field 'weight'"), (
            " ".join(str(text).split()) if text else None
        )
    return _number(entry, f"{where}: field 'weight'"), None


def _parse_bands(raw: Any, source: str) -> tuple[float, float, float, float]:
    if raw is None:
        return (20.0, 40.0, 60.0, 80.0)
    where = f"{source}: field 'bands'"
    if not isinstance(raw, dict) or set(raw) != set(BAND_NAMES[1:]):
        raise ProfileError(f"{where}: give the lower bound of each of {', '.join(BAND_NAMES[1:])}")
    bounds = tuple(_number(raw[name], f"{where}: {name}", high=100) for name in BAND_NAMES[1:])
    if not all(a < b for a, b in zip((0.0, *bounds[:-1]), bounds, strict=True)):
        raise ProfileError(f"{where}: thresholds must rise strictly above 0: {list(bounds)}")
    return bounds  # type: ignore[return-value]


def _parse_uncertainty(raw: Any, source: str) -> Uncertainty:
    if raw is None:
        return Uncertainty()
    where = f"{source}: field 'uncertainty'"
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected a mapping")
    known = set(Uncertainty.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ProfileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    base = Uncertainty()
    aggregation = tuple(raw.get("aggregation", base.aggregation))
    if not aggregation or not set(aggregation) <= set(AGGREGATIONS):
        raise ProfileError(f"{where}: aggregation must list methods from {AGGREGATIONS}")
    normalisation = tuple(raw.get("normalisation", base.normalisation))
    if not normalisation or not set(normalisation) <= {"minmax", "log", "ln"}:
        raise ProfileError(f"{where}: normalisation must list methods from ('minmax', 'log', 'ln')")
    draws = raw.get("draws", base.draws)
    if isinstance(draws, bool) or not isinstance(draws, int) or not 10 <= draws <= 1_000_000:
        raise ProfileError(f"{where}: draws must be a whole number from 10 to 1,000,000")
    seed = raw.get("seed", base.seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ProfileError(f"{where}: seed must be a whole number >= 0")
    return Uncertainty(
        concentration=_number(
            raw.get("concentration", base.concentration), f"{where}: concentration", low=0.1
        ),
        draws=draws,
        seed=seed,
        aggregation=aggregation,
        normalisation=normalisation,
        sobol_range=_number(
            raw.get("sobol_range", base.sobol_range), f"{where}: sobol_range", high=0.99
        ),
    )


def load_profile(models_dir: Path, name_or_path: str, catalog: Catalog) -> Profile:
    """A profile by name (models/weights/NAME.yaml) or by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = models_dir / "weights" / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in list_profiles(models_dir)) or "none"
        raise NotFoundError(f"{path}: no such weight profile (known: {known})")
    data = read_yaml(path, ProfileError, "weight profile")
    profile = parse_profile(data, catalog, str(path))
    if profile.name != path.stem:
        raise ProfileError(f"{path}: field 'name': {profile.name!r} must match the file name")
    return profile


def list_profiles(models_dir: Path) -> list[Path]:
    return sorted((models_dir / "weights").glob("*.yaml"))


def save_profile(profile: Profile, catalog: Catalog, path: Path) -> str:
    """Write the profile as YAML (atomically); return the text written."""
    text = profile.to_yaml(catalog)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".yaml.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return text
