"""A warning that tracks danger: the 2021-2022 build-up in Belarus, as reported.

`fixtures/buildup_2021_2022.csv` adds to the embedded dataset what public reporting
said of the build-up before the invasion of Ukraine (each row cites its source):
Zapad-2021 (10-16 September 2021, about 12,800 personnel declared by the Belarusian
Ministry of Defence ahead of the exercise, foreign attachés invited); some 30,000
Russian troops in Belarus (NATO Secretary General Jens Stoltenberg, 3 February 2022);
Allied Resolve 2022 (10-20 February 2022, declared below the Vienna Document
thresholds, no observers); and the forces not withdrawn when it ended (Belarusian
Minister of Defence Viktor Khrenin, 20 February 2022).

Before issue 16 the score fell into `guarded` in the week ending 2022-01-02 as 2019
figures aged out, the exercise red line compared a decayed sum (31,089 for 30,000),
the declared Zapad figure was refused, and page 1 said "elevated" above red alerts.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from email import message_from_bytes, policy
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader
from starlette.testclient import TestClient

from early_warning import bundled_path, load_catalog
from early_warning.alerts import load_rules, signals
from early_warning.alerts.warning import assess
from early_warning.demo import DemoResult
from early_warning.scoring import CompositeIndex, load_profile
from early_warning.services import panel_builder
from early_warning.store import Store
from early_warning.web import create_app

from .conftest import run_cli

D = dt.date
FIXTURE = Path(__file__).parent / "fixtures" / "buildup_2021_2022.csv"
BUILDUP = (D(2021, 6, 6), D(2022, 3, 27))  # the history judged: Sundays
FIRST_RED = D(2022, 2, 6)  # the week of the 30,000 troops (3 February 2022)


@pytest.fixture(scope="module")
def buildup(tmp_path_factory: pytest.TempPathFactory, demo_session: DemoResult) -> Path:
    """The demo's database plus the build-up, with mail to a folder; its config file."""
    base = tmp_path_factory.mktemp("buildup")
    shutil.copy(demo_session.db_path, base / "buildup.db")
    config = base / "ew.toml"
    config.write_text(
        f'[database]\npath = "{base / "buildup.db"}"\n'
        f'[mail]\noutbox_dir = "{base / "mail"}"\nsender = "ew@desk.invalid"\n'
        'to_red = ["crisis-desk@example.org"]\n'
        f'[paths]\nreports = "{base / "reports"}"\n'
    )
    done = run_cli("--config", str(config), "ingest", str(FIXTURE), cwd=base)
    assert done.returncode == 0, done.stderr
    assert "2 announced ahead of their period" in done.stdout  # Zapad and Allied Resolve
    return config


def _results(config: Path):  # the whole history as known now, scored once
    catalog = load_catalog(bundled_path("indicators"))
    profile = load_profile(bundled_path("models"), "default", catalog)
    rules = load_rules(bundled_path("models") / "alerts.yaml", catalog)
    db = config.parent / "buildup.db"
    with Store(db) as store:
        builder = panel_builder(store, catalog, "BLR", end=BUILDUP[1])
    results = CompositeIndex(catalog, profile).fit(builder.panel(BUILDUP[1]))
    return results, rules


def _rows(results, start: dt.date, end: dt.date) -> range:
    dates = results.panel.dates
    return range(
        int(np.searchsorted(dates, start.toordinal())),
        int(np.searchsorted(dates, end.toordinal(), side="right")),
    )


def test_the_warning_is_red_from_the_first_red_line_to_the_end_of_the_history(
    buildup: Path,
) -> None:
    results, rules = _results(buildup)
    levels = {
        results.panel.date(r): assess(rules, results, r).level for r in _rows(results, *BUILDUP)
    }
    # Without a forecast the level can only be lower, never red by the forecast alone:
    # red is the red lines' doing.
    assert all(level == "red" for day, level in levels.items() if day >= FIRST_RED)
    assert all(level != "red" for day, level in levels.items() if day < FIRST_RED)


def test_the_exercise_red_line_compares_the_largest_exercise_and_clears_when_it_ends(
    buildup: Path,
) -> None:
    results, rules = _results(buildup)
    by_id = {r.id: r for r in rules}
    found = signals([by_id["red_line_exercise_without_observers"], by_id["red_line_forces_stay"]],
                    results)  # fmt: skip
    exercise, stay = found["red_line_exercise_without_observers"], found["red_line_forces_stay"]
    row = results.panel.row_of
    assert exercise.value[row(D(2021, 9, 12))] == 12800  # Zapad-2021: below 13,000, as declared
    assert not exercise.active[row(D(2021, 9, 12))]
    assert exercise.value[row(D(2021, 10, 3))] == 0  # over: none in progress, no decayed tail
    assert exercise.value[row(D(2022, 2, 13))] == 30000  # the exercise, never a sum (31,089)
    assert exercise.active[row(D(2022, 2, 13))] and exercise.active[row(D(2022, 2, 20))]
    assert exercise.clear[row(D(2022, 2, 27))]  # Allied Resolve ended on 20 February ...
    assert (
        stay.active[row(D(2022, 2, 27))] and stay.active[row(D(2022, 3, 27))]
    )  # ... not the forces


