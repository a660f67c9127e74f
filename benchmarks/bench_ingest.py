"""Ingest a million generated canonical rows and compare with a bare executemany.

Prints the time of `early_warning.ingest` on a generated CSV (full validation, content
hashing, one transaction, indexes) and the ratio to two baselines measured in the same
run on the same rows:

  * bare: `sqlite3` `executemany` of the already-parsed rows into a table of the same
    shape (same columns, same indexes), no validation: the floor for writing the data;
  * csv+bare: reading the CSV with the csv module, then the same executemany.

Usage: python benchmarks/bench_ingest.py [ROWS]   (default 1,000,000)
"""

from __future__ import annotations

import csv
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from early_warning import Store, bundled_path, ingest, load_catalog
from early_warning.ingest import Limits
from early_warning.store import OBSERVATION_COLUMNS

HEADER = ["indicator", "date", "value", "subject", "source", "citation", "published",
          "reliability", "credibility", "unit", "note"]  # fmt: skip


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


def bare_rows(path: Path) -> list[tuple]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [
            (r[0], r[3], r[1], r[1], r[1], float(r[2]), r[2], None, r[5], r[6], r[6],
             "2026-01-01T00:00:00Z", r[7], r[8], r[9], r[10] or None, None, 1, n,
             hashlib.blake2b(str(n).encode(), digest_size=16).hexdigest())
            for n, r in enumerate(reader)
        ]  # fmt: skip


def bare_table(db_path: Path) -> sqlite3.Connection:
    """A plain connection and a table shaped like `observations` (columns and indexes)."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    columns = ", ".join(f"{c}" for c in OBSERVATION_COLUMNS)
    conn.execute(f"CREATE TABLE observations (id INTEGER PRIMARY KEY, {columns})")
    conn.execute("CREATE UNIQUE INDEX u ON observations (content_hash)")
    conn.execute("CREATE INDEX i ON observations (indicator, subject, period_end)")
    return conn


def insert_bare(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    marks = ", ".join("?" * len(OBSERVATION_COLUMNS))
    with conn:
        conn.executemany(
            f"INSERT INTO observations ({', '.join(OBSERVATION_COLUMNS)}) VALUES ({marks})", rows
        )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    catalog = load_catalog(bundled_path("indicators"))
    with tempfile.TemporaryDirectory(prefix="ew-bench-") as tmp:
        work = Path(tmp)
        data = work / "rows.csv"
        generate(data, rows, catalog)
        size = data.stat().st_size

        parsed = bare_rows(data)
        conn = bare_table(work / "bare.db")
        start = time.perf_counter()
        insert_bare(conn, parsed)
        bare = time.perf_counter() - start
        conn.close()
        del parsed

        start = time.perf_counter()
        conn = bare_table(work / "bare_csv.db")
        insert_bare(conn, bare_rows(data))
        csv_bare = time.perf_counter() - start
        conn.close()

        store = Store(work / "ew.db")
        store.sync_catalog(catalog)
        start = time.perf_counter()
        result = ingest(store, catalog, data, limits=Limits(max_file_bytes=4 << 30))
        ours = time.perf_counter() - start
        store.close()

    assert result.rows_loaded == rows, result.summary()
    print(f"rows {rows:,} ({size / 1e6:.0f} MB CSV), {len(catalog)} indicators")
    print(f"bare executemany (parsed rows, same-shaped table): {bare:6.2f} s")
    print(f"csv module + bare executemany:                     {csv_bare:6.2f} s")
    print(f"early-warning ingest (full validation):            {ours:6.2f} s "
          f"({rows / ours:,.0f} rows/s)")  # fmt: skip
    print(f"ratio to bare executemany:      {ours / bare:.2f}")
    print(f"ratio to csv + bare executemany: {ours / csv_bare:.2f}")


if __name__ == "__main__":
    main()
