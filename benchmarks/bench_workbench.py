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

One BLAS thread, as `early-warning serve` runs it (the CLI sets one before numpy is
imported): a second thread's wake-up on every small product would inflate the floor.

Usage: python benchmarks/bench_workbench.py   (run from the benchmarks/ folder)
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
from pathlib import Path

from bench_scoring import write_catalog, write_observations
from benchlines import Timed, goal_line, one_blas_thread, timed
from starlette.testclient import TestClient

from early_warning import Store, bundled_path, ingest, load_catalog
from early_warning.demo import run_demo
from early_warning.ingest import Limits
from early_warning.scoring import CompositeIndex, parse_profile, save_profile
from early_warning.web import Workbench, create_app

REPEAT = 50  # requests and scoring calls, interleaved; medians


def measure(label: str, db: Path, catalog, models: Path, subject: str, family: str) -> None:
    app = create_app(db, catalog, models, subject=subject)
    session = Workbench(db, catalog, models).session(subject)
    saved = session.saved
    member = session.catalog.families[family].indicators[0]
    index = CompositeIndex(session.catalog, saved)
    last = session.panel.n_weeks - 1

    def moves(slider: str, extra: dict) -> list[tuple[object, str]]:
        """The page's payload() for each move of one slider (the family's, or its first
        indicator's), made before the clock starts: the browser builds it, not the
        server. Every weight of the slice, the aggregation, the bands."""
        out = []
        for k in range(REPEAT + 1):
            weight = round(0.05 + 0.9 * k / 200, 3)
            families = {**saved.family_weights, **({family: weight} if slider == family else {})}
            indicators = {**saved.indicator_weights, **({member: weight} if slider == member
                                                        else {})}  # fmt: skip
            body = {"subject": subject, "profile": saved.name, "indicators": indicators,
                    "families": families, "aggregation": saved.aggregation,
                    "bands": list(saved.bands), "series": "float32"}  # fmt: skip
            out.append((saved.with_weights(indicators, families), json.dumps({**body, **extra})))
        return out

    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/").text
        csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        headers = {"X-CSRF-Token": csrf}
        sent: list = []
        seconds: list[float] = []

        def run(url: str, slider: str, extra: dict) -> tuple[Timed, float]:
            queue = iter(moves(slider, extra))

            def request() -> None:
                profile, body = next(queue)
                sent.append(profile)
                response = client.post(url, content=body, headers=headers)
                assert response.status_code == 200, response.text
                seconds.append(response.json()["seconds"])

            def floor() -> None:  # the same weights as the request just sent
                index.aggregate(session.risk, sent[-1])

            result = timed(REPEAT, request, floor)
            return result, statistics.median(seconds[-REPEAT:])

        runs = {
            "family slider": run("/api/score", family, {"detail": False}),
            "indicator slider": run("/api/score", member, {"detail": False}),
        }
        # the page's week request: the same body with the selected week
        week, week_inside = run("/api/week", family, {"row": last})
        body = moves(family, {"detail": False})[0][1]
        packed = len(client.post("/api/score", content=body, headers=headers)
                     .json()["score_float32"])  # fmt: skip
    print(f"{label}: {len(session.catalog)} indicators x {session.panel.n_weeks} weeks "
          f"(medians of {REPEAT}, each side interleaved with the floor; {packed} bytes of "
          "scores)")  # fmt: skip
    for name, (move, inside) in runs.items():
        print(f"  {name}: the floor {move.floor * 1e3:.2f} ms; inside the server "
              f"{inside * 1e3:.2f} ms; through the ASGI app {move.ours * 1e3:.2f} ms")  # fmt: skip
    print(f"  week detail: inside the server {week_inside * 1e3:.2f} ms; through the app "
          f"{week.ours * 1e3:.2f} ms")  # fmt: skip
    for name, (move, inside) in runs.items():
        goal_line(
            f"workbench slider-move request ({name}), {label}", move.ratio,
            "the scoring function (aggregate of the cached risks; no request, validation, "
            "bands, packing, JSON or ASGI)", "<= 2x", move.ratio <= 2,
        )  # fmt: skip
        goal_line(
            f"workbench slider move inside the server ({name}), {label}", inside / move.floor,
            "the scoring function (as above)", "<= 2x", inside / move.floor <= 2,
        )  # fmt: skip
    goal_line(
        f"workbench week-detail request, {label}", week.ratio,
        "the scoring function (as above)", "none set (reported)", True,
    )  # fmt: skip


def main() -> None:
    with one_blas_thread():  # as `early-warning serve` runs (the CLI sets one BLAS thread)
        run()


def run() -> None:
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
