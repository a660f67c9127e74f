"""What refusing a zip bomb costs: time and memory of `early-warning ingest` on an XLSX
and a GDELT zip that inflate to 300-400 MB, against the floor of the same decision.

For each bomb it prints:

  * the time of `ingest` refusing it, in process (median of 5), and the ratio to the
    bare floor measured in the same run: reading the zip's directory with `zipfile`
    (what any check of declared sizes has to do);
  * the peak memory (max RSS) of the whole command, `early-warning ingest BOMB` in a
    child process, and the same for `early-warning --version` (the interpreter and
    imports alone), so the bomb's own share is the difference.

The issue's bar: refused within 2 s and 200 MB. Before the fix, the XLSX bomb reached
3.3 GB inside openpyxl and the GDELT zip ran for minutes.

Usage: python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from early_warning import IngestError, Store, bundled_path, ingest, load_catalog

EXE = Path(sys.executable).parent / "early-warning"
GDELT_ROW = "\t".join(
    ["1", "20211110", "202111", "2021", "2021.8", "BLRGOV", "Belarus", "BLR"]
    + [""] * 7 + ["RUSMIL", "Russia", "RUS"] + [""] * 7
    + ["1", "150", "150", "15", "4", "-7.2", "4", "2", "4", "-3.0"] + [""] * 24
    + ["20211110150000", "https://example.org/x"]
) + "\n"  # fmt: skip


def bomb(path: Path, member: str, chunk: bytes, megabytes: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        if member.startswith("xl/"):
            archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(member, "w", force_zip64=True) as handle:
            block = chunk * ((1 << 20) // len(chunk))
            for _ in range(megabytes):
                handle.write(block)
    return path


def median_seconds(call, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child_max_rss_mb(args: list[str], cwd: Path) -> tuple[float, int]:
    """Max RSS of one child command [MB] (its own rusage, from wait4) and its exit status."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING")}
    child = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, child.returncode


def main() -> None:
    catalog = load_catalog(bundled_path("indicators"))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        row = b"<row><c t='inlineStr'><is><t>ru_support_share_gdp</t></is></c></row>"
        bombs = {
            "xlsx": bomb(work / "bomb.xlsx", "xl/worksheets/sheet1.xml", row, 300),
            "gdelt": bomb(
                work / "20211110000000.export.CSV.zip",
                "20211110000000.export.CSV",
                GDELT_ROW.encode(),
                400,
            ),
        }
        store = Store(work / "bench.db")
        store.sync_catalog(catalog)

        def refuse(path: Path) -> None:
            try:
                ingest(store, catalog, path)
            except IngestError:
                return
            raise SystemExit(f"{path.name} was not refused")

        subprocess.run([str(EXE), "init"], cwd=work, capture_output=True, check=True)
        base_rss, _ = child_max_rss_mb([str(EXE), "--version"], work)
        print(f"command start-up alone (early-warning --version): max RSS {base_rss:.0f} MB")
        for name, path in bombs.items():
            inflated = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
            floor = median_seconds(lambda p=path: zipfile.ZipFile(p).infolist())
            took = median_seconds(lambda p=path: refuse(p))
            rss, code = child_max_rss_mb([str(EXE), "ingest", path.name], work)
            print(
                f"{name} bomb: {path.stat().st_size / 1e6:.2f} MB inflating to "
                f"{inflated / 1e6:,.0f} MB; refused in {took * 1000:.1f} ms "
                f"(reading its directory: {floor * 1000:.2f} ms; ratio {took / floor:.1f}); "
                f"command max RSS {rss:.0f} MB (exit {code})"
            )


if __name__ == "__main__":
    main()