def test_the_composite_never_falls_during_the_build_up_through_ageing_alone(
    buildup: Path,
) -> None:
    results, _ = _results(buildup)
    index, risk, panel = results.index, results.risk, results.panel
    events = [j for j, i in enumerate(index.indicators)
              if index.catalog.indicators[i].lifetime == "event"]  # fmt: skip
    quiet = 0
    for r in _rows(results, *BUILDUP)[1:]:
        levels = [j for j in range(len(index.indicators)) if j not in events]
        same = np.array_equal(panel.raw[r, levels], panel.raw[r - 1, levels], equal_nan=True)
        if not same:
            continue  # the world moved (a value arrived, an exercise began or ended)
        quiet += 1
        # Freeze the events' declared decay: what is left is what ageing did - nothing.
        frozen = risk[r].copy()
        frozen[events] = risk[r - 1, events]
        assert index.aggregate(frozen[None, :]).score[0] == pytest.approx(
            results.score[r - 1], abs=1e-9
        ), panel.date(r)
        assert results.score[r] >= results.score[r - 1] - 0.5, panel.date(r)  # decay is slow
    assert quiet > 30  # most weeks bring nothing new: the check is not vacuous


def test_every_face_gives_the_same_level_for_the_same_week(buildup: Path) -> None:
    week = "2022-02-13"  # Allied Resolve under way, 30,000 troops, no observers
    config = str(buildup)
    # `report` alone, before any alert check of the build-up: page 1 leads with the level.
    made = run_cli("--config", config, "report", "--as-of", week, "--json", cwd=buildup.parent)
    assert made.returncode == 0, made.stderr
    page = PdfReader(json.loads(made.stdout)["path"]).pages[0].extract_text()
    assert page.index("WARNING LEVEL RED") < page.index("ELEVATED")  # the level before the band
    assert "red line crossed: Russian forces moving onto Belarusian territory" in page
    assert "red line crossed: A large joint exercise with no observers" in page

    scored = run_cli("--config", config, "score", "--as-of", week, "--json", cwd=buildup.parent)
    level = json.loads(scored.stdout)["warning"]["level"]

    piped = run_cli("--config", config, "pipeline", "--as-of", week, cwd=buildup.parent)
    assert piped.returncode == 0, piped.stderr
    status = run_cli("--config", config, "status", "--json", cwd=buildup.parent)
    stored = json.loads(status.stdout)["warnings"]
    glance = run_cli("--config", config, "status", cwd=buildup.parent).stdout.splitlines()

    mails = [message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted((buildup.parent / "mail").glob("*.eml"))]  # fmt: skip
    red_lines = [m for m in mails if "red_line_exercise_without_observers" in str(m["Subject"])]
    assert red_lines, [str(m["Subject"]) for m in mails]
    subject = str(red_lines[0]["Subject"])
    body = red_lines[0].get_body(("plain",)).get_content()

    # The workbench opens the same week and shows the level first.
    catalog = load_catalog(bundled_path("indicators"))
    app = create_app(buildup.parent / "buildup.db", catalog, bundled_path("models"))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        html = client.get("/", params={"as_of": week}).text
    bench = html.split('id="warning"', 1)[1].split("</div>", 1)[0]

    assert level == "red"
    assert [(w["week"], w["level"]) for w in stored if w["subject"] == "BLR"] == [
        ("2022-W06", "red")
    ]
    # The text status leads with the level.
    assert glance[0].startswith("warning    BLR 2022-W06: RED, red line crossed")
    assert "jobs       none scheduled (the daemon schedules them when it starts)" in glance
    assert 'data-level="red"' in bench and "Warning level RED</b> for 2022-W06" in bench
    assert html.index('id="warning"') < html.index('id="headline"')  # shown first
    assert subject.endswith("warning level RED")
    # Each e-mail carries its own week's level, not the week the check ran in (the
    # check caught up over W05 and W06).
    for mail in mails:
        week = str(mail["Subject"]).split("week ", 1)[1].split(";")[0]
        text = mail.get_body(("plain",)).get_content()
        assert f"Warning level: RED for {week}" in text or "[report]" in str(mail["Subject"])
    # The e-mail cites every observation that made the rule fire, the size among them.
    assert "joint_exercise_scale = 30,000 persons: NATO, Allied Resolve 2022" in body
    assert "exercise_transparency = 1 (notification only" in body
    assert "OSCE, Allied Resolve 2022: no observers invited" in body and "[B2]" in body
