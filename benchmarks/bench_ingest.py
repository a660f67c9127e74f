"""Ingest a million generated canonical rows: time against a bare executemany, and memory.

Each side runs in a fresh process (`--side`), the same number of times, in turn
(ours, bare, ours, bare, ...), and the figures are medians:

  * ours: `early_warning.ingest` of the generated CSV (full validation, duplicate
    detection, content hashing, one transaction, indexes, the bulk-load page cache);
  * bare (the floor): the csv module reading the same file and `sqlite3` `executemany`
    of the rows, in batches of 10,000, into a table of the same shape (columns and
    indexes), with the same page cache (`store.BULK_CACHE_KIB`) and the same journal
    settings. It leaves out validation, the duplicate check, the content hash of the
    row's fields (it hashes the line number), the sources table and the run record.

A process's peak memory is the kernel's account of that child alone (`os.wait4`'s
rusage, `ru_maxrss`). Goals (issue 19): 1M rows under 250 MB max RSS, flat in the
number of rows (`--rows` to see it at other sizes).

Usage: python benchmarks/bench_ingest.py [--rows N] [--repeat K]   (1,000,000; 5)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlines import MIN_REPEAT, goal_line

from early_warning import Store, bundled_path, ingest, load_catalog
from early_warning.ingest import Limits
from early_warning.store import BULK_CACHE_KIB, OBSERVATION_COLUMNS

HEADER = ["indicator", "date", "value", "subject", "source", "citation", "published",
          "reliability", "credibility", "unit", "note"]  # fmt: skip
MAX_RSS_MB = 250
BATCH = 10_000


def generate(path: Path, rows: int, catalog) -> None:
    """Rows with realistic variety: every indicator, daily periods, varied sources."""
    rng = random.Random(20261122)
    continuous = [i for i in catalog if i.kind in ("continuous", "event")]
    subjects = ["BLR", "RUS", "POL", "LTU", "LVA", "UKR", "RUS-BLR"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for n in range(rows):
            ind = continuous[n % len(continuous)]
            low, high = ind.range
            year = 1990 + (n // 7) % 31
            day = 1 + (n // 217) % 28
            month = 1 + (n // 6076) % 12
            out.writerow([
                ind.id,
                f"{year:04d}-{month:02d}-{day:02d}",
                f"{rng.uniform(low, high):.4f}",
                subjects[(n // len(continuous)) % len(subjects)],
                f"source-{n % 50}",
                f"Generated citation {n % 1000}, section {n % 17}",
                f"{min(year + 1, 2021):04d}-06-30",
                "ABCDEF"[n % 6],
                "123456"[n % 6],
                ind.unit,
                "",
            ])  # fmt: skip


def bare_rows(path: Path):
    """The parsed rows as the store's tuples, streamed."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for n, r in enumerate(reader):
            yield (r[0], r[3], r[1], r[1], r[1], float(r[2]), r[2], None, r[5], r[6], r[6],
                   "2026-01-01T00:00:00Z", r[7], r[8], r[9], r[10] or None, None, 1, n,
                   hashlib.blake2b(str(n).encode(), digest_size=16).hexdigest())  # fmt: skip


def bare_load(csv_path: Path, db_path: Path) -> None:
    """The floor: a plain connection, a table shaped like `observations`, executemany."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    columns = ", ".join(OBSERVATION_COLUMNS)
    conn.execute(f"CREATE TABLE observations (id INTEGER PRIMARY KEY, {columns})")
    conn.execute("CREATE UNIQUE INDEX u ON observations (content_hash)")
    conn.execute("CREATE INDEX i ON observations (indicator, subject, period_end)")
    marks = ", ".join("?" * len(OBSERVATION_COLUMNS))
    insert = f"INSERT INTO observations ({columns}) VALUES ({marks})"
    rows = bare_rows(csv_path)
    with conn:
        while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
            conn.executemany(insert, batch)
    conn.close()


def our_load(csv_path: Path, db_path: Path) -> None:
    catalog = load_catalog(bundled_path("indicators"))
    with Store(db_path) as store:
        store.sync_catalog(catalog)
        start = time.perf_counter()
        result = ingest(store, catalog, csv_path, limits=Limits(max_file_bytes=4 << 30))
        seconds = time.perf_counter() - start
    assert result.rows_rejected == 0, result.summary()
    print(f"{seconds:.3f}")


def child(side: str, csv_path: Path, db_path: Path) -> tuple[float, float]:
    """One fresh process: (seconds of its load, its peak memory in MB)."""
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--side", side, str(csv_path), str(db_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"the {side} side failed (exit {proc.returncode})")
    seconds = float(out.split()[-1]) if side == "ours" else wall
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=MIN_REPEAT)
    parser.add_argument("--side", choices=("ours", "bare"))
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args()
    if args.side:
        (our_load if args.side == "ours" else bare_load)(*args.paths)
        return
    with tempfile.TemporaryDirectory(prefix="ew-bench-") as tmp:
        work = Path(tmp)
        data = work / "rows.csv"
        generate(data, args.rows, load_catalog(bundled_path("indicators")))
        size = data.stat().st_size
        runs = [
            (child("ours", data, work / "ours.db"), child("bare", data, work / "bare.db"))
            for _ in range(max(args.repeat, MIN_REPEAT))
        ]
    ours_s = statistics.median(o[0] for o, _ in runs)
    ours_mb = statistics.median(o[1] for o, _ in runs)
    bare_s = statistics.median(b[0] for _, b in runs)
    bare_mb = statistics.median(b[1] for _, b in runs)
    ratio = statistics.median(o[0] / b[0] for o, b in runs)
    print(f"rows {args.rows:,} ({size / 1e6:.0f} MB CSV), page cache {BULK_CACHE_KIB // 1024} MB,"
          f" medians of {len(runs)} fresh processes a side")  # fmt: skip
    print(f"early-warning ingest (full validation): {ours_s:6.2f} s ({args.rows / ours_s:,.0f}"
          f" rows/s), max RSS {ours_mb:,.0f} MB")  # fmt: skip
    print(f"csv module + bare executemany:          {bare_s:6.2f} s, max RSS {bare_mb:,.0f} MB"
          " (its whole process: start-up, reading and inserting)")  # fmt: skip
    print(f"ratio to bare executemany (same page cache): {ratio:.2f}")
    goal_line(
        f"ingest {args.rows // 1000:,}k canonical rows: max RSS", ours_mb,
        "a fresh process's peak (os.wait4)", f"< {MAX_RSS_MB} MB", ours_mb < MAX_RSS_MB, "MB",
    )  # fmt: skip
    goal_line(
        f"ingest {args.rows // 1000:,}k canonical rows: time", ratio,
        "csv + bare executemany, same cache", "none set (reported)", True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
