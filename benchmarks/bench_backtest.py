"""A 1,000-origin point-in-time backtest on a generated panel.

Prints the total time, the time per origin, and the share spent preparing data
(point-in-time panels, scoring, features, labels) against fitting models. The aim is
data preparation under a third of the total: the models, not the plumbing, should
cost the time.

Usage: python benchmarks/bench_backtest.py [ORIGINS]   (default 1,000)
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

from bench_scoring import START, WEEKS, write_catalog, write_observations

from early_warning import Store, ingest, load_catalog
from early_warning.ingest import Limits
from early_warning.scoring import parse_profile
from early_warning.services import backtest


def write_events(path: Path, rng: random.Random) -> int:
    rows = ["date,subject,kind,severity,title,citation"]
    for week in range(WEEKS):
        if rng.random() < 0.03:
            day = START + dt.timedelta(weeks=week, days=rng.randrange(7))
            rows.append(f"{day.isoformat()},BLR,generated,{rng.choice([2, 3])},event {week},bench")
    path.write_text("\n".join(rows) + "\n")
    return len(rows) - 1


def main() -> None:
    origins = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="ew-bench-backtest-") as tmp:
        work = Path(tmp)
        write_catalog(work / "catalog")
        catalog = load_catalog(work / "catalog")
        profile = parse_profile({"name": "bench", "min_family_coverage": 0.3}, catalog)
        n_obs = write_observations(work / "obs.csv", catalog, rng)
        n_events = write_events(work / "events.csv", rng)
        end = START + dt.timedelta(weeks=WEEKS - 1)
        first = end - dt.timedelta(weeks=origins - 1)
        with Store(work / "bench.db") as store:
            store.sync_catalog(catalog)
            for path in (work / "obs.csv", work / "events.csv"):
                ingest(store, catalog, path, limits=Limits(max_file_bytes=1 << 32))
            began = time.perf_counter()
            result = backtest(store, catalog, profile, "BLR", first, end, horizons=(4, 12))
            total = time.perf_counter() - began
    prep, fit = result.seconds_preparing, result.seconds_fitting
    per_origin = 1000 * total / result.n_origins
    print(
        f"generated: {len(catalog)} indicators, {WEEKS} weeks, {n_obs:,} observations, "
        f"{n_events} events"
    )
    print(
        f"backtest: {result.n_origins} origins x 2 horizons in {total:.1f} s "
        f"({per_origin:.0f} ms per origin)"
    )
    print(
        f"data preparation {prep:.1f} s ({prep / total:.0%}), model fitting {fit:.1f} s "
        f"({fit / total:.0%}), other {total - prep - fit:.1f} s"
    )
    headline = result.headline(4)
    print(
        f"ensemble at 4 weeks: Brier {headline['brier']:.4f}, skill "
        f"{headline['brier_skill']:+.3f} over {headline['n_origins']} verified origins"
    )


if __name__ == "__main__":
    main()
