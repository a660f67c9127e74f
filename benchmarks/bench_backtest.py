"""A 1,000-origin point-in-time backtest on a generated panel.

Prints the total time, the time per origin, and the share spent preparing data
(point-in-time panels, scoring, features, labels) against fitting models. The aim is
data preparation under a third of the total: the models, not the plumbing, should
cost the time. Then the ratio of the time per origin (every model, both horizons) to
one plain logistic fit of the same shape (scikit-learn's StandardScaler and
LogisticRegression on the last origin's features and 4-week labels), timed in the
same run: the aim is at most 10.

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
from early_warning.forecast import features
from early_warning.forecast.targets import event_within, events_from_rows
from early_warning.ingest import Limits
from early_warning.scoring import CompositeIndex, Profile, parse_profile
from early_warning.services import backtest
from early_warning.services.scoring import panel_builder


def write_events(path: Path, rng: random.Random) -> int:
    rows = ["date,subject,kind,severity,title,citation"]
    for week in range(WEEKS):
        if rng.random() < 0.03:
            day = START + dt.timedelta(weeks=week, days=rng.randrange(7))
            rows.append(f"{day.isoformat()},BLR,generated,{rng.choice([2, 3])},event {week},bench")
    path.write_text("\n".join(rows) + "\n")
    return len(rows) - 1


def plain_logistic_seconds(store: Store, catalog: object, profile: Profile, day: dt.date) -> float:
    """The median of 7 plain logistic fits on the last origin's data (4-week labels)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    builder = panel_builder(store, catalog, "BLR", end=day)  # type: ignore[arg-type]
    results = CompositeIndex(catalog, profile).fit(builder.panel(day, point_in_time=True))  # type: ignore[arg-type]
    x, _ = features(results)
    events = events_from_rows(store.events("BLR")).at_least(2)
    days = results.panel.dates
    y = event_within(days, events, 4)
    rows = (days + 28 <= day.toordinal()) & ~np.isnan(results.score)
    times = []
    for _ in range(7):
        began = time.perf_counter()
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x[rows], y[rows])
        times.append(time.perf_counter() - began)
    return float(np.median(times))


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
            plain = plain_logistic_seconds(store, catalog, profile, end)
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
    print(
        f"one plain logistic fit of the same shape: {1000 * plain:.1f} ms; "
        f"ratio per origin {per_origin / (1000 * plain):.1f}x (aim: at most 10x)"
    )
    headline = result.headline(4)
    print(
        f"ensemble at 4 weeks: Brier {headline['brier']:.4f}, skill "
        f"{headline['brier_skill']:+.3f} over {headline['n_origins']} verified origins"
    )


if __name__ == "__main__":
    main()
