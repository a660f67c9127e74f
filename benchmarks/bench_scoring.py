"""Scoring speed, each figure next to a floor measured in the same run.

A generated catalog of 60 indicators in four families and 1,040 weeks (20 years) of
generated observations, with realistic gaps (indicators start late, go stale, events
come and go).

  slider  rescoring one subject's full history for one profile (what a weight slider
          triggers; the normalised panel is cached, as the workbench does) and a full
          fit including normalisation;
  fleet   200 subjects x 60 indicators x 1,040 weeks for one profile, against a bare
          numpy masked weighted sum of the same normalised array with weights
          renormalised within families where values are missing (medians of 5);
  mc      Monte Carlo with 10,000 weight draws over one subject's full history (the
          band of every week), against its floor: one product of the same shape,
          (weeks x indicators) @ (indicators x draws), plus the partition the band
          needs (each week's draws partially sorted on the 5%, 50% and 95% ranks, and
          the three read off). The floor leaves out drawing the weights, the coverage
          rules (which draws are valid under each pattern, the renormalisation), the
          per-family split and the family contributions at the latest week. Goal
          (issue 19): at most 2x the floor.
  sobol   Sobol indices of every weight on the latest score (`sobol_indices`, SALib's
          base sample N = 2,048), against its floor: scipy's scrambled Sobol points,
          the model at the base points (two products of A and B, N x indicators, by an
          indicators x (2 x families) matrix), one write of the N x (weights + 2)
          outputs (a score for every row of the Saltelli sample) and two products of
          the bootstrap's draw counts (100 x N) by N x weights terms (the resampled
          means). The floor leaves out each row's change from A, the renormalisation
          within and over families, the estimator terms, the variances and intervals,
          the bootstrap draws and the summary table. Goal (issue 19): at most 2x the
          floor. SALib's own `sobol.analyze` on the same outputs is printed beside it
          (the analysis alone, not the sample).
  panels  one full panel from the store (as of a Wednesday), against the same rows read
          from the store and carried forward in numpy; point-in-time panels for 500
          as-of dates (Sundays, then Wednesdays), against one full panel (medians of 5).

Every comparison runs both sides the same number of times, interleaved, and takes
medians (`benchlines.timed`); the `goal |` lines are `benchlines.goal_line`'s: path,
ratio, floor, goal, met.

Usage: python benchmarks/bench_scoring.py [--panels]

  --panels  only the panels rows (the generated store is the same)
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from benchlines import Timed, goal_line, one_blas_thread, timed

from early_warning import Store, ingest, load_catalog
from early_warning.ingest import Limits
from early_warning.panel import week_grid
from early_warning.scoring import CompositeIndex, parse_profile
from early_warning.scoring.aggregate import aggregate
from early_warning.scoring.sensitivity import (
    SOBOL_SAMPLES,
    _latest_scores,
    _saltelli_points,
    _sobol_inputs,
    monte_carlo,
    sobol_indices,
)
from early_warning.services import panel_builder

FAMILIES = ("economic_dependence", "military_posture", "transparency", "integration_political")
N_IND, WEEKS, SUBJECTS, DRAWS, ORIGINS = 60, 1040, 200, 10_000, 500
REPEAT = 5  # runs of each side; the ratio is the median of the pair-by-pair ratios
START = dt.date(2001, 1, 7)


def timings(repeat: int, func: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def best_of(repeat: int, func: Callable[[], object]) -> float:
    return min(timings(repeat, func))


def write_catalog(folder: Path) -> None:
    folder.mkdir()
    (folder / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": {
                    "gen": {
                        "author": "gen",
                        "title": "generated",
                        "publisher": "bench",
                        "date": "2024",
                        "published": "2024-01-01",
                    }
                }
            }
        )
    )
    for k, fam in enumerate(FAMILIES):
        indicators = []
        for n in range(N_IND // len(FAMILIES)):
            kind = ("continuous", "continuous", "ordinal", "event", "boolean")[n % 5]
            entry = {
                "id": f"{fam[:4]}_{n:02d}", "name": f"Indicator {n}", "description": "generated",
                "unit": "units", "kind": kind, "frequency": "weekly", "max_age_days": 120,
                "weight": 1.0 + n % 3,
                "direction": {"higher_is_riskier": n % 4 != 0, "reasoning": "generated"},
                "citations": [{"source": "gen", "section": "all"}],
            }  # fmt: skip
            if kind in ("continuous", "event"):
                entry["range"] = [0, 1000]
                method = "log" if n % 2 else "minmax"
                entry["normalisation"] = {"method": method, "goalposts": [0, 500]}
            if kind == "event":
                entry["half_life_days"] = 30
            if kind == "ordinal":
                entry["levels"] = {0: "none", 1: "some", 2: "more", 3: "most"}
                entry["normalisation"] = {"method": "ordinal"}
            if kind == "boolean":
                entry["normalisation"] = {"method": "boolean"}
            indicators.append(entry)
        family = {"id": fam, "name": fam, "description": "generated", "weight": 0.25 + 0.05 * k}
        (folder / f"{fam}.yaml").write_text(
            yaml.safe_dump({"family": family, "indicators": indicators})
        )


def write_observations(path: Path, catalog, rng: random.Random) -> int:
    rows = 0
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["indicator", "date", "value", "published"])
        for ind in catalog:
            first = rng.randrange(0, 300)
            for week in range(first, WEEKS):
                if rng.random() < 0.08:
                    continue  # gaps: some weeks have no new value
                day = START + dt.timedelta(weeks=week)
                if ind.kind == "ordinal":
                    value = str(rng.randrange(0, 4))
                elif ind.kind == "boolean":
                    value = rng.choice(["true", "false"])
                elif ind.kind == "event" and rng.random() < 0.7:
                    continue
                else:
                    value = f"{rng.uniform(0, 1000):.2f}"
                published = day + dt.timedelta(days=rng.randrange(0, 21))
                out.writerow([ind.id, day.isoformat(), value, published.isoformat()])
                rows += 1
    return rows


def bare_masked_sum(
    risk: np.ndarray, family_of: np.ndarray, w: np.ndarray, fw: np.ndarray
) -> np.ndarray:
    """The floor: a masked weighted sum, renormalised within families."""
    mask = ~np.isnan(risk)
    filled = np.where(mask, risk, 0.0)
    total = np.zeros(risk.shape[:-1])
    used = np.zeros(risk.shape[:-1])
    for k in range(len(fw)):
        cols = family_of == k
        num = filled[..., cols] @ w[cols]
        den = mask[..., cols] @ w[cols]
        ok = den > 0
        total += np.where(ok, fw[k] * num / np.where(ok, den, 1), 0.0)
        used += np.where(ok, fw[k], 0.0)
    return 100 * total / np.where(used > 0, used, 1)


def product_and_band(filled: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The Monte Carlo's floor: every draw's score of every week in one product, and the
    5%, 50% and 95% of each week's draws by one partial sort (linear interpolation)."""
    block = filled @ draws.T  # weeks x draws
    n = block.shape[1]
    positions = [q * (n - 1) for q in (0.05, 0.5, 0.95)]
    kth = sorted({int(np.floor(x)) for x in positions} | {int(np.ceil(x)) for x in positions})
    block.partition(kth, axis=1)
    return np.stack(
        [block[:, int(x)] + (x - int(x)) * (block[:, int(np.ceil(x))] - block[:, int(x)])
         for x in positions]
    )  # fmt: skip


