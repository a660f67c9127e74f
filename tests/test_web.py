"""The analyst workbench: every endpoint, bad input, and a real browser (Chromium)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from starlette.testclient import TestClient

from early_warning import bundled_path
from early_warning.demo import run_demo
from early_warning.web import create_app

from .conftest import run_cli

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("web")
    # The embedded data only: the workbench computes what it shows (no stored scores).
    run_demo(bundled_path("indicators"), work, "BLR")
    models = work / "models"
    shutil.copytree(bundled_path("models"), models)
    return work, models


@pytest.fixture
def client(demo) -> Iterator[TestClient]:
    work, models = demo
    app = create_app(work / "demo.db", _catalog(), models, author="tester")
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        yield c


def _catalog():
    from early_warning import load_catalog

    return load_catalog(bundled_path("indicators"))


def _csrf(client: TestClient) -> str:
    page = client.get("/").text
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def _post(client: TestClient, url: str, body: dict, csrf: str | None = None):
    headers = {"X-CSRF-Token": csrf if csrf is not None else _csrf(client)}
    return client.post(url, content=json.dumps(body), headers=headers)


def test_the_page_lists_families_indicators_and_works_offline(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    catalog = _catalog()
    assert all(f.name in page for f in catalog.families.values())
    assert all(f'data-id="{i.id}"' in page for i in catalog)
    # Nothing from elsewhere: every script and style is ours.
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200


def test_rescoring_moves_the_history_and_matches_the_cli(client: TestClient, demo) -> None:
    work, _ = demo
    saved = _post(client, "/api/score", {}).json()
    cli = json.loads(run_cli("--db", str(work / "demo.db"), "score", "--as-of", saved["as_of"],
                         "--json", cwd=work).stdout)  # fmt: skip
    assert saved["week"]["score"] == pytest.approx(cli["score"], abs=1e-3)
    timeline = json.loads(client.get("/").text.split('type="application/json">', 1)[1]
                          .split("</script>", 1)[0])  # fmt: skip
    assert saved["score"] == timeline["saved"] and saved["band_changed"] == []
    # The saved profile's band: only in weeks that have a score.
    for point, low, high in zip(timeline["saved"], timeline["low"], timeline["high"], strict=True):
        assert (point is None) == (low is None) == (high is None)
        assert point is None or low - 1e-3 <= point <= high + 1e-3
    heavier = _post(client, "/api/score", {"families": {"transparency": 1.0}}).json()
    assert heavier["profile_hash"] != saved["profile_hash"]
    assert heavier["score"] != saved["score"]
    assert heavier["band_changed"]  # some week changes band
    week = _post(client, "/api/score", {"row": 100}).json()["week"]
    assert week["week_date"] == timeline["dates"][100]


def test_the_compact_series_holds_the_same_scores_and_a_week_its_own_events(
    client: TestClient, demo
) -> None:
    body = {"families": {"transparency": 0.7}, "row": 200}
    listed = _post(client, "/api/score", body).json()
    packed = _post(client, "/api/score", {**body, "series": "float32"}).json()
    assert "score" not in packed and packed["week"] == listed["week"]
    scores = np.frombuffer(base64.b64decode(packed["score_float32"]), dtype="<f4")
    expected = np.array([np.nan if v is None else v for v in listed["score"]])
    np.testing.assert_allclose(scores, expected, atol=1e-3)  # NaN where there is no score
    # A slider move's answer: the same series, no week; the week is its own request,
    # with the very numbers of the one-request answer.
    move = _post(client, "/api/score", {**body, "series": "float32", "detail": False}).json()
    assert "week" not in move and "profile_hash" not in move
    same = ("subject", "as_of", "saved_hash", "bands", "score_float32", "band_changed")
    assert {k: move[k] for k in same} == {k: packed[k] for k in same}
    assert _post(client, "/api/score", {**body, "detail": False}).json()["score"] == listed["score"]
    week = _post(client, "/api/week", body).json()
    assert week["week"] == listed["week"] and week["row"] == 200
    assert week["profile_hash"] == listed["profile_hash"]
    # The week's detail is cut from the whole panel: an event indicator's count must be
    # the selected week's (it once read the second week of the history).
    work, _ = demo
    from early_warning import Store
    from early_warning.services import load_panel

    catalog = _catalog()
    as_of = dt.date.fromisoformat(_post(client, "/api/score", {}).json()["as_of"])
    with Store(work / "demo.db") as store:
        panel = load_panel(store, catalog, "BLR", as_of)
    events = [j for j, i in enumerate(panel.indicators) if catalog.indicators[i].kind == "event"]
    rows = [r for r in range(1, panel.n_weeks) if panel.events[r, events].any()]
    row = rows[len(rows) // 2]
    week = _post(client, "/api/score", {"row": row - panel.n_weeks}).json()["week"]
    shown = {c["indicator"]: c["display"] for c in week["contributions"]}
    for j in events:
        name = panel.indicators[j]
        if name in shown:
            count = int(panel.events[row, j])
            words = "no event" if not count else f"{count} event{'s' * (count != 1)}"
            assert words in shown[name]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"indicators": {"no_such_thing": 1}}, 400, "'no_such_thing': not in the catalog"),
        ({"indicators": {"ru_base_status": -1}}, 400, "between 0 and 100"),
        ({"indicators": {"ru_base_status": 150}}, 400, "between 0 and 100, got 150"),
        ({"families": {"transparency": 1e9}}, 400, "between 0 and 100"),
        ({"indicators": {"ru_base_status": "heavy"}}, 400, "expected a number"),
        ({"families": {k: 0 for k in ("economic_dependence", "integration_political",
          "military_posture", "transparency", "other")}}, 400, "family"),
        ({"aggregation": "median"}, 400, "aggregation"),
        ({"bands": [50, 40, 60, 80]}, 400, "band"),
        ({"row": 10**6}, 400, "row"),
        ({"profile": "../../etc/passwd"}, 400, "profile"),
        ({"profile": "nosuchprofile"}, 404, "nosuchprofile"),
        ({"series": "float64"}, 400, "series: 'float64' is not float32"),
        ({"series": "float64", "detail": False}, 400, "series: 'float64' is not float32"),
        ({"detail": "no"}, 400, "detail: true or false"),
        ({"row": -10**6, "detail": False}, 400, "row"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error(
    client: TestClient, body: dict, status: int, message: str
) -> None:
    response = _post(client, "/api/score", body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_dns_rebinding_and_nested_junk_are_refused(client: TestClient) -> None:
    rebound = client.get("/", headers={"Host": "evil.example:8765"})
    assert rebound.status_code == 400 and "csrf-token" not in rebound.text
    deep = "[" * 5000 + "]" * 5000
    nested = client.post("/api/score", content=deep, headers={"X-CSRF-Token": _csrf(client)})
    assert nested.status_code == 400
    outside = client.get("/?profile=../../../../etc/passwd")
    assert outside.status_code == 400 and "profile" in outside.json()["error"]


def test_state_changing_requests_need_the_csrf_token(client: TestClient) -> None:
    assert _post(client, "/api/score", {}, csrf="").status_code == 403
    assert _post(client, "/api/profiles", {"name": "x"}, csrf="forged").status_code == 403
    evil = client.post("/api/score", content="{}", headers={
        "X-CSRF-Token": _csrf(client), "Origin": "http://evil.example"})  # fmt: skip
    assert evil.status_code == 403
    assert client.post("/api/score", content="x" * 70000, headers={
        "X-CSRF-Token": _csrf(client)}).status_code == 413  # fmt: skip


def test_backtest_compares_edited_with_saved(client: TestClient) -> None:
    result = _post(client, "/api/backtest", {"families": {"military_posture": 1.0}}).json()
    assert [h["weeks"] for h in result["horizons"]] == [4, 12]
    for h in result["horizons"]:
        assert h["edited"]["weeks"] > 0 and h["saved"]["weeks"] > 0
        assert h["saved"]["auc"] is None or 0 <= h["saved"]["auc"] <= 1


def test_saving_writes_yaml_and_audit_and_escapes_hostile_notes(client: TestClient, demo) -> None:
    _, models = demo
    note = "<script>alert('x')</script> more weight on transparency"
    body = {"families": {"transparency": 0.5}, "name": "analyst-a", "mode": "new",
            "author": "A. Analyst", "note": note}  # fmt: skip
    saved = _post(client, "/api/profiles", body)
    assert saved.status_code == 201, saved.text
    path = models / "weights" / "analyst-a.yaml"
    assert (
        path.exists()
        and yaml.safe_load(path.read_text())["families"]["transparency"]["weight"] == 0.5
    )
    again = _post(client, "/api/profiles", body)
    assert again.status_code == 400 and "exists" in again.json()["error"]
    assert _post(client, "/api/profiles", {**body, "mode": "update"}).status_code == 201
    listed = client.get("/api/profiles").json()
    (entry,) = [p for p in listed if p["name"] == "analyst-a"]
    assert [h["action"] for h in entry["history"]] == ["created", "changed"]
    page = client.get("/").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    bad = _post(client, "/api/profiles", {**body, "name": "../evil"})
    assert bad.status_code == 400 and "name" in bad.json()["error"]
    quiet = _post(client, "/api/profiles", {**body, "name": "b", "note": " "})
    assert quiet.status_code == 400 and "note" in quiet.json()["error"]


def test_the_indicator_page_and_entering_an_observation(client: TestClient) -> None:
    page = client.get("/indicator/ru_base_status")
    assert page.status_code == 200
    text = page.text
    assert "Russian military base" in text and "sivitsky2019" in text and "Citations" in text
    assert client.get("/indicator/nope").status_code == 404
    good = _post(client, "/api/observations", {"indicator": "ru_base_status", "date": "2021-02",
                 "value": "1", "source": "analyst", "published": "2021-02-27",
                 "note": "<b>checked</b>"})  # fmt: skip
    assert good.status_code == 201 and good.json()["status"] == "loaded"
    assert "&lt;b&gt;checked&lt;/b&gt;" in client.get("/indicator/ru_base_status").text
    bad = _post(client, "/api/observations", {"indicator": "ru_base_status", "date": "2021-02",
                "value": 7})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["status"] == "rejected"
    assert bad.json()["rejects"][0]["field"] == "value"
    # The reason, where every error answer carries it (the page shows it).
    assert bad.json()["error"] == "value: " + bad.json()["rejects"][0]["reason"]
    assert "is not a level of ru_base_status" in bad.json()["error"]
    unit = _post(client, "/api/observations", {"indicator": "ru_base_status", "date": "2021-03",
                 "value": "1", "unit": "kg"})  # fmt: skip
    assert unit.status_code == 422 and unit.json()["rejects"][0]["field"] == "unit"
    junk = _post(client, "/api/observations", {"indicator": "ru_base_status", "date": "2021-03",
                 "value": "1", "colour": "red"})  # fmt: skip
    assert junk.status_code == 400 and "colour" in junk.json()["error"]
    assert "7" in client.get("/indicator/ru_base_status").text  # shown among the rejects


def test_beyond_loopback_a_token_is_required(demo) -> None:
    work, models = demo
    token = "s3cret-s3cret-s3cret"
    app = create_app(work / "demo.db", _catalog(), models, token=token)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/").status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.get(f"/?token={token}").status_code == 200  # then a cookie
    refused = run_cli("--db", str(work / "demo.db"), "serve", "--host", "0.0.0.0", cwd=work)
    assert refused.returncode == 2 and "needs [web] token" in refused.stderr


# -- a real browser ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)  # fmt: skip
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def server(demo) -> Iterator[str]:
    import uvicorn

    work, models = demo
    app = create_app(work / "demo.db", _catalog(), models, author="browser")
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not instance.started and time.monotonic() < end:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=30)


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed; .ci/run installs them",
)
def test_in_a_real_browser_a_slider_redraws_the_history_and_a_profile_is_saved(
    server: str, demo
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    work, models = demo
    driver = _driver()
    try:
        driver.get(server + "/")
        # The chart is redrawn while we look: an element read may go stale; read again.
        wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready"
        )
        score = driver.find_element(By.ID, "score").text
        path_of_line = "return document.getElementById('edited-line').getAttribute('d')"
        line = driver.execute_script(path_of_line)
        slider = driver.find_element(By.CSS_SELECTOR, 'input.w[data-id="transparency"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", slider)
        slider.send_keys(Keys.END)  # the family weight to its maximum, from the keyboard
        wait.until(lambda d: d.execute_script(path_of_line) != line)
        wait.until(lambda d: d.find_element(By.ID, "score").text != score)
        assert (
            driver.find_element(By.CSS_SELECTOR, 'input.wn[data-for="transparency"]').get_attribute(
                "value"
            )
            == "1"
        )
        driver.find_element(By.ID, "save-name").clear()
        driver.find_element(By.ID, "save-name").send_keys("browser-profile")
        driver.find_element(By.ID, "save-author").send_keys("B. Rowser")
        driver.find_element(By.ID, "save-note").send_keys("transparency to the full weight")
        button = driver.find_element(By.CSS_SELECTOR, "#save-form button")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
        wait.until(lambda d: d.find_element(By.ID, "save-result").get_attribute("data-state"))
        assert driver.find_element(By.ID, "save-result").get_attribute("data-state") == "saved"
    finally:
        driver.quit()
    path = models / "weights" / "browser-profile.yaml"
    assert path.exists()
    # The saved profile is used by `score --profile` from the command line.
    scored = run_cli("--db", str(work / "demo.db"), "score", "--as-of", "2021-02-28", "--profile",
                 str(path), "--json", cwd=work)  # fmt: skip
    default = run_cli(
        "--db", str(work / "demo.db"), "score", "--as-of", "2021-02-28", "--json", cwd=work
    )
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["score"] != json.loads(default.stdout)["score"]
    assert json.loads(scored.stdout)["profile"] == "browser-profile"


_REQUESTS = """return performance.getEntriesByType('resource')
    .filter((e) => e.name.endsWith(arguments[0])).length"""


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed; .ci/run installs them",
)
def test_in_a_real_browser_a_drag_rescores_without_asking_for_the_week_and_a_click_shows_it(
    server: str,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = _driver()
    try:
        wait = _ready(driver, server + "/")
        driver.execute_script("performance.setResourceTimingBufferSize(10000)")
        count = lambda url: driver.execute_script(_REQUESTS, url)  # noqa: E731
        text = lambda key: driver.find_element(By.ID, key).text  # noqa: E731
        line = "return document.getElementById('edited-line').getAttribute('d')"
        before = {"line": driver.execute_script(line), "score": text("score"),
                  "week": count("/api/week"), "series": count("/api/score")}  # fmt: skip
        slider = driver.find_element(By.CSS_SELECTOR, 'input.w[data-id="transparency"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", slider)
        # Held down and dragged across in steps, not let go: every step is a move.
        drag = ActionChains(driver).click_and_hold(slider)
        for _ in range(8):
            drag.move_by_offset(12, 0).pause(0.05)
        drag.perform()
        wait.until(lambda d: d.execute_script(line) != before["line"])
        wait.until(lambda d: text("score") != before["score"])
        assert count("/api/score") > before["series"]
        assert count("/api/week") == before["week"]  # no week detail while it moves
        ActionChains(driver).release().perform()  # let go: the detail, once
        wait.until(lambda d: count("/api/week") == before["week"] + 1)
        wait.until(lambda d: d.find_element(By.ID, "detail").get_attribute("data-state")
                   == "ready")  # fmt: skip
        label, series = text("week-label"), count("/api/score")
        # A click on the chart selects an earlier week: its detail, and no rescoring.
        chart = driver.find_element(By.ID, "chart")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
        width = chart.size["width"]
        ActionChains(driver).move_to_element_with_offset(chart, -width // 5, 0).click().perform()
        wait.until(lambda d: text("week-label") != label)
        wait.until(lambda d: count("/api/week") == before["week"] + 2)
        assert count("/api/score") == series
        shown = text("week-label")
        assert shown.split("(")[1] < label.split("(")[1]  # an earlier week's date
        assert driver.find_elements(By.CSS_SELECTOR, "#contributions tbody tr")
        assert "coverage" in text("coverage")
    finally:
        driver.quit()


def _ready(driver: Any, url: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready")
    return wait


def test_the_page_opens_a_week_and_refuses_one_that_has_not_happened(client) -> None:
    page = client.get("/", params={"as_of": "2021-02-28"}).text
    assert 'id="warning"' in page and "for 2021-W08" in page
    for bad, said in (("2099-01-01", "is in the future"), ("<script>", "not a date")):
        answer = client.get("/", params={"as_of": bad})
        assert answer.status_code == 400 and said in answer.text and "<script>" not in answer.text


@pytest.fixture(scope="module")
def dyad_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the daily dyad file only: BLR and its dyads' event signals."""
    from early_warning import Store
    from early_warning.ingest import Limits, ingest

    db = tmp_path_factory.mktemp("dyads") / "dyads.db"
    with Store(db) as store:
        store.sync_catalog(_catalog())
        ingest(store, _catalog(), Path(__file__).parent / "fixtures" / "dyad_edges_2022.csv",
               limits=Limits())  # fmt: skip
    return db


