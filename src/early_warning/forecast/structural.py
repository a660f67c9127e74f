"""The pooled structural model: armed conflict per country-year, every country at once.

    panel = CountryYearPanel.build(states, conflicts, values)
    results = StructuralModel(panel, StructuralSpec("incidence")).fit(year=2023)
    results.predict()          # P(armed conflict in 2023) for every country
    results.summary()          # coefficients, country effects, what the fit rested on

Pure: arrays and rows in, numbers out; the store is read by `services.structural`.

**The question.** *Incidence*: is the country a party to, or the location of, an armed
conflict (UCDP/PRIO: at least 25 battle-related deaths in the year) in year t?
*Onset*: the same, for a country with no conflict in the two years before t (the
at-risk rows; the others are not asked).

**Point in time.** The forecast for year t is made on 31 December of t - 1, from what
was known on that day: each input row carries the day it became known (`known`), so a
year's conflict record counts once its release is out (UCDP publishes year t in the
middle of t + 1), a year's GDP once the World Bank has it, and so on. With the usual
release lags the latest data year at the origin is t - 2. Each training row (c, t) is
built the same way, as known on its own origin, and a row is used for training only
once its outcome is known at the origin of the forecast being made (the conflict record
covers t). Which years the record covers is given by `coverage`: the day each year's
complete release became known (a single analyst's event does not make a year
"covered", or every other country would look peaceful that year).

**The model.** Logistic regression on standardised covariates (conflict history and
years at peace, war, the region's share of countries in conflict, GDP level and growth,
military spending share and its change, the state's age; a missing input enters as 0
with a flag beside it), with one intercept per country partially pooled: country
dummies under a ridge penalty, which is the posterior mode of a random-intercept model
with the prior standard deviation `country_sd` (Gelman and Hill 2007, ch. 12), so a
country with little history borrows from the world. scikit-learn's lbfgs fits it
(deterministic; the common intercept unpenalised).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "FEATURES",
    "ConflictRow",
    "CountryYearPanel",
    "State",
    "StructuralModel",
    "StructuralResults",
    "StructuralSpec",
    "ValueRow",
    "horizon_probability",
    "origin_of",
]

GDP = "gdp_usd_bn"
MILEX = "military_expenditure_share_gdp"

FEATURES: tuple[str, ...] = (
    "conflict_last",  # a conflict in the latest year the record covers
    "war_last",  # ... of 1,000 or more battle deaths
    "conflict_share_5y",  # share of the last five covered years with a conflict
    "log_peace_years",  # log(1 + years since the last conflict), or since 1946 / independence
    "region_conflict_share",  # share of the other states of the region in conflict then
    "log_state_age",  # log(1 + years since independence, from 1946)
    "log_gdp",  # log GDP, current US$ bn, latest year known
    "gdp_growth",  # change in log GDP over the latest known year (nominal US$)
    "has_gdp",
    "log_milex_share",  # log(1 + military spending, % of GDP)
    "milex_change",  # change in that share, percentage points
    "has_milex",
)
_FLAGS = {"has_gdp", "has_milex"}
_STALE_YEARS = 3  # an input older than t - 1 - 3 counts as missing


def origin_of(year: int) -> dt.date:
    """The day the forecast for `year` is made: 31 December of the year before."""
    return dt.date(year - 1, 12, 31)


def horizon_probability(p_year: float, weeks: float) -> float:
    """A yearly probability over `weeks`, at a constant hazard: 1 - (1 - p)^(weeks/52)."""
    return float(1.0 - (1.0 - p_year) ** (weeks / 52.0))


@dataclass(frozen=True)
class State:
    """A state of the Gleditsch-Ward list: its code, first and last year, region."""

    code: str
    start: int
    end: int | None
    region: str


@dataclass(frozen=True)
class ConflictRow:
    """A country's part in an armed conflict in a year, and when that became known."""

    subject: str
    year: int
    severity: int  # 2: 25-999 battle deaths, 3: war (1,000 or more)
    known: dt.date


@dataclass(frozen=True)
class ValueRow:
    """A country-year value (GDP, military spending) and when it became known."""

    subject: str
    indicator: str
    year: int
    value: float
    known: dt.date