def main() -> None:
    with one_blas_thread():
        run(panels_only="--panels" in sys.argv[1:])


def run(*, panels_only: bool = False) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="ew-bench-scoring-") as tmp:
        work = Path(tmp)
        write_catalog(work / "catalog")
        catalog = load_catalog(work / "catalog")
        profile = parse_profile({"name": "bench", "min_family_coverage": 0.3}, catalog)
        index = CompositeIndex(catalog, profile)
        data = work / "obs.csv"
        n_obs = write_observations(data, catalog, rng)
        end = START + dt.timedelta(weeks=WEEKS - 1)
        with Store(work / "bench.db") as store:
            store.sync_catalog(catalog)
            ingest(store, catalog, data, limits=Limits(max_file_bytes=1 << 32))

            one_panel, panels = time_panels(store, catalog, end)
            panel = panel_builder(store, catalog, "BLR", START, end).panel(end)
        if panels_only:
            print(f"generated: {N_IND} indicators, {WEEKS} weeks, {n_obs:,} observations")
            print_panels(one_panel, panels)
            return

        # slider: one subject
        risk = index.normalise(panel)
        w, fw = index.weight_arrays()
        family_of = index.structure.family_of
        floor_one = best_of(20, lambda: bare_masked_sum(risk, family_of, w, fw))
        slider = best_of(20, lambda: index.aggregate(risk))
        full_fit = best_of(5, lambda: index.fit(panel))

        # fleet: 200 subjects (the same shape, shuffled per subject)
        fleet = np.stack(
            [risk[:, np.random.default_rng(s).permutation(N_IND)] for s in range(SUBJECTS)]
        )
        flat = fleet.reshape(-1, N_IND)
        fleet_time = timed(
            REPEAT,
            lambda: aggregate(flat, index.structure, w, fw, min_family_coverage=0.3).score,
            lambda: bare_masked_sum(fleet, family_of, w, fw),
        )
        check = aggregate(flat, index.structure, w, fw).score.reshape(SUBJECTS, -1)
        assert np.allclose(
            np.nan_to_num(check), np.nan_to_num(bare_masked_sum(fleet, family_of, w, fw))
        )

        # Monte Carlo
        results = index.fit(panel)
        draws = np.random.default_rng(1).dirichlet(np.ones(N_IND), size=DRAWS)
        filled = np.nan_to_num(risk)
        mc = timed(
            5,
            lambda: monte_carlo(results, draws=DRAWS, concentration=40, seed=1),
            lambda: product_and_band(filled, draws),
        )
        patterns = len(np.unique(~np.isnan(risk), axis=0))
        sobol, salib_seconds, n_weights = sobol_run(results)

    print(f"generated: {N_IND} indicators, {WEEKS} weeks, {n_obs:,} observations")
    print(
        f"slider   rescore one subject (aggregate, cached risk): {slider * 1e3:7.2f} ms;"
        f" full fit with normalisation {full_fit * 1e3:.1f} ms;"
        f" bare floor {floor_one * 1e3:.2f} ms (ratio {slider / floor_one:.2f})"
    )
    print(
        f"fleet    {SUBJECTS} subjects: {fleet_time.ours:6.3f} s vs bare masked sum"
        f" {fleet_time.floor:.3f} s (medians of {REPEAT})"
    )
    goal_line(
        f"fleet rescoring {SUBJECTS} x {N_IND} x {WEEKS:,}", fleet_time.ratio,
        "a bare numpy masked weighted sum, renormalised within families (no coverage "
        "rules, no family scores kept)", "<= 2x", fleet_time.ratio <= 2,
    )  # fmt: skip
    print(
        f"mc       {DRAWS:,} draws, {patterns} availability patterns: {mc.ours:6.3f} s"
        f" (5-95% band for every week) vs one product plus the band's partition"
        f" {mc.floor:.3f} s (medians of 5)"
    )
    goal_line(
        f"Monte Carlo {DRAWS // 1000}k draws x {WEEKS:,} weeks", mc.ratio,
        "one product + the band's partition", "<= 2x", mc.ratio <= 2,
    )  # fmt: skip
    print(
        f"sobol    {n_weights} weights, N = {SOBOL_SAMPLES:,}: {sobol.ours:6.3f} s vs the points,"
        f" the model at A and B, a write of every row's output and the resampled means'"
        f" products {sobol.floor:.3f} s"
        f" (medians of {REPEAT}); SALib's sobol.analyze alone on the same outputs"
        f" {salib_seconds:.3f} s"
    )
    goal_line(
        f"Sobol indices, {n_weights} weights, N = {SOBOL_SAMPLES:,}", sobol.ratio,
        "the Sobol points + the model at A and B + one write of every row's output + "
        "the resampled means' products",
        "<= 2x", sobol.ratio <= 2,
    )  # fmt: skip
    print_panels(one_panel, panels)


