"""The outputs that a speed-up must not change, and the script that records them.

`tests/test_golden.py` compares, at every commit, what this module collects with what
it recorded in `tests/fixtures/golden_demo.json` and `tests/fixtures/golden_generated.json`:

  demo       the embedded dataset as `early-warning demo` scores it (the suite's shared
             `demo_session`): every week's composite score, coverage, band and family
             scores; the latest `score --json` record; the Monte Carlo band, method
             uncertainty, rank stability and Sobol indices with the profile's seed; the
             forecast and the warning level; the alerts raised; the rules' replayed
             scores; the report's data and words (page 1's record, the indicator
             table, the band changes, the notes), not the PDF bytes;
  generated  a generated catalog (16 indicators in 4 families) and 200 weeks of
             generated observations with gaps (many availability patterns), ingested
             into a real SQLite store and scored: scores, coverage, and Monte Carlo
             bands and exceedance under both aggregations with a fixed seed.

Regenerate (from the project folder) with

    .venv/bin/python tests/golden.py

only when a change is *meant* to move a number (a new indicator or embedded figure, a
corrected rule, a model change), and say in the commit which numbers move and why. A
speed-up never regenerates it: its whole point is that nothing moves.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_FILE = FIXTURES / "golden_demo.json"
GENERATED_FILE = FIXTURES / "golden_generated.json"

FAMILIES = ("economic_dependence", "military_posture", "transparency", "integration_political")
PER_FAMILY, WEEKS, DRAWS, SEED = 4, 200, 2000, 11
START = dt.date(2015, 1, 4)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars and arrays as Python numbers (NaN as None), dates as text."""
    if isinstance(value, dict):  # without the clock's stamps, which differ run to run
        return {str(k): _plain(v) for k, v in value.items() if k != "recorded_at"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return value.name
    return value


def _draws(values: np.ndarray) -> dict[str, Any]:
    """Per-draw values in short: any draw that moves moves the sum or the spread."""
    values = np.asarray(values, dtype=float)
    finite = values[~np.isnan(values)]
    return {
        "shape": list(values.shape), "nan": int(np.isnan(values).sum()),
        "sum": finite.sum(axis=0) if values.ndim == 1 else np.nansum(values, axis=0),
        "sum_of_squares": float((finite**2).sum()), "first": values[:3],
    }  # fmt: skip


def _series(results: Any) -> dict[str, Any]:
    """Every week's composite, coverage, band and family scores."""
    agg = results.agg
    return {
        "score": agg.score,
        "coverage": agg.coverage,
        "band": [results.band(r) for r in range(results.panel.n_weeks)],
        "family_score": agg.family_score,
    }


def demo_outputs(demo: Any) -> dict[str, Any]:
    """What the demo computed, as recorded in `golden_demo.json`."""
    report = demo.report.data
    return _plain(
        {
            "scores": _series(demo.scores),
            "latest": demo.scores.week(-1),
            "uncertainty": demo.uncertainty.to_dict(),
            "method_lines": demo.uncertainty.method_lines(),
            "forecast": demo.forecast.to_dict(),
            "warning": demo.warning.to_dict(),
            "alerts": [{k: v for k, v in a.to_dict().items() if k != "id"} for a in demo.alerts],
            "rule_scores": demo.rule_scores,
            "report": {
                "week": report.week,
                "record": report.record,
                "previous": report.previous,
                "band": report.uncertainty.band,
                "forecast": report.forecast.to_dict(),
                "warning": report.warning.to_dict(),
                "ranking_note": report.ranking_note,
                "active_alerts": [a.dedupe_key for a in report.active_alerts],
                "indicators": [dataclasses.asdict(row) for row in report.indicators],
                "band_changes": report.band_changes,
                "notes": report.notes,
                "events": report.events,
                "pages": demo.report.pages,
            },
        }
    )


def _write_catalog(folder: Path) -> None:
    folder.mkdir()
    source = {"author": "gen", "title": "generated", "publisher": "golden", "date": "2024",
              "published": "2024-01-01"}  # fmt: skip
    (folder / "sources.yaml").write_text(yaml.safe_dump({"sources": {"gen": source}}))
    for k, fam in enumerate(FAMILIES):
        indicators = []
        for n in range(PER_FAMILY):
            kind = ("continuous", "continuous", "ordinal", "boolean")[n]
            entry: dict[str, Any] = {
                "id": f"{fam[:4]}_{n}", "name": f"Indicator {n}", "description": "generated",
                "unit": "units", "kind": kind, "frequency": "weekly", "max_age_days": 60,
                "weight": 1.0 + (n + k) % 3,
                "direction": {"higher_is_riskier": (n + k) % 4 != 0, "reasoning": "generated"},
                "citations": [{"source": "gen", "section": "all"}],
            }  # fmt: skip
            if kind == "continuous":
                entry["range"] = [0, 1000]
                method = "log" if n % 2 else "minmax"
                entry["normalisation"] = {"method": method, "goalposts": [0, 500]}
                entry["lifetime"] = "interval"  # a week at a time: gaps are missing weeks
            elif kind == "ordinal":
                entry["levels"] = {0: "none", 1: "some", 2: "more", 3: "most"}
                entry["normalisation"] = {"method": "ordinal"}
            else:
                entry["normalisation"] = {"method": "boolean"}
            indicators.append(entry)
        family = {"id": fam, "name": fam, "description": "generated", "weight": 0.2 + 0.1 * k}
        (folder / f"{fam}.yaml").write_text(
            yaml.safe_dump({"family": family, "indicators": indicators})
        )


def _write_observations(path: Path, catalog: Any) -> None:
    """Values with gaps long enough to go stale: the weeks fall into many patterns."""
    rng = random.Random(SEED)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["indicator", "date", "value", "published", "end"])
        for ind in catalog:
            first = rng.randrange(0, 120)
            for week in range(first, WEEKS):
                if rng.random() < 0.35:
                    continue
                day = START + dt.timedelta(weeks=week)
                if ind.kind == "ordinal":
                    value = str(rng.randrange(0, 4))
                elif ind.kind == "boolean":
                    value = rng.choice(["true", "false"])
                else:
                    value = f"{rng.uniform(0, 1000):.2f}"
                published = day + dt.timedelta(days=rng.randrange(0, 14))
                interval = ind.lifetime == "interval"
                last = (day + dt.timedelta(days=6)).isoformat() if interval else ""
                out.writerow([ind.id, day.isoformat(), value, published.isoformat(), last])