@dataclass
class CountryYearPanel:
    """One row per (country, year): features as known at the year's origin, outcomes.

    `incidence` and `onset` are the outcomes as finally recorded (NaN where the record
    does not cover the year; `onset` NaN also where the country is not at risk).
    `label_known[r]` is the day row r's outcome became known; `at_risk_known[r]` says
    whether the country looked at risk on the origin (no conflict in the years known).
    """

    subjects: np.ndarray  # str, per row
    years: np.ndarray  # int, per row
    x: np.ndarray  # rows x len(FEATURES)
    incidence: np.ndarray
    onset: np.ndarray
    label_known: np.ndarray  # ordinal day (a large number: not known)
    data_year: np.ndarray  # the latest year the conflict record covered at the origin
    at_risk_known: np.ndarray  # bool
    states: dict[str, State] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.years)

    @property
    def countries(self) -> list[str]:
        return sorted(set(self.subjects.tolist()))

    @classmethod
    def build(
        cls,
        states: Iterable[State],
        conflicts: Iterable[ConflictRow],
        values: Iterable[ValueRow],
        coverage: Mapping[int, dt.date],
        *,
        first_year: int = 1946,
        last_year: int | None = None,
    ) -> CountryYearPanel:
        """Rows for every state in each year from `first_year` + 1 to `last_year` (default:
        the year after the last covered one), each as known on its origin."""
        state_map = {s.code: s for s in states}
        conflict_rows = sorted(conflicts, key=lambda r: r.known)
        value_rows = sorted(values, key=lambda r: r.known)
        covered = sorted(coverage.items())
        if last_year is None:
            last_year = (max(coverage) + 1) if coverage else first_year
        final: dict[tuple[str, int], int] = {}
        for row in conflict_rows:
            key = (row.subject, row.year)
            final[key] = max(final.get(key, 0), row.severity)
        # Sweep the origins in order, adding what became known by each.
        known_conflict: dict[tuple[str, int], int] = {}
        known_value: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        ci = vi = ki = 0
        data_year: int | None = None
        region_of = {code: s.region for code, s in state_map.items()}
        out: dict[str, list[Any]] = defaultdict(list)
        for year in range(first_year + 1, last_year + 1):
            origin = origin_of(year)
            while ci < len(conflict_rows) and conflict_rows[ci].known <= origin:
                r = conflict_rows[ci]
                key = (r.subject, r.year)
                known_conflict[key] = max(known_conflict.get(key, 0), r.severity)
                ci += 1
            while vi < len(value_rows) and value_rows[vi].known <= origin:
                r = value_rows[vi]
                known_value[(r.subject, r.indicator)][r.year] = r.value  # later revision wins
                vi += 1
            while ki < len(covered) and covered[ki][1] <= origin:
                data_year = covered[ki][0] if data_year is None else max(data_year, covered[ki][0])
                ki += 1
            if data_year is None:
                continue  # no conflict record yet: nothing to say
            alive = [s for s in state_map.values() if _exists(s, year)]
            in_conflict = {
                code for code in (s.code for s in alive) if known_conflict.get((code, data_year))
            }
            by_region: dict[str, list[str]] = defaultdict(list)
            for s in alive:
                if _exists(s, data_year):
                    by_region[s.region].append(s.code)
            for s in sorted(alive, key=lambda s: s.code):
                features = _features(
                    s, year, data_year, first_year, known_conflict, known_value,
                    in_conflict, by_region[region_of[s.code]],
                )  # fmt: skip
                inc = final.get((s.code, year), 0) > 0
                label_day = coverage.get(year)
                prior_years = [final.get((s.code, year - k), 0) > 0 for k in (1, 2)]
                out["subjects"].append(s.code)
                out["years"].append(year)
                out["x"].append(features)
                out["incidence"].append(float(inc) if label_day else math.nan)
                out["onset"].append(float(inc) if label_day and not any(prior_years) else math.nan)
                out["label_known"].append(label_day.toordinal() if label_day else 10**8)
                out["data_year"].append(data_year)
                out["at_risk_known"].append(
                    not any(
                        known_conflict.get((s.code, y))
                        for y in range(year - 2, year)
                        if y <= data_year
                    )
                )
        width = len(FEATURES)
        return cls(
            subjects=np.array(out["subjects"], dtype=object),
            years=np.array(out["years"], dtype=np.int64),
            x=np.array(out["x"], dtype=float).reshape(-1, width),
            incidence=np.array(out["incidence"], dtype=float),
            onset=np.array(out["onset"], dtype=float),
            label_known=np.array(out["label_known"], dtype=np.int64),
            data_year=np.array(out["data_year"], dtype=np.int64),
            at_risk_known=np.array(out["at_risk_known"], dtype=bool),
            states=state_map,
        )

    def outcome(self, name: str) -> np.ndarray:
        if name not in ("incidence", "onset"):
            raise ValueError(f"unknown outcome {name!r} (incidence or onset)")
        return self.incidence if name == "incidence" else self.onset

    def covered_through(self, day: dt.date) -> int | None:
        """The latest year whose outcomes are known on `day`."""
        known = self.years[self.label_known <= day.toordinal()]
        return int(known.max()) if len(known) else None


