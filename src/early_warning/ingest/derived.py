"""Derived indicators: values computed from other indicators, with both inputs recorded.

`mappings/derived.yaml` declares them:

    gas_subsidy_share_gdp:            # a ratio: numerator / denominator x scale
      numerator: gas_subsidy_usd_bn
      denominator: gdp_usd_bn
      scale: 100
      subjects: [BLR]
    neighbour_military_expenditure:   # a mean of one indicator over other subjects
      mean_of: military_expenditure_share_gdp
      over: [LVA, LTU, POL, RUS, UKR]
      subject: BLR

`derive(store, catalog)` recomputes every derived value from the best current
knowledge of its inputs: for each period, the input row known latest (as the panel
chooses). The inputs must refer to the same period (a year with a year); a period that
lacks an input gets no value, never a guess. Each value is written as an ordinary
observation through the same validation, with source `derived`, the inputs' values,
sources and row ids in its citation, the later of their known-from dates as its
`published` date, and the weaker of their Admiralty grades. Unchanged values add
nothing (content hash), a revised input gives a new row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog
from ..errors import CatalogError
from ..files import read_yaml
from ..store import OBSERVATION_RECORDED_AT as RECORDED_AT
from ..store import OBSERVATION_RUN_ID as RUN_ID
from ..store import Store
from .mapping import mappings_folder
from .readers import raw_csv_text
from .validate import OBSERVATION_COLUMNS, ObservationRules, Problem

__all__ = ["DerivedResult", "derive"]


@dataclass(frozen=True)
class _Spec:
    indicator: str
    inputs: tuple[str, ...]  # indicator ids read
    numerator: str = ""
    denominator: str = ""
    scale: float = 1.0
    subjects: tuple[str, ...] = ()
    mean_of: str = ""
    over: tuple[str, ...] = ()
    subject: str = ""
    denominator_source: str = ""  # only this source's rows (say, World Bank GDP)


@dataclass
class DerivedResult:
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0
    run_id: int | None = None


def load_derived(catalog: Catalog) -> list[_Spec]:
    path = mappings_folder(catalog) / "derived.yaml"
    if not path.is_file():
        return []
    data = read_yaml(path, CatalogError, "derived-indicator file") or {}
    specs = []
    for indicator, raw in (data.get("derived") or {}).items():

        def fail(field: str, problem: str, _id: str = indicator) -> CatalogError:
            return CatalogError(f"{path}: {_id}: field {field!r}: {problem}")

        if indicator not in catalog.indicators:
            raise fail("id", "not in the catalog")
        if not isinstance(raw, dict):
            raise fail("id", "expected a mapping")
        if "mean_of" in raw:
            of, over = raw.get("mean_of"), raw.get("over")
            if of not in catalog.indicators:
                raise fail("mean_of", f"{of!r} is not in the catalog")
            if not isinstance(over, list) or not over:
                raise fail("over", "expected a list of subjects")
            spec = _Spec(indicator, (of,), mean_of=of, over=tuple(over),
                         subject=str(raw.get("subject", "")))  # fmt: skip
        else:
            num, den = raw.get("numerator"), raw.get("denominator")
            for name, value in (("numerator", num), ("denominator", den)):
                if value not in catalog.indicators:
                    raise fail(name, f"{value!r} is not in the catalog")
            scale = raw.get("scale", 1)
            if not isinstance(scale, int | float) or isinstance(scale, bool):
                raise fail("scale", "expected a number")
            spec = _Spec(indicator, (num, den), numerator=num, denominator=den,
                         scale=float(scale), subjects=tuple(raw.get("subjects") or ()),
                         denominator_source=str(raw.get("denominator_source") or ""))  # fmt: skip
        specs.append(spec)
    return specs


def derive(store: Store, catalog: Catalog, *, only_if: set[str] | None = None) -> DerivedResult:
    """Recompute the derived indicators; with `only_if`, only those reading one of them."""
    specs = load_derived(catalog)
    if only_if is not None:
        specs = [s for s in specs if set(s.inputs) & only_if]
    result = DerivedResult()
    if not specs:
        return result
    inputs = sorted({i for s in specs for i in s.inputs})
    best = _best_rows(store, inputs)
    units = {ind.id: ind.unit for ind in catalog}
    fields: list[list[str]] = []
    for spec in specs:
        made = _ratio_rows(spec, best) if spec.numerator else _mean_rows(spec, best)
        for row in made:
            row[OBSERVATION_COLUMNS.index("unit")] = units[spec.indicator]
        fields += made
    if not fields:
        return result
    rules = ObservationRules(catalog, "BLR", store.source_id, store.today(), 4000)
    with store.transaction():
        run_id = store.begin_run("derived:mappings/derived.yaml", "observations", "derived", "", 0)
        uri = "derived:mappings/derived.yaml"
        now, batch, rejects = store.now(), [], []
        for line, row in enumerate(fields, start=1):
            outcome = rules.check(row, line)
            if isinstance(outcome, Problem):
                # Say a share over 100%: kept in rejects like any row, never dropped.
                raw = raw_csv_text(row)
                rejects.append((run_id, uri, line, outcome.field, outcome.reason, raw, now))
                continue
            outcome[RECORDED_AT], outcome[RUN_ID] = now, run_id
            batch.append(outcome)
        result.loaded = store.insert_observations(batch) if batch else 0
        result.unchanged = len(batch) - result.loaded
        result.rejected = len(rejects)
        result.run_id = run_id
        store.insert_rejects(rejects)
        store.finish_run(
            run_id, status="partial" if rejects else "ok", rows_read=len(fields),
            rows_loaded=result.loaded, rows_unchanged=result.unchanged,
            rows_rejected=len(rejects),
            message=f"derived: {result.loaded} loaded, {result.unchanged} unchanged, "
            f"{len(rejects)} rejected",
            duration_seconds=0.0,
        )  # fmt: skip
    return result


def _best_rows(store: Store, indicators: list[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """(indicator, subject, period) and (indicator, subject, period, source) -> the row
    known latest (then recorded latest)."""
    rows = store.observations_of_indicators(indicators)
    best: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["indicator"], row["subject"], row["period"])
        best[key] = best[(*key, str(row["source"]))] = row
    return best


def _describe(row: dict[str, Any], catalog_unit: str = "") -> str:
    unit = row["unit"] or catalog_unit
    return f"{row['indicator']} {row['value']:g} {unit} ({row['source']}, row {row['id']})".replace(
        "  ", " "
    )


def _weakest(rows: list[dict[str, Any]]) -> tuple[str, str]:
    reliability = max((r["reliability"] or "F" for r in rows), default="F")
    credibility = max((r["credibility"] or "6" for r in rows), default="6")
    return reliability, credibility


def _row(
    spec: _Spec, subject: str, period: str, value: float, used: list[dict[str, Any]], how: str
) -> list[str]:
    reliability, credibility = _weakest(used)
    fields = dict.fromkeys(OBSERVATION_COLUMNS, "")
    fields.update(
        indicator=spec.indicator, date=period, value=f"{value:.10g}", subject=subject,
        source="derived", citation=how, published=max(r["known_from"] for r in used),
        reliability=reliability, credibility=credibility,
        note="computed by early-warning from the rows named in the citation",
    )  # fmt: skip
    return list(fields.values())


def _ratio_rows(spec: _Spec, best: dict[tuple[str, ...], dict[str, Any]]) -> list[list[str]]:
    out = []
    for key, num in sorted(best.items()):
        if len(key) != 3:
            continue
        indicator, subject, period = key
        if indicator != spec.numerator or (spec.subjects and subject not in spec.subjects):
            continue
        den_key: tuple[str, ...] = (spec.denominator, subject, period)
        if spec.denominator_source:
            den_key = (*den_key, spec.denominator_source)
        den = best.get(den_key)
        if den is None or den["value"] == 0:
            continue
        value = num["value"] / den["value"] * spec.scale
        how = f"{_describe(num)} / {_describe(den)} x {spec.scale:g}"
        out.append(_row(spec, subject, period, value, [num, den], how))
    return out


def _mean_rows(spec: _Spec, best: dict[tuple[str, ...], dict[str, Any]]) -> list[list[str]]:
    by_period: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for key, row in best.items():
        if len(key) != 3:
            continue
        indicator, subject, period = key
        if indicator == spec.mean_of and subject in spec.over:
            by_period[period][subject] = row
    out = []
    for period, rows in sorted(by_period.items()):
        if len(rows) < len(spec.over):
            continue  # a mean over fewer countries would be another measure
        used = [rows[s] for s in spec.over]
        value = sum(r["value"] for r in used) / len(used)
        parts = ", ".join(f"{s} {rows[s]['value']:.3g}" for s in spec.over)
        how = (
            f"mean of {spec.mean_of} over {parts} "
            f"({', '.join(sorted({str(r['source']) for r in used}))}; rows "
            f"{', '.join(str(r['id']) for r in used)})"
        )
        out.append(_row(spec, spec.subject, period, value, used, how))
    return out
