"""The structural prior of the weekly forecast: a yearly, pooled, measured probability
turned into the horizon's.

The structural model (`structural.py`) gives P(armed conflict involving the subject in
the year), fitted on every country. Over a horizon of h weeks, at a constant hazard,
that is p_h = 1 - (1 - p_year)^(h/52). The weekly forecast shows it beside its own
models and, where the subject's own record cannot give a base rate ("insufficient
history"), stands it in for the base rate and the ensemble, flagged "structural
prior". It is a stand-in, not the same question: the weekly target is the subject's
escalation events of a severity, the structural one UCDP's armed conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..numbers import format_number
from .models import Prediction
from .structural import horizon_probability

__all__ = ["STATUS", "StructuralPrior", "with_prior"]

STATUS = "structural prior"
_MISSING = ("insufficient history",)


@dataclass(frozen=True)
class StructuralPrior:
    """A recorded structural probability for a subject and year, as it stood."""

    probability_year: float
    year: int
    as_of: str
    rank: int | None = None
    ranked: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StructuralPrior:
        return cls(
            float(data["probability_year"]), int(data["year"]), str(data["as_of"]),
            data.get("rank"), data.get("ranked"),
        )  # fmt: skip

    def for_horizon(self, weeks: int) -> float:
        return horizon_probability(self.probability_year, weeks)

    def note(self, weeks: int) -> str:
        where = f", rank {self.rank} of {self.ranked}" if self.rank and self.ranked else ""
        return (
            f"structural model (pooled over every country): P(armed conflict in "
            f"{self.year}) = {format_number(self.probability_year * 100, '%')}{where}, as of "
            f"{self.as_of}; over "
            f"{weeks} weeks 1 - (1 - p)^({weeks}/52)"
        )

    def as_prediction(self, weeks: int) -> Prediction:
        """The prior over `weeks` as a model's answer (the ensemble's pooled prior)."""
        return Prediction(
            "structural_prior", self.for_horizon(weeks), None, None, "fitted", self.note(weeks)
        )

    def to_dict(self, weeks: int) -> dict[str, Any]:
        return {
            "probability": round(self.for_horizon(weeks), 6),
            "probability_year": round(self.probability_year, 6),
            "year": self.year,
            "as_of": self.as_of,
            "rank": self.rank,
            "ranked": self.ranked,
            "rule": f"1 - (1 - p_year)^({weeks}/52)",
        }


def with_prior(
    predictions: dict[str, Prediction], prior: StructuralPrior | None, weeks: int
) -> dict[str, Prediction]:
    """The predictions with the prior beside them; where the base rate (and so the
    ensemble) has no history to stand on, the prior stands in, flagged."""
    if prior is None:
        return predictions
    p = prior.for_horizon(weeks)
    note = prior.note(weeks)
    out = dict(predictions)
    out["structural_prior"] = prior.as_prediction(weeks)
    for name in ("base_rate", "ensemble"):
        current = out.get(name)
        if current is not None and current.status in _MISSING:
            out[name] = Prediction(
                name, p, None, None, STATUS,
                f"no labelled week of the subject's own yet; the {note} stands in",
            )  # fmt: skip
    return out