def test_a_dyad_opens_in_its_theatres_slice_with_the_score_the_cli_prints(
    dyad_db: Path, demo
) -> None:
    _, models = demo
    app = create_app(dyad_db, _catalog(), models, author="tester")
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        page = client.get("/?subject=BLR-UKR").text
        week = _post(client, "/api/score", {"subject": "BLR-UKR"}).json()
        mine = client.get("/?profile=dyads").text  # the server's subject, BLR
        refused = _post(client, "/api/score", {"subject": "DEU"})
    # The dyads' slice: the event family's sliders only, the dyads' profile.
    assert 'data-id="gdelt_edge_conflict"' in page and 'data-id="ru_base_status"' not in page
    assert 'id="profile-title">dyads<' in page and 'href="/?subject=MDA' not in page
    assert 'href="/?subject=BLR-POL"' in page  # the scored subjects, to open
    cli = json.loads(run_cli("--db", str(dyad_db), "score", "--subject", "BLR-UKR", "--as-of",
                             week["as_of"], "--json", cwd=dyad_db.parent).stdout)  # fmt: skip
    assert cli["profile"] == "dyads" and cli["score"] is not None
    assert week["week"]["score"] == pytest.approx(cli["score"], abs=1e-3)
    assert f'data-level="{cli["warning"]["level"]}"' in page
    # An explicit profile still wins, read against the subject's own slice.
    assert 'id="profile-title">dyads<' in mine and 'data-id="ru_base_status"' in mine
    assert refused.status_code == 404 and "belongs to no theatre" in refused.json()["error"]
