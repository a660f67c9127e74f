"""Aggregate a million generated GDELT 2.0 event rows into weekly dyad indicators.

Prints, for a generated 61-column export (no header, tab-separated, like the
15-minute files, with about 2% of events between Belarus and its neighbours):

  * the time of `early_warning.ingest` on the file (hash, streaming aggregation,
    event_counts, the weekly indicators through validation, one transaction);
  * the time of the aggregation alone (`aggregate_events`);
  * the baseline: pandas reading the same file alone (`read_csv(sep="\\t",
    header=None)`, every column, default types), measured in the same run;
  * the peak memory (max RSS of a fresh process) of the aggregation for half, all and
    twice the rows, and of the pandas baseline: the aggregation's should stay flat as
    the file grows (it holds one chunk of 200,000 rows at a time), the baseline's
    grows with it.

Then the history at scale (`ingest --workers N`, ingest/gdelt_scale.py), on the same
number of rows split over FILES exports with distinct event ids: rows per second of
the whole ingest of the folder (hash, aggregation, event_counts, weekly indicators,
one transaction per file, into a fresh store each time) by the streaming path and by
the Dask path on a local cluster of 1, 2 and 4 worker processes, each the median of
REPEATS runs, and each as a ratio to the floor measured in the same run: pandas'
C parser reading the same files, only the 9 columns the aggregation uses, as strings,
in one process. The floor leaves out everything but parsing: the row checks, the
dyad filter and sums, the SHA-256, the store. The cluster's start (seconds, once per
worker count) is printed apart and not in the rates. Needs the scale extra.

Usage: python benchmarks/bench_gdelt.py [ROWS] [--scale-only]   (default 1,000,000)
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_scoring import best_of, timings

from early_warning import Store, bundled_path, ingest, load_catalog

WIDTH = 61
BLOCK = 50_000  # distinct generated lines; the file repeats them with new ids
ACTORS = ["USA", "CHN", "GBR", "FRA", "DEU", "ISR", "IRN", "IND", "BRA", "TUR", "", ""]
NEIGHBOURS = ["RUS", "POL", "LTU", "LVA", "UKR"]


def _line(rng: random.Random, number: int) -> list[str]:
    day = f"2021{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    if rng.random() < 0.02:
        pair = ["BLR", rng.choice(NEIGHBOURS)]
        rng.shuffle(pair)
        a1, a2 = pair
    else:
        a1, a2 = rng.choice(ACTORS), rng.choice(ACTORS)
    root = f"{rng.randint(1, 20):02d}"
    quad = str(1 + (int(root) - 1) // 5)
    cells = [""] * WIDTH
    cells[0:5] = [str(number), day, day[:6], day[:4], f"{day[:4]}.{rng.randint(0, 9999):04d}"]
    cells[5:8] = [f"{a1}GOV", f"{a1} GOVERNMENT", a1]
    cells[15:18] = [f"{a2}MIL", f"{a2} MILITARY", a2]
    cells[25:35] = [
        "1", f"{root}1", f"{root}1", root, quad, f"{rng.uniform(-10, 10):.1f}",
        str(rng.randint(1, 50)), str(rng.randint(1, 10)), str(rng.randint(1, 50)),
        f"{rng.uniform(-15, 10):.10f}",
    ]  # fmt: skip
    cells[35:39] = ["4", "Minsk, Horad Minsk, Belarus", "BO", "BO04"]
    cells[40:43] = ["53.9", "27.5667", "-2604925"]
    cells[51:59] = ["4", "Warsaw, Mazowieckie, Poland", "PL", "PL78", "", "52.25", "21", "-2"]
    cells[59] = day + "153000"
    cells[60] = f"https://www.example-news.com/world/europe/{number}-story.html"
    return cells


def generate(path: Path, rows: int, first_id: int = 0) -> None:
    rng = random.Random(20261122)
    block = [_line(rng, n) for n in range(BLOCK)]
    with path.open("w", encoding="utf-8") as out:
        written = 0
        while written < rows:
            for cells in block[: rows - written]:
                cells[0] = str(first_id + written)
                out.write("\t".join(cells) + "\n")
                written += 1


def _peak_rss_mb(code: str, path: Path) -> float:
    """Peak RSS [MB] of a fresh Python process running `code` on `path`.

    VmHWM from /proc, not getrusage: Linux carries ru_maxrss over an exec, so a child
    would report this (larger) process's peak.
    """
    program = (
        f"path = {str(path)!r}\n{code}\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm.split()[1]) / 1024)"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return float(done.stdout.strip().splitlines()[-1])


AGGREGATE = (
    "from pathlib import Path\n"
    "from early_warning import bundled_path, load_catalog\n"
    "from early_warning.ingest.gdelt import GdeltSpec, aggregate_events\n"
    "spec = GdeltSpec.from_catalog(load_catalog(bundled_path('indicators')))\n"
    "aggregate_events(Path(path), spec)"
)
PANDAS = (
    "import csv, pandas as pd\n"
    "pd.read_csv(path, sep='\\t', header=None, quoting=csv.QUOTE_NONE, low_memory=False)"
)
IMPORTS = "from early_warning.ingest.gdelt import aggregate_events\nimport pandas"


def main(rows: int) -> None:
    import csv

    import pandas as pd

    from early_warning.ingest.gdelt import GdeltSpec, aggregate_events

    catalog = load_catalog(bundled_path("indicators"))
    spec = GdeltSpec.from_catalog(catalog)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        full = folder / "20210101000000.export.CSV"
        started = time.perf_counter()
        generate(full, rows)
        size = full.stat().st_size
        print(f"generated {rows:,} rows, {size / 1e6:.0f} MB, in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip

        def read_with_pandas() -> None:
            pd.read_csv(full, sep="\t", header=None, quoting=csv.QUOTE_NONE, low_memory=False)

        def read_used_columns() -> None:  # a tighter floor: only what the aggregation reads
            pd.read_csv(full, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                        usecols=[0, 1, 7, 17, 28, 29, 30, 34, 59])  # fmt: skip

        def aggregate() -> None:
            aggregate_events(full, spec)

        runs = {"n": 0}

        def ingest_file() -> None:
            runs["n"] += 1
            with Store(folder / f"bench{runs['n']}.db") as store:
                store.sync_catalog(catalog)
                result = ingest(store, catalog, full, progress=False)
                assert result.rows_read == rows and result.rows_loaded > 0, result

        baseline = best_of(3, read_with_pandas)
        used_only = best_of(3, read_used_columns)
        agg = best_of(3, aggregate)
        end_to_end = best_of(3, ingest_file)
        found = aggregate_events(full, spec)
        print(f"events between BLR and its neighbours: {found.rows_kept:,} in "
              f"{len({w for _, w in found.sums})} weeks")  # fmt: skip
        print(f"pandas read_csv alone (baseline)   {baseline:7.2f} s")
        print(f"pandas read_csv, the 9 columns used {used_only:6.2f} s   (a tighter floor)")
        print(f"aggregate_events                   {agg:7.2f} s   ratio {agg / baseline:.2f}")
        print(f"ingest (hash + aggregate + store)  {end_to_end:7.2f} s   "
              f"ratio {end_to_end / baseline:.2f}   (aim: 1.5 or less); "
              f"{end_to_end / used_only:.2f} to the tighter floor")  # fmt: skip
        floor = _peak_rss_mb(IMPORTS, full)
        whole = _peak_rss_mb(PANDAS, full)
        peaks = {}
        for factor in (0.5, 1, 2):
            sized = folder / f"x{factor}.export.CSV"
            generate(sized, int(rows * factor))
            peaks[int(rows * factor)] = _peak_rss_mb(AGGREGATE, sized)
            sized.unlink()
        small, large = peaks[rows], peaks[rows * 2]
        shown = ", ".join(f"{mb:.0f} MB for {n:,} rows" for n, mb in peaks.items())
        print(
            f"peak memory (max RSS): imports alone {floor:.0f} MB; aggregation {shown}; "
            f"pandas read_csv of {rows:,} rows {whole:.0f} MB"
        )
        print(json.dumps({
            "rows": rows, "baseline_s": round(baseline, 3), "aggregate_s": round(agg, 3),
            "ingest_s": round(end_to_end, 3), "ratio": round(end_to_end / baseline, 2),
            "ratio_to_used_columns": round(end_to_end / used_only, 2),
            "rss_mb": round(small), "rss_double_rows_mb": round(large),
            "rss_pandas_mb": round(whole),
        }))  # fmt: skip


FILES = 8
REPEATS = 5
USED_COLUMNS = [0, 1, 7, 17, 28, 29, 30, 34, 59]


def median_of(repeat: int, func: Callable[[], object]) -> float:
    return statistics.median(timings(repeat, func))


def scale(rows: int) -> None:
    """Rows per second of a folder's ingest: streaming, and on Dask with 1, 2, 4 workers."""
    import csv

    import distributed
    import pandas as pd

    from early_warning.ingest.gdelt_scale import DaskAggregator, local_cluster

    catalog = load_catalog(bundled_path("indicators"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "exports"
        folder.mkdir()
        per_file = rows // FILES
        files = [folder / f"2021010{i}000000.export.CSV" for i in range(FILES)]
        for i, path in enumerate(files):
            generate(path, per_file, first_id=i * per_file)
        total = per_file * FILES
        runs = {"n": 0}

        def floor() -> None:
            for path in files:
                pd.read_csv(path, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                            usecols=USED_COLUMNS, na_filter=False)  # fmt: skip

        def ingest_folder(client: Any = None) -> None:
            runs["n"] += 1
            with Store(Path(tmp) / f"scale{runs['n']}.db") as store:
                store.sync_catalog(catalog)
                sources = [str(p) for p in files]
                agg = DaskAggregator(client, store, catalog, sources) if client else None
                for source in sources:
                    result = ingest(store, catalog, source, progress=False, aggregator=agg)
                    assert result.rows_read == per_file and result.rows_loaded > 0, result

        base = median_of(REPEATS, floor)
        rates = {"floor": total / base, "streaming": total / median_of(REPEATS, ingest_folder)}
        starts = {}
        for workers in (1, 2, 4):
            started = time.perf_counter()
            with local_cluster(distributed, workers) as cluster, distributed.Client(cluster) as c:
                starts[workers] = time.perf_counter() - started
                ingest_folder(c)  # the workers' first imports, not timed
                rates[f"dask {workers}"] = total / median_of(REPEATS, lambda c=c: ingest_folder(c))
        print(f"\nhistory at scale: {total:,} rows in {FILES} exports, median of {REPEATS} runs; "
              f"{os.cpu_count()} CPU core(s) on this machine")  # fmt: skip
        for name, rate in rates.items():
            note = ""
            if name == "floor":
                note = "   (pandas, the 9 columns used, one process)"
            elif name.startswith("dask"):
                workers = int(name.split()[1])
                note = f"   (cluster start {starts[workers]:.1f} s, not counted)"
                if workers > (os.cpu_count() or 1):
                    note += f"; more workers than the {os.cpu_count()} cores"
            print(f"  {name:10} {rate:12,.0f} rows/s   ratio to the floor "
                  f"{rates['floor'] / rate:5.2f}{note}")  # fmt: skip
        print(
            json.dumps(
                {
                    "rows": total,
                    "files": FILES,
                    "repeats": REPEATS,
                    "rows_per_second": {k: round(v) for k, v in rates.items()},
                    "cluster_start_s": {k: round(v, 2) for k, v in starts.items()},
                }
            )
        )


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(arguments[0]) if arguments else 1_000_000
    if "--scale-only" not in sys.argv:
        main(count)
    scale(count)