def _exists(state: State, year: int) -> bool:
    return state.start <= year and (state.end is None or year <= state.end)


def _features(
    state: State,
    year: int,
    data_year: int,
    first_year: int,
    conflict: Mapping[tuple[str, int], int],
    values: Mapping[tuple[str, str], dict[int, float]],
    in_conflict: set[str],
    region: Sequence[str],
) -> list[float]:
    code = state.code
    begin = max(state.start, first_year)
    history = [conflict.get((code, y), 0) for y in range(begin, data_year + 1)]
    last = history[-1] if history and _exists(state, data_year) else 0
    recent = history[-5:]
    fought = [i for i, sev in enumerate(history) if sev]
    peace = (len(history) - 1 - fought[-1]) if fought else len(history)
    others = [c for c in region if c != code]
    region_share = sum(c in in_conflict for c in others) / len(others) if others else 0.0
    gdp = _latest(values.get((code, GDP), {}), year)
    milex = _latest(values.get((code, MILEX), {}), year)
    return [
        float(last > 0),
        float(last >= 3),
        float(np.mean([s > 0 for s in recent])) if recent else 0.0,
        math.log1p(max(peace, 0)),
        region_share,
        math.log1p(max(year - begin, 0)),
        math.log(max(gdp[0], 1e-3)) if gdp else 0.0,
        _clip(math.log(max(gdp[0], 1e-3) / max(gdp[1], 1e-3)), 1.0) if gdp and gdp[1] else 0.0,
        1.0 if gdp else 0.0,
        math.log1p(max(milex[0], 0.0)) if milex else 0.0,
        _clip(milex[0] - milex[1], 10.0) if milex and milex[1] is not None else 0.0,
        1.0 if milex else 0.0,
    ]


def _latest(series: Mapping[int, float], year: int) -> tuple[float, float | None] | None:
    """The latest value known (no older than `_STALE_YEARS` before t - 1), and the one
    of the year before it (None if that is not known)."""
    years = [y for y in series if y < year]
    if not years:
        return None
    newest = max(years)
    if newest < year - 1 - _STALE_YEARS:
        return None
    return series[newest], series.get(newest - 1)


def _clip(value: float, bound: float) -> float:
    return max(-bound, min(bound, value))


# -- the model -------------------------------------------------------------------------


@dataclass(frozen=True)
class StructuralSpec:
    """What the structural model is fitted for, and its priors."""

    outcome: str = "incidence"  # incidence | onset
    features: tuple[str, ...] = FEATURES
    country_sd: float = 1.0  # prior sd of a country's intercept (log odds)
    coef_sd: float = 1.0  # prior sd of a standardised covariate's coefficient
    first_train_year: int = 1950
    min_events: int = 10  # fewest positive training rows the model may rest on

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "features": list(self.features),
            "country_sd": self.country_sd,
            "coef_sd": self.coef_sd,
            "first_train_year": self.first_train_year,
            "min_events": self.min_events,
        }


class StructuralModel:
    """`StructuralModel(panel, spec).fit(year) -> StructuralResults`: trained on what was
    known on the origin of `year` (31 December of the year before), for that year."""

    def __init__(self, panel: CountryYearPanel, spec: StructuralSpec | None = None) -> None:
        self.panel = panel
        self.spec = spec or StructuralSpec()

    def fit(self, year: int | None = None) -> StructuralResults:
        panel, spec = self.panel, self.spec
        year = int(panel.years.max()) if year is None else year
        origin = origin_of(year)
        y_all = panel.outcome(spec.outcome)
        train = (
            (panel.label_known <= origin.toordinal())
            & (panel.years >= spec.first_train_year)
            & ~np.isnan(y_all)
            & (panel.years < year)
        )
        columns = [FEATURES.index(f) for f in spec.features]
        x = panel.x[:, columns]
        y = y_all[train]
        if train.sum() == 0 or y.sum() < spec.min_events or y.sum() == len(y):
            return StructuralResults(self, year, train, None, None, None, [], None, 0.0)
        mean = x[train].mean(axis=0)
        scale = x[train].std(axis=0)
        flags = np.array([f in _FLAGS for f in spec.features])
        mean[flags], scale[flags] = 0.0, 1.0  # flags stay 0/1
        scale[scale <= 0] = np.inf  # a constant column: no information, z = 0
        z = (x - mean) / scale
        countries = sorted(set(panel.subjects[train].tolist()))
        index = {c: i for i, c in enumerate(countries)}
        dummy_scale = spec.country_sd / spec.coef_sd
        design = self._design(z, panel.subjects, index, dummy_scale)
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=spec.coef_sd**2, max_iter=5000, tol=1e-7)
        model.fit(design[train], y)
        return StructuralResults(
            self, year, train, model, mean, scale, countries, dummy_scale, float(y.mean())
        )

    @staticmethod
    def _design(
        z: np.ndarray, subjects: np.ndarray, index: Mapping[str, int], dummy_scale: float
    ) -> Any:
        """Covariates beside one sparse dummy column per country (scaled, so that the
        common ridge penalty gives the country effects their own prior sd)."""
        from scipy import sparse

        rows = [r for r, code in enumerate(subjects) if code in index]
        cols = [index[subjects[r]] for r in rows]
        dummies = sparse.csr_matrix(
            (np.full(len(rows), dummy_scale), (rows, cols)), shape=(len(z), len(index))
        )
        return sparse.hstack([sparse.csr_matrix(z), dummies], format="csr")


