"""The workbench's rescoring request against the scoring function alone, in one run.

A slider move sends `POST /api/score`; the server re-aggregates the cached normalised
risks under the new weights and returns the whole history (score, band, the saved
profile's line, the weeks that change band, the selected week's detail). Measured
in process through Starlette's test client (the ASGI app, JSON in and out, no
socket), on the embedded dataset and on a generated 60 indicators x 1,040 weeks
panel; the floor is `CompositeIndex.aggregate` on the same risks. Goal: 2 or less.
The request is the page's own: the selected week, the scores packed as float32.

Usage: python benchmarks/bench_workbench.py   (run from the benchmarks/ folder)
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
from pathlib import Path

from bench_scoring import write_catalog, write_observations
from benchlines import goal_line, timed
from starlette.testclient import TestClient

from early_warning import Store, bundled_path, ingest, load_catalog
from early_warning.demo import run_demo
from early_warning.ingest import Limits
from early_warning.scoring import CompositeIndex, parse_profile, save_profile
from early_warning.web import Workbench, create_app

REPEAT = 50  # requests and scoring calls, interleaved; medians


def measure(label: str, db: Path, catalog, models: Path, subject: str, family: str) -> None:
    app = create_app(db, catalog, models, subject=subject)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/").text
        csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        headers = {"X-CSRF-Token": csrf}
        weights = iter(round(0.05 + 0.9 * k / 200, 3) for k in range(10**6))
        seconds: list[float] = []

        def request() -> dict:
            # what the page sends on a slider move: the selected week, packed scores
            body = json.dumps({"families": {family: next(weights)}, "row": -1,
                               "series": "float32"})  # fmt: skip
            response = client.post("/api/score", content=body, headers=headers)
            assert response.status_code == 200, response.text
            result = response.json()
            seconds.append(result["seconds"])
            return result

        result = request()
        bench = Workbench(db, catalog, models)
        session = bench.session(subject)
        index = CompositeIndex(catalog, session.saved)
        whole = timed(REPEAT, request, lambda: index.aggregate(session.risk))
        inside = statistics.median(seconds[-REPEAT:])
    floor = whole.floor
    weeks = session.panel.n_weeks
    print(f"{label}: {len(catalog)} indicators x {weeks} weeks")
    print(f"  scoring function alone (aggregate of cached risks): {floor * 1e3:7.2f} ms")
    print(f"  rescoring inside the server (validate, score, bands, detail): {inside * 1e3:7.2f} ms")
    print(f"  whole request through the ASGI app (JSON in and out): {whole.ours * 1e3:7.2f} ms")
    print(f"  (medians of {REPEAT}, the two sides interleaved; {len(result['score_float32'])}"
          " bytes of scores)")  # fmt: skip
    goal_line(
        f"workbench rescoring request, {label}", whole.ratio,
        "the scoring function (aggregate of the cached risks; no validation, bands, "
        "week detail, JSON or ASGI)", "<= 2x", whole.ratio <= 2,
    )  # fmt: skip
    goal_line(
        f"workbench rescoring inside the server, {label}", inside / floor,
        "the scoring function (as above)", "<= 2x", inside / floor <= 2,
    )  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ew-bench-web-") as tmp:
        work = Path(tmp)
        (work / "demo").mkdir()
        demo = run_demo(bundled_path("indicators"), work / "demo", "BLR", bundled_path("models"))
        measure("embedded dataset", demo.db_path, demo.catalog, bundled_path("models"), "BLR",
                "transparency")  # fmt: skip

        write_catalog(work / "catalog")
        catalog = load_catalog(work / "catalog")
        write_observations(work / "obs.csv", catalog, random.Random(7))
        models = work / "models"
        profile = parse_profile({"name": "default", "min_family_coverage": 0.3}, catalog)
        save_profile(profile, catalog, models / "weights" / "default.yaml")
        (models / "alerts.yaml").write_text("rules: []\n")  # the page shows a warning level
        with Store(work / "gen.db") as store:
            store.sync_catalog(catalog)
            ingest(store, catalog, work / "obs.csv", limits=Limits(max_file_bytes=1 << 32))
        measure("generated panel", work / "gen.db", catalog, models, "BLR", "military_posture")


if __name__ == "__main__":
    main()
