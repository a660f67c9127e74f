"""The composite index: `CompositeIndex(catalog, profile).fit(panel) -> ScoreResults`.

`ScoreResults` holds, for every week of the panel, the normalised risk of each
indicator, the family scores and coverage, the composite score, its band, and the
exact contribution of every indicator; `week(row)` gives one week as a plain record
(the `score --json` shape of DESIGN.md 3.4), `drivers(row)` splits the change from the
previous week into its causes, and `predict_weight_change` says what a new weight would
do to the score, from the attribution alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..numbers import format_number
from ..panel import MISSING, STALE, Panel
from ..periods import iso_week
from .aggregate import Aggregate, Structure, Terms, aggregate
from .normalise import insufficient_history, normalise_panel
from .profiles import Profile

__all__ = ["DRIVER_FLOOR", "CompositeIndex", "Driver", "ScoreResults", "widening"]

DRIVER_FLOOR = 0.05  # a change below this [points] is not a driver worth a reader's time
WORLD, DECAY = "world", "decay"  # what moved an indicator: new data, or declared decay


def widening(excess_age: np.ndarray) -> np.ndarray:
    """How far a stale value's risk may have moved, on the 0-1 risk scale.

    Zero while current, growing linearly to 0.5 when a value is twice its stale age
    and staying there (a convention, docs/scoring.md "How a value lives": an unknown
    value is anywhere in a band half the scale wide around the last one known).
    """
    return 0.5 * np.clip(np.nan_to_num(excess_age), 0.0, 1.0)


@dataclass(frozen=True)
class Driver:
    """One indicator's part in the change of the score from one week to the next."""

    indicator: str
    change: float  # points
    before: float | None  # raw value the week before
    after: float | None  # raw value this week
    reason: str  # plain words
    cause: str = WORLD  # "world": new data moved it; "decay": an event's declared decay


class CompositeIndex:
    """The composite index of a catalog under a weight profile."""

    def __init__(self, catalog: Catalog, profile: Profile) -> None:
        self.catalog = catalog
        self.profile = profile
        self.indicators = list(catalog.indicators)
        self.structure = Structure.build(
            list(catalog.families), [catalog.indicators[i].family for i in self.indicators]
        )

    def weight_arrays(self, profile: Profile | None = None) -> tuple[np.ndarray, np.ndarray]:
        profile = profile or self.profile
        w = np.array([profile.indicator_weights[i] for i in self.indicators], dtype=float)
        families = np.array(
            [profile.family_weights[f] for f in self.structure.families], dtype=float
        )
        return w, families

    def normalise(self, panel: Panel, method_for: dict[str, str] | None = None) -> np.ndarray:
        self._check(panel)
        return normalise_panel(
            self.catalog, self.indicators, panel.values, method_for, ids=panel.obs_id
        )

    def aggregate(
        self,
        risk: np.ndarray,
        profile: Profile | None = None,
        method: str | None = None,
        *,
        terms: Terms | None = None,
    ) -> Aggregate:
        """`terms`: `prepare(risk, self.structure, method)` made once for many weights."""
        profile = profile or self.profile
        w, families = self.weight_arrays(profile)
        return aggregate(
            risk,
            self.structure,
            w,
            families,
            method=method or profile.aggregation,
            min_family_coverage=profile.min_family_coverage,
            min_total_coverage=profile.min_total_coverage,
            terms=terms,
        )

    def fit(self, panel: Panel) -> ScoreResults:
        risk = self.normalise(panel)
        return ScoreResults(self, panel, risk, self.aggregate(risk))

    def _check(self, panel: Panel) -> None:
        if panel.indicators != self.indicators:
            raise ValueError("the panel was built from another catalog")


