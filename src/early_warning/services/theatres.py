"""A subject's scope: its theatre's slice of the catalog, its profile and its rules.

Every face that scores a subject asks here what to score it with, so `score`, the
pipeline, the daemon and the alert check agree (docs/catalog.md, "Theatres"):

    scope = subject_scope(catalog, models_dir, "BLR-UKR")        # the dyads' profile
    scope = subject_scope(catalog, models_dir, "BLR", "mine")    # an explicit profile wins
    results = score(store, scope.catalog, scope.profile, scope.subject, as_of)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..alerts.rules import Rule, load_rules
from ..catalog import Catalog
from ..errors import ProfileError, RuleError
from ..scoring.profiles import Profile, load_profile
from ..theatres import Theatre

__all__ = ["Scope", "subject_scope"]


@dataclass(frozen=True)
class Scope:
    """What one subject is scored with."""

    subject: str
    theatre: Theatre | None  # None: a catalog without theatres
    catalog: Catalog  # the theatre's slice for this subject
    profile: Profile
    rules: tuple[Rule, ...]

    @property
    def theatre_id(self) -> str | None:
        return self.theatre.id if self.theatre else None


def subject_scope(
    catalog: Catalog,
    models_dir: Path,
    subject: str,
    profile: str | None = None,
    rules: Path | None = None,
) -> Scope:
    """The subject's slice, its theatre's profile (or `profile`, which wins) and rules
    (or the file `rules`), each read against the slice: a profile or rule that names a
    family or indicator of another theatre is refused with the file and field named."""
    theatre, role = catalog.role(subject)
    part = catalog.slice(role.families)
    where = f" (theatre {theatre.id})" if theatre else ""
    try:
        weights = load_profile(models_dir, profile or role.profile, part)
    except ProfileError as exc:
        raise ProfileError(f"{exc}{where}") from None
    path = rules or models_dir / role.rules
    kept = [r for r in load_rules(path, catalog) if r.applies_to(subject)]
    for rule in kept:
        _check_in_slice(rule, part, f"{path}: rule {rule.id!r}", f"{subject}{where}")
    return Scope(subject, theatre, part, weights, tuple(kept))


def _check_in_slice(rule: Rule, part: Catalog, where: str, subject: str) -> None:
    """A rule that applies to the subject may read only the subject's slice: scored with
    another theatre's indicator, it would watch a number this subject never has."""
    kind, _, name = rule.target.partition(":")
    named = [c.indicator for c in rule.conditions] + list(rule.indicators)
    named += [name] if kind == "indicator" else []
    for indicator in named:
        if indicator not in part.indicators:
            raise RuleError(
                f"{where}: indicator {indicator!r} is not in the slice of {subject}; "
                "limit the rule with 'subjects:'"
            )
    if kind == "family" and name not in part.families:
        raise RuleError(
            f"{where}: family {name!r} is not in the slice of {subject}; "
            "limit the rule with 'subjects:'"
        )
