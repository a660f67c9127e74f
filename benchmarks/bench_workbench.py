"""The workbench's slider-move request against the scoring function alone, in one run.

A slider move sends `POST /api/score` with `"detail": false`, as the page sends it:
every weight of the subject's slice, the aggregation, the bands, the subject and the
profile, the scores asked as float32. The server re-aggregates the cached normalised
risks (from the weight-free terms it made once) under the new weights and answers the
whole history (the packed scores, the bands, the weeks that change band); the selected
week's detail is not in it. Measured in process through Starlette's test client (the
ASGI app and its middleware, JSON in and out, no socket), on the embedded dataset and
on a generated 60 indicators x 1,040 weeks panel.

The floor is `CompositeIndex.aggregate` on the same risks under the same weights: it
leaves out reading and validating the request, making the edited profile, the bands,
the packing and the JSON of the answer, the test client and the ASGI app; it includes
reading the risk array into its weight-free terms, which the server does once per
session, not per move. "Inside the server" is the handler's own figure (`seconds` in
the answer): from the decoded request to the encoded answer (validation, aggregation,
bands, packing, JSON), without Starlette, the middleware, the request's JSON decoding
or the test client. Goal: 2 or less for both.

The week-detail request (`POST /api/week`, what the page sends when the selected week
changes or a slider is let go: the same body with the selected week) is timed the same
way and reported against the same floor, with no goal.

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
    bench = Workbench(db, catalog, models)
    session = bench.session(subject)
    saved = session.saved
    index = CompositeIndex(session.catalog, saved)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/").text
        csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        headers = {"X-CSRF-Token": csrf}
        seconds: dict[str, list[float]] = {"/api/score": [], "/api/week": []}
        # The page's payload() for each move, made before the clock starts (the browser
        # builds it, not the server): every weight of the slice, aggregation, bands.
        moves = []
        for k in range(3 * REPEAT + 3):
            families = {**saved.family_weights, family: round(0.05 + 0.9 * k / 200, 3)}
            body = {
                "subject": subject, "profile": saved.name, "indicators": saved.indicator_weights,
                "families": families, "aggregation": saved.aggregation,
                "bands": list(saved.bands), "series": "float32",
            }  # fmt: skip
            moves.append((saved.with_weights(families=families), {
                "/api/score": json.dumps({**body, "detail": False}),
                "/api/week": json.dumps({**body, "row": session.panel.n_weeks - 1}),
            }))  # fmt: skip
        sent: list = []

        def post(url: str) -> dict:
            profile, bodies = moves[len(sent)]
            sent.append(profile)
            response = client.post(url, content=bodies[url], headers=headers)
            assert response.status_code == 200, response.text
            result = response.json()
            seconds[url].append(result["seconds"])
            return result

        def slider_move() -> dict:
            return post("/api/score")

        def week_detail() -> dict:
            return post("/api/week")

        def floor() -> None:  # the same weights as the request just sent
            index.aggregate(session.risk, sent[-1])

        result = slider_move()
        move = timed(REPEAT, slider_move, floor)
        inside = statistics.median(seconds["/api/score"][-REPEAT:])
        week = timed(REPEAT, week_detail, floor)
        week_inside = statistics.median(seconds["/api/week"][-REPEAT:])
    weeks = session.panel.n_weeks
    print(f"{label}: {len(session.catalog)} indicators x {weeks} weeks")
    print(f"  scoring function alone (aggregate of cached risks): {move.floor * 1e3:7.2f} ms")
    print(f"  slider move inside the server (validate, score, bands, JSON): {inside * 1e3:7.2f} ms")
    print(f"  slider move through the ASGI app (JSON in and out): {move.ours * 1e3:7.2f} ms")
    print(f"  week detail inside the server / through the app: {week_inside * 1e3:7.2f} ms / "
          f"{week.ours * 1e3:7.2f} ms")  # fmt: skip
    print(f"  (medians of {REPEAT}, each side interleaved with the floor; "
          f"{len(result['score_float32'])} bytes of scores)")  # fmt: skip
    goal_line(
        f"workbench slider-move request, {label}", move.ratio,
        "the scoring function (aggregate of the cached risks; no request, validation, "
        "bands, packing, JSON or ASGI)", "<= 2x", move.ratio <= 2,
    )  # fmt: skip
    goal_line(
        f"workbench slider move inside the server, {label}", inside / move.floor,
        "the scoring function (as above)", "<= 2x", inside / move.floor <= 2,
    )  # fmt: skip
    goal_line(
        f"workbench week-detail request, {label}", week.ratio,
        "the scoring function (as above)", "none set (reported)", True,
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