@dataclass
class StructuralResults:
    """A fitted structural model for one year: predictions, drivers, summary."""

    model: StructuralModel
    year: int
    train: np.ndarray  # bool, panel rows used
    estimator: Any
    mean: np.ndarray | None
    scale: np.ndarray | None
    countries: list[str]
    dummy_scale: float | None
    train_rate: float

    @property
    def fitted(self) -> bool:
        return self.estimator is not None

    @property
    def status(self) -> str:
        return "fitted" if self.fitted else "insufficient history"

    def rows(self) -> np.ndarray:
        """The panel rows the forecast is for: every state in `year` (at risk, for onset)."""
        panel = self.model.panel
        rows = panel.years == self.year
        if self.model.spec.outcome == "onset":
            rows &= panel.at_risk_known
        return rows

    def _z(self, rows: np.ndarray) -> np.ndarray:
        assert self.mean is not None and self.scale is not None
        columns = [FEATURES.index(f) for f in self.model.spec.features]
        return (self.model.panel.x[rows][:, columns] - self.mean) / self.scale

    def country_effect(self, code: str) -> float:
        """The country's pooled intercept shift (log odds); 0 for a country never seen."""
        if not self.fitted or code not in self.countries:
            return 0.0
        k = len(self.model.spec.features)
        coef = self.estimator.coef_[0]
        return float(coef[k + self.countries.index(code)] * (self.dummy_scale or 0.0))

    def linear(self, rows: np.ndarray | None = None) -> np.ndarray:
        rows = self.rows() if rows is None else rows
        if not self.fitted:
            return np.full(int(rows.sum()), math.nan)
        panel = self.model.panel
        k = len(self.model.spec.features)
        coef = self.estimator.coef_[0]
        eta = self._z(rows) @ coef[:k] + self.estimator.intercept_[0]
        return eta + np.array([self.country_effect(c) for c in panel.subjects[rows]])

    def predict(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Probabilities for the rows (default: `rows()`); the training rate if not fitted."""
        rows = self.rows() if rows is None else rows
        if not self.fitted:
            return np.full(int(rows.sum()), self.train_rate if self.train.any() else math.nan)
        return 1.0 / (1.0 + np.exp(-self.linear(rows)))

    def ranking(self) -> list[dict[str, Any]]:
        """Every country of `rows()`, highest probability first (ties by code)."""
        rows = self.rows()
        p = self.predict(rows)
        codes = self.model.panel.subjects[rows]
        order = sorted(range(len(p)), key=lambda i: (-p[i], codes[i]))
        return [
            {"rank": r + 1, "subject": str(codes[i]), "probability": float(p[i])}
            for r, i in enumerate(order)
        ]

    def drivers(self, code: str, top: int = 5) -> list[dict[str, Any]]:
        """What moves the country's log odds away from the world's average country:
        each covariate's coefficient times its standardised value, and the country's
        own pooled effect; largest first."""
        rows = self.rows() & (self.model.panel.subjects == code)
        if not self.fitted or not rows.any():
            return []
        k = len(self.model.spec.features)
        z = self._z(rows)[0]
        coef = self.estimator.coef_[0][:k]
        raw = self.model.panel.x[rows][0][[FEATURES.index(f) for f in self.model.spec.features]]
        items = [
            {"driver": name, "value": float(raw[j]), "log_odds": float(coef[j] * z[j])}
            for j, name in enumerate(self.model.spec.features)
        ]
        items.append(
            {"driver": "country effect (pooled)", "value": None,
             "log_odds": self.country_effect(code)}
        )  # fmt: skip
        items.sort(key=lambda d: -abs(d["log_odds"]))
        return items[:top]

    def coefficients(self) -> list[dict[str, Any]]:
        if not self.fitted:
            return []
        k = len(self.model.spec.features)
        coef = self.estimator.coef_[0][:k]
        return [
            {"feature": name, "coefficient": float(c), "per": "sd"}
            for name, c in zip(self.model.spec.features, coef, strict=True)
        ]

    def summary(self) -> str:
        """A plain-text summary: what was fitted on what, the coefficients, the largest
        country effects."""
        spec = self.model.spec
        panel = self.model.panel
        y = panel.outcome(spec.outcome)[self.train]
        lines = [
            f"Structural model: {spec.outcome}, forecast for {self.year} "
            f"(as known on {origin_of(self.year).isoformat()})",
            f"  training rows: {int(self.train.sum())} country-years, "
            f"{int(np.nansum(y))} with the outcome, "
            f"{len(set(panel.subjects[self.train].tolist()))} countries",
            f"  status: {self.status}",
        ]
        if not self.fitted:
            return "\n".join(lines)
        lines.append(f"  intercept: {self.estimator.intercept_[0]:+.3f}")
        lines.append("  coefficient per standard deviation (flags per unit):")
        for item in self.coefficients():
            lines.append(f"    {item['feature']:<24} {item['coefficient']:+.3f}")
        effects = sorted(
            ((c, self.country_effect(c)) for c in self.countries), key=lambda e: -abs(e[1])
        )[:5]
        lines.append(
            f"  largest country effects (prior sd {spec.country_sd:g}): "
            + ", ".join(f"{c} {e:+.2f}" for c, e in effects)
        )
        return "\n".join(lines)


# -- one year's outlook ------------------------------------------------------------------


@dataclass
class StructuralOutlook:
    """Both outcomes' forecasts for one year: every country ranked, one subject's
    probability, rank and drivers."""

    year: int
    subject: str
    results: dict[str, StructuralResults]
    top: int = 20

    @property
    def origin(self) -> dt.date:
        return origin_of(self.year)

    def data_year(self) -> int | None:
        panel = next(iter(self.results.values())).model.panel
        years = panel.data_year[panel.years == self.year]
        return int(years.max()) if len(years) else None

    def entry(self, outcome: str) -> dict[str, Any]:
        fitted = self.results[outcome]
        ranking = fitted.ranking()
        mine = next((r for r in ranking if r["subject"] == self.subject), None)
        spec = fitted.model.spec
        return {
            "status": fitted.status,
            "training_rows": int(fitted.train.sum()),
            "training_events": int(np.nansum(fitted.model.panel.outcome(outcome)[fitted.train])),
            "ranked": len(ranking),
            "subject": None if mine is None else mine | {"drivers": fitted.drivers(self.subject)},
            "subject_note": None
            if mine is not None
            else (
                f"{self.subject} is not at risk of an onset in {self.year} (a conflict in the "
                "two years before, as far as known)"
                if outcome == "onset"
                else f"{self.subject} is not a state of the panel in {self.year}"
            ),
            "ranking": ranking[: self.top],
            "spec": spec.to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "year": self.year,
            "as_of": self.origin.isoformat(),
            "data_year": self.data_year(),
            **{outcome: self.entry(outcome) for outcome in self.results},
        }

    def rows(self, spec_hash: str, vintage: str) -> list[dict[str, Any]]:
        """Every country's forecast, as `structural_forecasts` rows."""
        import json

        out = []
        for outcome, fitted in self.results.items():
            ranking = fitted.ranking()
            for item in ranking:
                drivers = fitted.drivers(item["subject"]) if item["subject"] == self.subject else []
                out.append(
                    {
                        "subject": item["subject"], "as_of": self.origin.isoformat(),
                        "year": self.year, "outcome": outcome,
                        "probability": round(item["probability"], 6), "rank": item["rank"],
                        "ranked": len(ranking), "status": fitted.status,
                        "data_year": self.data_year(), "drivers": json.dumps(drivers),
                        "spec_hash": spec_hash, "data_vintage": vintage,
                    }
                )  # fmt: skip
        return out


def outlook(
    panel: CountryYearPanel,
    year: int,
    subject: str,
    specs: Mapping[str, StructuralSpec] | None = None,
    top: int = 20,
) -> StructuralOutlook:
    """Fit both outcomes for `year` as known on its origin; rank every country."""
    specs = specs or {o: StructuralSpec(o) for o in ("incidence", "onset")}
    results = {o: StructuralModel(panel, spec).fit(year) for o, spec in specs.items()}
    return StructuralOutlook(year, subject, results, top)


__all__ += ["StructuralOutlook", "outlook"]