def time_panels(store: Store, catalog, end: dt.date) -> tuple[Timed, dict[str, Timed]]:
    """One full panel from the store against the same rows carried forward; 500
    point-in-time panels (Sundays, then Wednesdays) against one full panel."""
    wednesday = end - dt.timedelta(days=4)
    one_panel = timed(
        REPEAT,
        lambda: panel_builder(store, catalog, "BLR", START, end).panel(wednesday),
        lambda: carried_forward(store, catalog, START, wednesday),
    )
    sundays = [end - dt.timedelta(weeks=k) for k in range(ORIGINS)][::-1]
    midweek = [day - dt.timedelta(days=4) for day in sundays]
    panels = {
        name: timed(
            REPEAT,
            lambda days=days: many_panels(store, catalog, end, days),
            lambda: panel_builder(store, catalog, "BLR", START, end).panel(wednesday),
        )
        for name, days in (("Sundays", sundays), ("Wednesdays", midweek))
    }
    return one_panel, panels


def print_panels(one_panel: Timed, panels: dict[str, Timed]) -> None:
    print(
        f"panels   one full panel from the store (as of a Wednesday): {one_panel.ours * 1e3:.1f} ms"
        f" vs the same rows carried forward {one_panel.floor * 1e3:.1f} ms; {ORIGINS}"
        f" point-in-time panels: Sundays {panels['Sundays'].ours:.3f} s, Wednesdays"
        f" {panels['Wednesdays'].ours:.3f} s (medians of {REPEAT})"
    )
    goal_line(
        "one full panel from the store", one_panel.ratio,
        "the same rows read from SQLite, carried forward in numpy (no revisions, "
        "lifetimes, ages or status)", "<= 2x", one_panel.ratio <= 2,
    )  # fmt: skip
    for name, result in panels.items():
        goal_line(
            f"{ORIGINS} point-in-time panels, as of {name}", result.ratio,
            "one full panel from the store (as of a Wednesday)", "<= 3x", result.ratio <= 3,
        )  # fmt: skip


