"""The workbench's rescoring request against the scoring function alone, in one run.

A slider move sends `POST /api/score`; the server re-aggregates the cached normalised
risks under the new weights and returns the whole history (score, band, the saved
profile's line, the weeks that change band, the selected week's detail). Measured
in process through Starlette's test client (the ASGI app, JSON in and out, no
socket), on the embedded dataset and on a generated 60 indicators x 1,040 weeks
panel; the floor is `CompositeIndex.aggregate` on the same risks. Aim: 2 or less.

Usage: python benchmarks/bench_workbench.py   (run from the benchmarks/ folder)
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from bench_scoring import best_of, write_catalog, write_observations
from starlette.testclient import TestClient

from early_warning import Store, bundled_path, ingest, load_catalog
from early_warning.demo import run_demo
from early_warning.ingest import Limits
from early_warning.scoring import CompositeIndex, parse_profile, save_profile
from early_warning.web import Workbench, create_app


def measure(label: str, db: Path, catalog, models: Path, subject: str, family: str) -> None:
    app = create_app(db, catalog, models, subject=subject)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/").text
        csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        headers = {"X-CSRF-Token": csrf}
        weights = iter(round(0.05 + 0.9 * k / 200, 3) for k in range(10**6))

        def request() -> dict:
            body = json.dumps({"families": {family: next(weights)}})
            response = client.post("/api/score", content=body, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        result = request()
        total = best_of(50, request)
        server = min(request()["seconds"] for _ in range(50))
    bench = Workbench(db, catalog, models)
    session = bench.session(subject)
    index = CompositeIndex(catalog, session.saved)
    floor = best_of(50, lambda: index.aggregate(session.risk))
    weeks = len(result["score"])
    print(f"{label}: {len(catalog)} indicators x {weeks} weeks")
    print(f"  scoring function alone (aggregate of cached risks): {floor * 1e3:7.2f} ms")
    print(f"  rescoring inside the server (validate, score, bands, detail): {server * 1e3:7.2f} ms")
    print(f"  whole request through the ASGI app (JSON in and out): {total * 1e3:7.2f} ms")
    print(f"  ratio server / scoring: {server / floor:.2f}; request / scoring: {total / floor:.2f}")


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
        with Store(work / "gen.db") as store:
            store.sync_catalog(catalog)
            ingest(store, catalog, work / "obs.csv", limits=Limits(max_file_bytes=1 << 32))
        measure("generated panel", work / "gen.db", catalog, models, "BLR", "military_posture")


if __name__ == "__main__":
    main()