class ScoreResults:
    """Scores for every week of a panel under one profile."""

    def __init__(
        self, index: CompositeIndex, panel: Panel, risk: np.ndarray, agg: Aggregate
    ) -> None:
        self.index = index
        self.panel = panel
        self.risk = risk
        self.agg = agg
        self.profile = index.profile
        self._age_band: tuple[np.ndarray, np.ndarray] | None = None
        # The words of each value (by week date and column) depend on the panel alone:
        # a caller that rescores one panel under many weights (the workbench) lends
        # the same dictionary to each of its results, so they are written once.
        self.value_texts: dict[tuple[int, int], str] = {}

    def tail(self, weeks: int) -> ScoreResults:
        """The last `weeks` weeks alone, their numbers as they are here (sliced, not
        recomputed): what reads one week and the weeks just before it."""
        rows = slice(max(self.panel.n_weeks - weeks, 0), None)
        panel = self.panel
        part = dataclasses.replace(
            panel, dates=panel.dates[rows], raw=panel.raw[rows], age_days=panel.age_days[rows],
            status=panel.status[rows], obs_id=panel.obs_id[rows], events=panel.events[rows],
        )  # fmt: skip
        return ScoreResults(self.index, part, self.risk[rows], self.agg.rows(rows))

    # -- series ---------------------------------------------------------------------

    @property
    def score(self) -> np.ndarray:
        return self.agg.score

    @property
    def dates(self) -> list[dt.date]:
        return [self.panel.date(r) for r in range(self.panel.n_weeks)]

    @property
    def latest_row(self) -> int:
        return self.panel.n_weeks - 1

    def band(self, row: int) -> str | None:
        return self.profile.band(float(self.agg.score[row]))

    @property
    def age_band(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest score if every stale value's risk were anywhere within its
        widened interval (`widening`): both aggregations are monotone in each risk, so
        the two ends are exact. Equal to the score where nothing is stale."""
        if self._age_band is None:
            spread = widening(self.panel.excess_age)
            low = np.clip(self.risk - spread, 0.0, 1.0)
            high = np.clip(self.risk + spread, 0.0, 1.0)
            self._age_band = (
                self.index.aggregate(low).score,
                self.index.aggregate(high).score,
            )
        return self._age_band

    def stale_share(self, row: int) -> float:
        """The share of the score's weight that rests on stale values."""
        stale = self.panel.status[row] == STALE
        per_indicator = self.agg.family_share[row, self.index.structure.family_of]
        return float((per_indicator * self.agg.indicator_share[row])[stale].sum())

    # -- one week -------------------------------------------------------------------

    def week(self, row: int = -1, *, top: int | None = None) -> dict[str, Any]:
        """One week as the `score --json` record (DESIGN.md 3.4) plus detail."""
        row = row % self.panel.n_weeks
        score = _number(self.agg.score[row])
        structure = self.index.structure
        families = {}
        for k, fam in enumerate(structure.families):
            cov = float(self.agg.family_coverage[row, k])
            status = "scored" if self.agg.sufficient[row, k] else "insufficient"
            if self.profile.family_weights[fam] == 0:
                status = (
                    "context (weight 0)"
                    if not math.isnan(self.agg.family_score[row, k])
                    else "no data"
                )
            # A context family (weight 0) is scored and shown on its own, like any
            # family with enough coverage; it just does not enter the total.
            shown = bool(self.agg.sufficient[row, k]) or (
                self.profile.family_weights[fam] == 0
                and cov >= self.profile.min_family_coverage
                and not math.isnan(self.agg.family_score[row, k])
            )
            families[fam] = {
                "score": _number(100 * self.agg.family_score[row, k]) if shown else None,
                "coverage": round(cov, 4),
                "status": status,
                "weight": self.profile.family_weights[fam],
            }
        contributions = self._contributions(row, top)
        previous = row - 1 if row > 0 else None
        low, high = (float(a[row]) for a in self.age_band)
        age_band = None if score is None else {"low": _number(low), "high": _number(high)}
        change = None
        if previous is not None and score is not None and not math.isnan(self.agg.score[previous]):
            change = round(score - float(self.agg.score[previous]), 4)
        return {
            "subject": self.panel.subject,
            "as_of": self.panel.as_of.isoformat()
            if row == self.latest_row
            else self.panel.date(row).isoformat(),
            "week": iso_week(self.panel.date(row)),
            "week_date": self.panel.date(row).isoformat(),
            "profile": self.profile.name,
            "profile_hash": self.profile.weights_hash,
            "point_in_time": self.panel.point_in_time,
            "score": score,
            "band": self.band(row),
            "coverage": round(float(self.agg.coverage[row]), 4),
            "stale_share": None if score is None else round(self.stale_share(row), 4),
            "age_band": age_band,
            "insufficient": score is None,
            "families": families,
            "contributions": contributions,
            "change": change,
            "drivers": [vars(d) for d in self.drivers(row)] if previous is not None else [],
            "stale": self._indicators_with(row, STALE),
            "missing": self._indicators_with(row, MISSING),
            "insufficient_history": self._insufficient_history(row),
        }

    def _contributions(self, row: int, top: int | None = None) -> list[dict[str, Any]]:
        """The indicators with a value, largest contribution first (then by id), the
        first `top` of them (all: None): ordered on arrays, written out only for those
        shown."""
        panel, catalog = self.panel, self.index.catalog
        names = self.index.indicators
        shown = (panel.status[row] != MISSING) & ~np.isnan(self.risk[row])
        contribution = [round(c, 6) for c in self.agg.contributions[row].tolist()]
        columns = np.flatnonzero(shown).tolist()
        order = sorted(columns, key=lambda j: (-contribution[j], names[j]))[:top]
        items = []
        for j in order:
            items.append(
                {
                    "indicator": names[j],
                    "contribution": contribution[j],
                    "risk": round(float(self.risk[row, j]), 6),
                    "value": float(panel.raw[row, j]),
                    "display": self._value_text(row, j),
                    "age_days": int(panel.age_days[row, j]),
                    "stale": bool(panel.status[row, j] == STALE),
                    "observation_id": int(panel.obs_id[row, j]),
                    "family": catalog.indicators[names[j]].family,
                }
            )
        return items

    def _insufficient_history(self, row: int) -> list[str]:
        """Indicators judged against their own past (`baseline`) that have a value this
        week but too few earlier weeks to judge it by: no risk, and said so."""
        panel, catalog = self.panel, self.index.catalog
        out = []
        for j, ind in enumerate(self.index.indicators):
            spec = catalog.indicators[ind].normalisation
            if spec["method"] != "baseline" or not math.isnan(self.risk[row, j]):
                continue
            short = insufficient_history(
                panel.values[: row + 1, j], spec, panel.obs_id[: row + 1, j]
            )
            if short[-1]:
                out.append(ind)
        return out

    def _value_text(self, row: int, j: int) -> str:
        key = (int(self.panel.dates[row]), j)
        if key not in self.value_texts:
            panel, definition = self.panel, self.index.catalog.indicators[self.index.indicators[j]]
            raw, events = float(panel.raw[row, j]), int(panel.events[row, j])
            self.value_texts[key] = definition.describe_value(raw, events=events)
        return self.value_texts[key]

    def _indicators_with(self, row: int, status: int) -> list[str]:
        return [
            ind
            for j, ind in enumerate(self.index.indicators)
            if self.panel.status[row, j] == status
        ]

    # -- change and what-if -----------------------------------------------------------

    def drivers(self, row: int = -1, top: int = 3) -> list[Driver]:
        """The largest contributions to the change from the week before, in plain words,
        each marked with its cause (new data, or the declared decay of an event); changes
        below `DRIVER_FLOOR` points are left out."""
        row = row % self.panel.n_weeks
        if row == 0 or math.isnan(self.agg.score[row]) or math.isnan(self.agg.score[row - 1]):
            return []
        delta = self.agg.contributions[row] - self.agg.contributions[row - 1]
        order = np.argsort(-np.abs(delta), kind="stable")
        found = []
        for j in order[:top]:
            if abs(delta[j]) < DRIVER_FLOOR:
                break
            found.append(self._driver(row, int(j), float(delta[j])))
        return found

    def _decayed_only(self, row: int, j: int) -> bool:
        """An event column that moved only by its declared decay (no new event)."""
        panel = self.panel
        return (
            self.index.catalog.indicators[self.index.indicators[j]].lifetime == "event"
            and panel.obs_id[row, j] == panel.obs_id[row - 1, j]
            and panel.events[row, j] <= panel.events[row - 1, j]
        )

    def _driver(self, row: int, j: int, change: float) -> Driver:
        panel = self.panel
        ind = self.index.catalog.indicators[self.index.indicators[j]]
        k_fam = int(self.index.structure.family_of[j])
        was, now = bool(self.agg.sufficient[row - 1, k_fam]), bool(self.agg.sufficient[row, k_fam])
        before_status, after_status = panel.status[row - 1, j], panel.status[row, j]
        before = float(panel.raw[row - 1, j]) if before_status != MISSING else None
        after = float(panel.raw[row, j]) if after_status != MISSING else None
        sign = "+" if change >= 0 else "\u2212"
        points = f"{sign}{abs(change):.2f} points"
        family = self.index.structure.families[k_fam]
        coverage = float(self.agg.family_coverage[row, k_fam])
        minimum = self.profile.min_family_coverage
        if before is not None and after is not None and self._decayed_only(row, j):
            events = int(panel.events[row, j])
            reason = (
                f"{ind.name}: decayed with its half-life, "
                f"{ind.describe_value(after, events=events)} ({points})"
            )
            return Driver(ind.id, round(change, 6), before, after, reason, DECAY)
        if before is not None and after is None:
            word = "has no current value"
            if was and not now:
                reason = (
                    f"{ind.name} {word}; {family} fell to {coverage:.0%} coverage, below the "
                    f"minimum of {minimum:.0%}, and is no longer counted ({points})"
                )
            else:
                reason = f"{ind.name} {word}; its weight moved to the rest of its family ({points})"
        elif was and not now:
            reason = (
                f"{ind.name}: no longer counted, because {family} fell to {coverage:.0%} "
                f"coverage, below the minimum of {minimum:.0%} ({points})"
            )
        elif now and not was:
            reason = (
                f"{ind.name}: counted again, {family} is back to {coverage:.0%} coverage ({points})"
            )
        elif before is None and after is not None:
            reason = f"{ind.name}: new data, {ind.describe_value(after)} ({points})"
        elif before != after:
            verb = "rose" if after > before else "fell"
            risk_change = float(self.risk[row, j] - self.risk[row - 1, j])
            reason = (
                f"{ind.name} {verb} from {ind.describe_value(before, unit=False)} to "
                f"{ind.describe_value(after)}"
            )
            if risk_change * change < 0 or abs(risk_change) < 1e-12:
                before_cov = float(self.agg.family_coverage[row - 1, k_fam])
                reason += (
                    f" (risk {_direction(risk_change)}),"
                    f" but {family} coverage moved from {before_cov:.0%} to {coverage:.0%}"
                    f" and re-weighted it ({points})"
                )
            else:
                reason += f" ({points})"
        else:
            reason = f"{ind.name}: unchanged value, re-weighted as other data changed ({points})"
        return Driver(ind.id, round(change, 6), before, after, reason)

    def predict_weight_change(
        self, row: int, *, indicator: str | None = None, family: str | None = None, weight: float
    ) -> float:
        """The score after setting one weight, predicted from the attribution alone.

        For arithmetic aggregation the score is a weighted mean of contributions. With
        family contribution C_f (the sum of its indicators' contributions) and the
        indicator's share s_i of its family's weight with data, scaling w_i by k gives
        C_f' = (C_f + (k-1) c_i) / (1 + (k-1) s_i); scaling a family weight W_f by k
        gives S' = (S + (k-1) C_f) / (1 + (k-1) a_f), with a_f the family's share.
        These hold while the set of scored families stays the same; a change that moves
        a family across the minimum coverage raises `ValueError` (recompute instead).
        """
        if self.profile.aggregation != "arithmetic":
            raise ValueError("the attribution predicts weight changes for arithmetic aggregation")
        row = row % self.panel.n_weeks
        score = float(self.agg.score[row])
        structure = self.index.structure
        if indicator is not None:
            j = self.index.indicators.index(indicator)
            k_fam = int(structure.family_of[j])
            k = weight / self.profile.indicator_weights[indicator]
            self._check_sufficiency_kept(row, k_fam, indicator, weight)
            if self.panel.status[row, j] == MISSING or not self.agg.sufficient[row, k_fam]:
                return score
            share = float(self.agg.indicator_share[row, j])
            c_i = float(self.agg.contributions[row, j])
            c_f = float(self.agg.contributions[row, structure.members(k_fam)].sum())
            new_c_f = (c_f + (k - 1) * c_i) / (1 + (k - 1) * share)
            return score + new_c_f - c_f
        if family is not None:
            k_fam = structure.families.index(family)
            if (weight > 0) != (self.profile.family_weights[family] > 0):
                raise ValueError(
                    f"setting {family} to {format_number(weight, digits=6)} changes which "
                    "families are scored"
                )
            if not self.agg.sufficient[row, k_fam]:
                return score
            c_f = float(self.agg.contributions[row, structure.members(k_fam)].sum())
            a_f = float(self.agg.family_share[row, k_fam])
            k = weight / self.profile.family_weights[family]
            return (score + (k - 1) * c_f) / (1 + (k - 1) * a_f)
        raise ValueError("name an indicator or a family")

    def _check_sufficiency_kept(self, row: int, k_fam: int, indicator: str, weight: float) -> None:
        cols = self.index.structure.members(k_fam)
        weights = {
            i: self.profile.indicator_weights[i] for i in (self.index.indicators[c] for c in cols)
        }
        weights[indicator] = weight
        total = sum(weights.values())
        with_data = sum(
            w
            for c, (i, w) in zip(cols, weights.items(), strict=True)
            if self.panel.status[row, c] != MISSING
        )
        coverage = with_data / total if total else 0.0
        still = coverage >= self.profile.min_family_coverage and with_data > 0
        fam = self.index.structure.families[k_fam]
        if self.profile.family_weights[fam] > 0 and still != bool(self.agg.sufficient[row, k_fam]):
            raise ValueError(
                f"setting {indicator} to {format_number(weight, digits=6)} moves {fam} across "
                "the minimum coverage; the attribution cannot predict that, recompute the score"
            )

    # -- text -----------------------------------------------------------------------

    def summary(self, row: int = -1) -> str:
        """A few lines for people: score, band, coverage, families, drivers."""
        week = self.week(row)
        lines = []
        # "As of" alone reads as "as known then"; without --point-in-time a value
        # published (or revised) after that day is used too, and the line says so.
        known = "as known then" if week["point_in_time"] else "with every value known now"
        head = (
            f"{week['subject']} {week['week']} (as of {week['as_of']}, {known}; "
            f"profile {week['profile']} {week['profile_hash']})"
        )
        lines.append(head)
        if week["score"] is None:
            lines.append(f"  score: insufficient data (coverage {week['coverage']:.0%})")
        else:
            change = ""
            if week["change"] is not None:
                text = f"{week['change']:+.1f}"
                text = "no change" if text in ("+0.0", "-0.0") else text
                change = f", {text} on the week before"
            lines.append(
                f"  score {week['score']:.1f} / 100, band {week['band']}{change}; "
                f"coverage {week['coverage']:.0%}"
            )
            if week["stale_share"]:
                band = week["age_band"]
                lines.append(
                    f"  {week['stale_share']:.0%} of its weight rests on stale values; with "
                    f"their uncertainty widened by age the score lies in "
                    f"{band['low']:.1f} .. {band['high']:.1f}"
                )
        for fam, info in week["families"].items():
            value = f"{info['score']:.1f}" if info["score"] is not None else "-"
            lines.append(
                f"  {fam:<24}{value:>6}  coverage {info['coverage']:.0%}  {info['status']}"
            )
        world = [d for d in week["drivers"] if d["cause"] == WORLD]
        decay = [d for d in week["drivers"] if d["cause"] == DECAY]
        if world:
            lines.append("  what the world did (new data):")
            lines.extend(f"    {d['reason']}" for d in world)
        if decay:
            lines.append("  what time did (the declared decay of recent activity):")
            lines.extend(f"    {d['reason']}" for d in decay)
        top = [c for c in week["contributions"][:5] if c["contribution"] > 0]
        if top:
            lines.append("  largest contributions:")
            lines.extend(
                f"    {c['indicator']:<36}{c['contribution']:>7.2f}  ({c['display']})" for c in top
            )
        if week["stale"]:
            lines.append(
                "  stale (older than their maximum age; still used, with a wider band): "
                + ", ".join(week["stale"])
            )
        if week["missing"]:
            lines.append("  missing (never observed by then): " + ", ".join(week["missing"]))
        lines.extend(self._short_history_lines(week["insufficient_history"]))
        return "\n".join(lines)

    def _short_history_lines(self, short: list[str]) -> list[str]:
        """The `baseline` indicators with a value but too short a past to judge it, one
        line per history length asked for, so the reader sees why they have no risk."""
        need: dict[int, list[str]] = {}
        for ind in short:
            least = int(self.index.catalog.indicators[ind].normalisation["min_history"])
            need.setdefault(least, []).append(ind)
        return [
            f"  insufficient history (baseline needs {least} earlier weeks): " + ", ".join(names)
            for least, names in sorted(need.items())
        ]


def _direction(change: float) -> str:
    return "up" if change > 0 else "down" if change < 0 else "unchanged"


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)