def generated_outputs(work: Path) -> dict[str, Any]:
    """The generated panel scored and banded, as recorded in `golden_generated.json`."""
    from early_warning import FixedClock, Store, ingest, load_catalog
    from early_warning.scoring import CompositeIndex, parse_profile
    from early_warning.scoring.index import ScoreResults
    from early_warning.services import load_panel

    _write_catalog(work / "catalog")
    catalog = load_catalog(work / "catalog")
    _write_observations(work / "obs.csv", catalog)
    end = START + dt.timedelta(weeks=WEEKS - 1)
    with Store(work / "golden.db", clock=FixedClock("2024-06-01T12:00:00")) as store:
        store.sync_catalog(catalog)
        ingest(store, catalog, work / "obs.csv")
        panel = load_panel(store, catalog, "BLR", end)
    out: dict[str, Any] = {}
    for aggregation in ("arithmetic", "geometric"):
        profile = parse_profile(
            {"name": aggregation, "aggregation": aggregation, "min_family_coverage": 0.3,
             "uncertainty": {"aggregation": ["arithmetic", "geometric"]}},
            catalog,
        )  # fmt: skip
        index = CompositeIndex(catalog, profile)
        results = index.fit(panel)
        # Values only go missing before an indicator's first one, so the panel has a few
        # availability patterns; holes punched into the risks (seeded) make many.
        holed = results.risk.copy()
        holed[np.random.default_rng(SEED).random(holed.shape) < 0.2] = np.nan
        out[aggregation] = {**_series(results), "mc": _banded(results)}
        out[f"{aggregation}_holed"] = _banded(
            ScoreResults(index, panel, holed, index.aggregate(holed))
        )
    return _plain(out)


def _banded(results: Any) -> dict[str, Any]:
    """The Monte Carlo band and exceedance of every week, and the other methods."""
    from early_warning.scoring.sensitivity import method_uncertainty, monte_carlo

    mc = monte_carlo(results, draws=DRAWS, concentration=30, seed=SEED, exceed_levels=(40.0, 60.0))
    return {
        "patterns": len(np.unique(np.isnan(results.risk), axis=0)),
        "low": mc.low, "median": mc.median, "high": mc.high, "latest": _draws(mc.latest),
        "exceedance": mc.exceedance,
        "family_contribution_latest": _draws(mc.family_contribution_latest),
        "method_uncertainty": method_uncertainty(results, mc),
    }  # fmt: skip


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=None, sort_keys=True, allow_nan=False) + "\n")


def main() -> None:
    from early_warning import bundled_path
    from early_warning.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="ew-golden-") as tmp:
        work = Path(tmp)
        (work / "demo").mkdir()
        demo = run_demo(
            bundled_path("indicators"), work / "demo", "BLR", bundled_path("models"),
            reports_dir=work / "r",
        )  # fmt: skip
        _write(DEMO_FILE, demo_outputs(demo))
        (work / "gen").mkdir()
        _write(GENERATED_FILE, generated_outputs(work / "gen"))
    print(f"wrote {DEMO_FILE.name} and {GENERATED_FILE.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
