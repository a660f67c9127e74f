"""Theatres: which subjects a catalog scores, with which families, profile and rules.

A catalog folder may hold `theatres.yaml` (docs/catalog.md, "Theatres"): each theatre
is a country and its dyads. The country is scored with its own slice of the catalog
(`families`), `profile` and `rules`; the dyads (`COUNTRY-COUNTERPART`) with theirs
(`dyads.families`, `dyads.profile`, `dyads.rules`, each defaulting to the country's).
Scoring a subject with its theatre's slice is what keeps theatres apart: a family of
one theatre is not in another's denominator, so adding a theatre to a database never
changes the numbers of the theatres already there.

A catalog without the file has one implicit theatre that holds every family and
every subject and scores with `default` and `alerts.yaml`, as before theatres existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CatalogError

__all__ = ["DEFAULT_PROFILE", "DEFAULT_RULES", "THEATRES_FILE", "Role", "Theatre", "parse_theatres"]

THEATRES_FILE = "theatres.yaml"
DEFAULT_PROFILE, DEFAULT_RULES = "default", "alerts.yaml"
_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
_COUNTRY = re.compile(r"[A-Z]{3}")
_RULES_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\.ya?ml")
_KEYS = {"name", "country", "families", "profile", "rules", "dyads"}
_DYAD_KEYS = {"counterparts", "families", "profile", "rules"}


@dataclass(frozen=True)
class Role:
    """What a subject is scored with: a slice of the catalog, a profile, a rule file."""

    families: tuple[str, ...]  # catalog order
    profile: str  # a profile name (models/weights/NAME.yaml)
    rules: str  # a rule file in the models folder


@dataclass(frozen=True)
class Theatre:
    id: str
    name: str
    country: str
    counterparts: tuple[str, ...]
    country_role: Role
    dyad_role: Role

    @property
    def dyads(self) -> tuple[str, ...]:
        return tuple(f"{self.country}-{c}" for c in self.counterparts)

    @property
    def subjects(self) -> tuple[str, ...]:
        return (self.country, *self.dyads)

    def role(self, subject: str) -> Role | None:
        """The subject's role here (None: not a subject of this theatre)."""
        if subject == self.country:
            return self.country_role
        return self.dyad_role if subject in self.dyads else None


def parse_theatres(data: Any, families: Sequence[str], path: Path) -> tuple[Theatre, ...]:
    """Validate `theatres.yaml` against the catalog's families (in catalog order)."""
    if not isinstance(data, dict) or not isinstance(data.get("theatres"), dict):
        raise CatalogError(f"{path}: expected a mapping 'theatres:' of id -> theatre")
    if set(data) != {"theatres"}:
        raise CatalogError(f"{path}: unknown field {sorted(set(data) - {'theatres'})[0]!r}")
    theatres: list[Theatre] = []
    owner: dict[str, str] = {}
    for theatre_id, raw in data["theatres"].items():
        theatre = _theatre(str(theatre_id), raw, families, path)
        for subject in theatre.subjects:
            if subject in owner:
                raise CatalogError(
                    f"{path}: theatre {theatre.id!r}: subject {subject} is already a "
                    f"subject of theatre {owner[subject]!r}"
                )
            owner[subject] = theatre.id
        theatres.append(theatre)
    if not theatres:
        raise CatalogError(f"{path}: 'theatres:' is empty (delete the file for one theatre)")
    return tuple(theatres)


def _theatre(theatre_id: str, raw: Any, families: Sequence[str], path: Path) -> Theatre:
    where = f"{path}: theatre {theatre_id!r}"

    def fail(name: str, problem: str) -> CatalogError:
        return CatalogError(f"{where}: field {name!r}: {problem}")

    if not _ID.fullmatch(theatre_id):
        raise CatalogError(f"{where}: use lower-case letters, digits and _ for its id")
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    _known(raw, _KEYS, fail)
    country = raw.get("country")
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        raise fail("country", f"{country!r} is not an ISO alpha-3 code (BLR)")
    country_role = _role(raw, families, None, fail, "")
    dyads = raw.get("dyads") or {}
    if not isinstance(dyads, dict):
        raise fail("dyads", "expected a mapping with 'counterparts' (and families, profile, rules)")
    _known(dyads, _DYAD_KEYS, fail, "dyads.")
    counterparts = _counterparts(dyads.get("counterparts", []), country, fail)
    dyad_role = _role(dyads, families, country_role, fail, "dyads.")
    return Theatre(
        id=theatre_id,
        name=str(raw.get("name") or theatre_id),
        country=country,
        counterparts=counterparts,
        country_role=country_role,
        dyad_role=dyad_role,
    )


def _known(raw: Mapping[str, Any], keys: set[str], fail: Any, prefix: str = "") -> None:
    unknown = set(raw) - keys
    if unknown:
        raise fail(prefix + sorted(unknown)[0], "unknown field (check the spelling)")


def _counterparts(raw: Any, country: str, fail: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise fail("dyads.counterparts", "expected a list of ISO alpha-3 codes")
    for code in raw:
        if not isinstance(code, str) or not _COUNTRY.fullmatch(code) or code == country:
            raise fail("dyads.counterparts", f"{code!r} is not another country's alpha-3 code")
    if len(set(raw)) != len(raw):
        raise fail("dyads.counterparts", "a counterpart is named twice")
    return tuple(raw)


def _role(
    raw: Mapping[str, Any], families: Sequence[str], base: Role | None, fail: Any, prefix: str
) -> Role:
    """The families, profile and rules of a role; a dyad's default to the country's."""
    chosen = raw.get("families")
    if chosen is None and base is not None:
        slice_ = base.families
    else:
        if not isinstance(chosen, list) or not chosen:
            raise fail(prefix + "families", "expected a non-empty list of family ids")
        for fam in chosen:
            if fam not in families:
                raise fail(
                    prefix + "families",
                    f"{fam!r} is not a family of the catalog ({', '.join(families)})",
                )
        if len(set(chosen)) != len(chosen):
            raise fail(prefix + "families", "a family is named twice")
        slice_ = tuple(f for f in families if f in chosen)  # catalog order, as scored
    profile = raw.get("profile", base.profile if base else DEFAULT_PROFILE)
    if not isinstance(profile, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", profile):
        raise fail(prefix + "profile", f"{profile!r} is not a profile name (models/weights/NAME)")
    rules = raw.get("rules", base.rules if base else DEFAULT_RULES)
    if not isinstance(rules, str) or not _RULES_FILE.fullmatch(rules):
        raise fail(prefix + "rules", f"{rules!r} is not a rule file name in the models folder")
    return Role(slice_, profile, rules)
