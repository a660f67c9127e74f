"""Generating the weekly report for one week of the embedded dataset.

Prints the time split into data (scores, uncertainty band, forecasts, backtest
lookup, alerts, indicator table), charts (matplotlib) and layout (fpdf2), best of
three runs, and the share of each.

Usage: python benchmarks/bench_report.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from early_warning import bundled_path
from early_warning.alerts import load_rules
from early_warning.demo import run_demo
from early_warning.report import build_report
from early_warning.scoring import load_profile
from early_warning.store import Store

AS_OF = dt.date(2021, 2, 28)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ew-bench-report-") as tmp:
        work = Path(tmp)
        demo = run_demo(bundled_path("indicators"), work, "BLR", bundled_path("models"))
        profile = load_profile(bundled_path("models"), "default", demo.catalog)
        rules = load_rules(bundled_path("models") / "alerts.yaml", demo.catalog)
        runs = []
        with Store(work / "demo.db") as store:
            for _ in range(3):
                start = time.perf_counter()
                report = build_report(
                    store, demo.catalog, profile, "BLR", AS_OF, rules=rules, out_dir=work
                )
                runs.append((time.perf_counter() - start, report.timings))
    total, parts = min(runs, key=lambda r: r[0])
    print(f"weekly report, BLR week {report.data.week}: {report.pages} pages, best of 3")
    for name in ("data", "charts", "layout"):
        print(f"  {name:<7}{parts[name]:7.2f} s  ({parts[name] / total:5.1%})")
    rest = total - sum(parts.values())
    print(f"  {'write':<7}{rest:7.2f} s  (file, hash, record)")
    print(f"  total  {total:7.2f} s")


if __name__ == "__main__":
    main()
