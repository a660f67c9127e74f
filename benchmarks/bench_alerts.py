"""`alerts replay` of 50 rules over 1,040 weeks, against scoring the same weeks alone;
`alerts replay --point-in-time` over the whole history, against scoring the same weeks
point in time, on the generated data and on the embedded dataset.

The generated catalog and observations of `bench_scoring` (60 indicators, 20 years);
50 rules: 15 red lines on raw values, 20 thresholds (score, families, indicators) with
hysteresis and minimum runs, 10 week-on-week jumps, 5 staleness rules. The floor is
what replay cannot avoid: building the panel from the store and scoring every week
(`AlertEngine.results`, the same call `score` makes). The aim is a ratio of 3 or less.
Point in time, the floor is each week's panel as known that week (one builder, as the
replay uses) and its fit: the rules, signals, state machines and evidence are what it
leaves out. Goal: 3 or less (medians of 5, the two sides interleaved).

Usage: python benchmarks/bench_alerts.py   (run from the benchmarks/ folder)
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path

import yaml
from bench_scoring import FAMILIES, START, WEEKS, best_of, write_catalog, write_observations
from benchlines import goal_line, timed

from early_warning import Store, bundled_path, ingest, load_catalog
from early_warning.alerts import AlertEngine, load_rules, signals, walk
from early_warning.alerts.engine import RuleState
from early_warning.demo import run_demo
from early_warning.ingest import Limits
from early_warning.scoring import CompositeIndex, load_profile, parse_profile
from early_warning.services import panel_builder

REPEAT = 5  # runs of each side of a point-in-time replay (interleaved; medians)


def write_rules(path: Path, catalog) -> int:
    """50 rules that fire now and then on the generated data (as real rules do)."""
    by_kind: dict[str, list[str]] = {}
    for ind in catalog:
        by_kind.setdefault(ind.kind, []).append(ind.id)
    rules: list[dict] = []
    for n, name in enumerate(by_kind["continuous"][:10]):
        rules.append({"id": f"red_cont_{n}", "kind": "red_line", "severity": "red",
                      "all": [{"indicator": name, "op": ">", "value": 985}],
                      "citation": {"source": "gen", "section": "all"}})  # fmt: skip
    for n, name in enumerate(by_kind["ordinal"][:5]):
        rules.append({"id": f"red_ord_{n}", "kind": "red_line", "severity": "red",
                      "all": [{"indicator": name, "op": ">=", "value": 3},
                              {"indicator": by_kind["boolean"][n], "op": "==", "value": True}],
                      "citation": {"source": "gen", "section": "all"}})  # fmt: skip
    targets = ["score"] + [f"family:{f}" for f in FAMILIES]
    targets += [f"indicator:{i}" for i in by_kind["continuous"][10:25]]
    for n in range(20):
        target = targets[n % len(targets)]
        rules.append({"id": f"thr_{n}", "kind": "threshold", "severity": "amber",
                      "target": target, "op": ">=", "level": 70 + n % 3 * 5,
                      "hysteresis": 10, "min_weeks": 1 + n % 3})  # fmt: skip
    for n, target in enumerate(targets[:10]):
        rules.append({"id": f"jump_{n}", "kind": "change", "severity": "watch",
                      "target": target, "jump": 25})  # fmt: skip
    for n in range(5):
        rules.append({"id": f"stale_{n}", "kind": "staleness", "severity": "watch",
                      "indicators": by_kind["continuous"][n * 4 : n * 4 + 4]})  # fmt: skip
    path.write_text(yaml.safe_dump({"rules": rules}))
    return len(rules)


def main() -> None:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="ew-bench-alerts-") as tmp:
        work = Path(tmp)
        write_catalog(work / "catalog")
        catalog = load_catalog(work / "catalog")
        profile = parse_profile({"name": "bench", "min_family_coverage": 0.3}, catalog)
        write_observations(work / "obs.csv", catalog, rng)
        n_rules = write_rules(work / "alerts.yaml", catalog)
        rules = load_rules(work / "alerts.yaml", catalog)
        end = START + dt.timedelta(weeks=WEEKS - 1)
        with Store(work / "bench.db") as store:
            store.sync_catalog(catalog)
            ingest(store, catalog, work / "obs.csv", limits=Limits(max_file_bytes=1 << 32))
            engine = AlertEngine(store, catalog, profile, rules)
            hindsight(engine, n_rules, end)
            point_in_time(engine, f"{n_rules} rules, generated 1,040 weeks", START, end)
        with tempfile.TemporaryDirectory(prefix="ew-bench-alerts-demo-") as folder:
            demo = run_demo(bundled_path("indicators"), Path(folder), "BLR", bundled_path("models"))
            models = bundled_path("models")
            shipped = load_rules(models / "alerts.yaml", demo.catalog)
            with Store(demo.db_path) as store:
                engine = AlertEngine(
                    store, demo.catalog, load_profile(models, "default", demo.catalog), shipped
                )
                last = dt.date.fromisoformat(store.newest_known_from("BLR")[:10])
                first = panel_builder(store, demo.catalog, "BLR", end=last).start  # all of it
                point_in_time(engine, f"{len(shipped)} shipped rules, embedded data", first, last)


def hindsight(engine: AlertEngine, n_rules: int, end: dt.date) -> None:
    """`alerts replay` on the best current knowledge, against scoring the same weeks."""
    rules = engine.rules
    scoring = best_of(5, lambda: engine.results("BLR", end))
    replay = best_of(5, lambda: engine.replay("BLR", START, end))
    found = engine.replay("BLR", START, end)
    results = engine.results("BLR", end)
    sig_time = best_of(5, lambda: signals(rules, results))
    sig = signals(rules, results)
    rows = range(results.panel.n_weeks)

    def walk_all() -> None:
        for rule in rules:
            walk(rule, sig[rule.id], results.panel.dates, RuleState(rule.id, "BLR"), rows)

    walk_time = best_of(5, walk_all)
    weeks = results.panel.n_weeks
    print(f"alerts replay: {n_rules} rules x {weeks} weeks, {len(found)} alerts would fire")
    print(f"  floor, scoring the same weeks (panel from the store + fit): {scoring * 1e3:8.1f} ms")
    print(f"  alerts replay (scoring + signals + state machine + evidence): {replay * 1e3:6.1f} ms")
    print(f"    of which signals of every rule over every week: {sig_time * 1e3:8.1f} ms")
    print(f"    of which the state machines:                    {walk_time * 1e3:8.1f} ms")
    evidence = replay - scoring - sig_time - walk_time
    print(f"    of which the evidence of {len(found)} alerts (rest):     {evidence * 1e3:8.1f} ms")
    print(f"  ratio replay / scoring: {replay / scoring:.2f}  (aim: 3 or less)")


def point_in_time(engine: AlertEngine, label: str, start: dt.date, end: dt.date) -> None:
    """`alerts replay --point-in-time` over the whole history, against its floor:
    scoring the same weeks point in time (each week's panel as known that week, from
    one builder, and its fit; the rules, their signals, state machines and evidence
    left out)."""
    subject = "BLR"

    def floor() -> None:
        builder = panel_builder(engine.store, engine.catalog, subject, end=end)
        dates = builder.panel(end, point_in_time=True).dates
        index = CompositeIndex(engine.catalog, engine.profile)
        for day in dates[dates >= start.toordinal()]:
            index.fit(builder.panel(dt.date.fromordinal(int(day)), point_in_time=True))

    found = engine.replay(subject, start, end, point_in_time=True)
    result = timed(REPEAT, lambda: engine.replay(subject, start, end, point_in_time=True), floor)
    weeks = engine.replay_weeks(subject, start, end)
    print(
        f"alerts replay --point-in-time, {label}: {weeks:,} weeks, {len(found):,} alerts:"
        f" {result.ours:.2f} s vs scoring the same weeks point in time {result.floor:.2f} s"
        f" (medians of {REPEAT})"
    )
    goal_line(
        f"point-in-time alerts replay, {label}", result.ratio,
        "scoring the same weeks point in time (panel as known each week + fit)", "<= 3x",
        result.ratio <= 3,
    )  # fmt: skip


if __name__ == "__main__":
    main()