def sobol_run(results) -> tuple[Timed, float, int]:
    """`sobol_indices` against its floor (the module docstring), and SALib's analysis."""
    from SALib.analyze import sobol as salib
    from scipy.stats import qmc

    names, bounds, slots = _sobol_inputs(results, results.profile.uncertainty.sobol_range)
    d, n = len(names), SOBOL_SAMPLES
    a, b = _saltelli_points(bounds, n, 1)
    indicators = sum(kind == "indicator" for kind, _ in slots)
    families = d - indicators
    rng = np.random.default_rng(3)
    per_weight = rng.random((2 * families, indicators))
    counts = rng.integers(0, 3, size=(100, n)).astype(float)
    terms = rng.random((n, d))

    def floor() -> None:
        qmc.Sobol(d=2 * d, scramble=True, seed=1).random(n)
        per_weight @ a[:, :indicators].T, per_weight @ b[:, :indicators].T
        np.full((n, d + 2), 1.0)
        counts @ terms, counts @ terms

    y = _latest_scores(results, a, b, slots)
    problem = {"num_vars": d, "names": names, "bounds": bounds.tolist()}
    salib_seconds = best_of(1, lambda: salib.analyze(problem, y, calc_second_order=False, seed=1))
    return timed(REPEAT, lambda: sobol_indices(results, n, 1), floor), salib_seconds, d


def many_panels(store: Store, catalog, end: dt.date, days: list[dt.date]) -> None:
    """Point-in-time panels for ascending days, each one's arrays read once (as a
    backtest reads them), from one builder."""
    builder = panel_builder(store, catalog, "BLR", START, end)
    for day in days:
        panel = builder.panel(day, point_in_time=True)
        panel.raw.sum(), panel.status.sum()


def carried_forward(store: Store, catalog, start_day: dt.date, day: dt.date) -> np.ndarray:
    """The floor of one panel: the same rows read from the store, each indicator's
    latest-starting value carried forward onto the weekly grid (the latest known of a
    period, the lifetimes, ages and status left out)."""
    rows = store.observation_days("BLR")
    names, _, starts, _, _, values = zip(*rows, strict=True)
    where = {ind.id: j for j, ind in enumerate(catalog)}
    column = np.array([where[n] for n in names])
    start = np.floor(np.array(starts) - 1721424.5).astype(np.int64)
    value = np.array(values, dtype=float)
    grid = np.append(week_grid(start_day, day), day.toordinal())  # Sundays, then the day
    order = np.lexsort((start, column))
    column, start, value = column[order], start[order], value[order]
    out = np.full((len(grid), len(where)), np.nan)
    bounds = np.searchsorted(column, np.arange(len(where) + 1))
    for j in range(len(where)):
        lo, hi = bounds[j], bounds[j + 1]
        at = np.searchsorted(start[lo:hi], grid, side="right") - 1
        out[:, j] = np.where(at >= 0, value[lo:hi][np.maximum(at, 0)], np.nan)
    return out


if __name__ == "__main__":
    main()
