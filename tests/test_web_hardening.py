"""The workbench under attack and under load (issue 14): stored HTML injection, the
read-only default profile, a locked database, oversized bodies, Host and Origin checks,
short tokens, leaked paths and bad requests. Each test failed on the code before the fix.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from early_warning import Store, bundled_path
from early_warning.demo import run_demo
from early_warning.errors import ConfigError
from early_warning.ingest import Limits, ingest, observe
from early_warning.web import create_app
from early_warning.web.app import MAX_BODY

from .conftest import run_cli
from .test_web import CHROMEDRIVER, CHROMIUM, _catalog, _csrf, _driver, _free_port, _post

INJECTION = '</script><meta http-equiv=refresh content="0;url=http://127.0.0.1:1/">'
HOSTILE = INJECTION + "<img src=x onerror=alert(1)> & <!-- <b>bold</b>"
TOKEN = "a-token-of-twenty-chars"
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed; .ci/run installs them",
)


@pytest.fixture
def work(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh database of the embedded data (about a second) and a copy of the models."""
    run_demo(bundled_path("indicators"), tmp_path, "BLR")
    models = tmp_path / "models"
    shutil.copytree(bundled_path("models"), models)
    return tmp_path / "demo.db", models


@pytest.fixture
def client(work) -> Iterator[TestClient]:
    db, models = work
    app = create_app(db, _catalog(), models, author="tester")
    with TestClient(app, base_url="http://127.0.0.1:8765", raise_server_exceptions=False) as c:
        yield c


@contextlib.contextmanager
def _serving(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """The app on a real uvicorn server in a thread (stopped at the end)."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started and time.monotonic() < end:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def _browser() -> Iterator[Any]:
    driver = _driver()
    try:
        yield driver
    finally:
        driver.quit()


def _hostile_data(db: Path, models: Path, tmp_path: Path) -> None:
    """An event, an observation and a profile whose text is markup trying to get out."""
    catalog = _catalog()
    events = tmp_path / "hostile-events.csv"
    with events.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "subject", "kind", "severity", "title", "citation", "source",
                         "note"])  # fmt: skip
        writer.writerow(["2020-08-16", "BLR", "domestic_crisis", "3", HOSTILE, HOSTILE,
                         "melyantsou2020", HOSTILE])  # fmt: skip
    with Store(db) as store:
        result = ingest(store, catalog, events, limits=Limits())
        assert result.rows_loaded == 1, result.summary()
        noted = observe(store, catalog, "ru_base_status", "1", date="2021-01",
                        source=HOSTILE[:200], citation=HOSTILE, note=HOSTILE,
                        limits=Limits())  # fmt: skip
        assert noted.rows_loaded == 1, noted.summary()
    text = (models / "weights" / "default.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["name"], data["description"] = "hostile", HOSTILE
    (models / "weights" / "hostile.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


# -- 1. stored HTML injection ---------------------------------------------------------------


def test_hostile_text_in_the_database_stays_text_in_the_page(work, client, tmp_path) -> None:
    db, models = work
    _hostile_data(db, models, tmp_path)
    page = client.get("/").text
    assert "</script><meta" not in page and "<img src=x" not in page
    block = page.split('<script id="timeline" type="application/json">', 1)[1]
    block = block.split("</script>", 1)[0]
    assert "<" not in block and ">" not in block and "&" not in block
    titles = [e["title"] for e in json.loads(block)["events"]]
    assert HOSTILE in titles  # escaped in the page, the same text once parsed
    for url in ("/indicator/ru_base_status", "/?profile=hostile"):
        text = client.get(url).text
        assert "</script><meta" not in text and "<img src=x" not in text, url
        assert "&lt;/script&gt;&lt;meta http-equiv=refresh" in text, url


@needs_browser
def test_in_a_real_browser_an_injected_event_title_neither_redirects_nor_breaks_the_chart(
    work, tmp_path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    db, models = work
    _hostile_data(db, models, tmp_path)
    app = create_app(db, _catalog(), models, author="browser")
    with _serving(app) as base, _browser() as driver:
        driver.get(base + "/")
        wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready"
        )
        time.sleep(1.0)  # a meta refresh of 0 s would have fired by now
        assert driver.current_url.startswith(base), driver.current_url
        assert (
            driver.execute_script("return document.querySelectorAll('meta[http-equiv]').length")
            == 0
        )
        titles = driver.execute_script(
            "return [...document.querySelectorAll('#chart line.event title')]"
            ".map((t) => t.textContent)"
        )
        assert any(HOSTILE in t for t in titles), titles  # shown as text, whole
        line = driver.execute_script(
            "return document.getElementById('edited-line').getAttribute('d')"
        )
        assert line and line.count("L") > 50  # the chart is drawn
        driver.get(base + "/indicator/ru_base_status")
        wait.until(lambda d: d.find_element(By.ID, "observe-form"))
        assert driver.current_url.startswith(base)
        assert HOSTILE in driver.find_element(By.CSS_SELECTOR, "table.obs").text
        driver.get(base + "/?profile=hostile")
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready"
        )
        time.sleep(0.5)
        assert driver.current_url.startswith(base)
        description = driver.execute_script(
            "return document.getElementById('profile-description').textContent"
        )
        assert description == " ".join(HOSTILE.split())


# -- 2. the default profile is read-only; saving keeps the prose ------------------------------


def _save(client: TestClient, **body: Any) -> httpx.Response:
    base = {"families": {"transparency": 0.5}, "author": "A. Analyst", "note": "more CSBMs"}
    return _post(client, "/api/profiles", {**base, **body})


def test_the_default_profile_is_read_only_in_the_workbench(work, client) -> None:
    _, models = work
    default = models / "weights" / "default.yaml"
    before = default.read_bytes()
    for name, mode in (("default", "update"), ("default", "new"), ("Default", "new")):
        refused = _save(client, name=name, mode=mode)
        assert refused.status_code == 400, refused.text
        message = refused.json()["error"]
        assert "read-only" in message and "another name" in message
    assert default.read_bytes() == before
    assert not (models / "weights" / "Default.yaml").exists()


def test_saving_keeps_the_description_reasoning_and_comments(work, client) -> None:
    _, models = work
    weights = models / "weights"
    default_text = (weights / "default.yaml").read_text(encoding="utf-8")
    # A new profile starts from the text of the one it was edited from.
    new = _save(client, name="analyst-b", mode="new")
    assert new.status_code == 201, new.text
    assert new.json()["path"] == "weights/analyst-b.yaml"
    text = (weights / "analyst-b.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["name"] == "analyst-b" and data["families"]["transparency"]["weight"] == 0.5
    # Its description says what changed relative to the profile it came from, not the
    # other profile's prose (written for other weights).
    description = " ".join(data["description"].split())
    assert re.match(r"Derived from default \([0-9a-f]{16}\) on \d{4}-\d\d-\d\d in the", description)
    assert "by A. Analyst: transparency 0.2 -> 0.5. Why: more CSBMs." in description
    assert "The shipped default profile" not in description
    assert "The shipped default profile" in default_text
    kept_lines = (
        "# arithmetic | geometric",
        "# --- military_posture ---",
        "Melyantsou et al. (Small states, Conclusions and recommendations) make",
    )
    for kept in kept_lines:
        assert kept in text and kept in default_text
    # Updating another profile keeps that profile's own prose, not the edited one's.
    own = default_text.replace("name: default", "name: keeper", 1).replace(
        "description: >\n  The shipped default profile",
        "description: >\n  # not a comment inside a folded scalar\n  Keeper's own words. The"
        " shipped default profile",
        1,
    )
    own = "# keeper: a comment at the top\n" + own.replace(
        "  transparency:\n    weight: 0.20", "  transparency:  # keeper's comment\n    weight: 0.20"
    )
    (weights / "keeper.yaml").write_text(own, encoding="utf-8")
    updated = _save(client, name="keeper", mode="update", families={"transparency": 0.45})
    assert updated.status_code == 201, updated.text
    after = (weights / "keeper.yaml").read_text(encoding="utf-8")
    assert "# keeper: a comment at the top" in after and "# keeper's comment" in after
    kept = " ".join(yaml.safe_load(after)["description"].split())
    assert "Keeper's own words." in kept  # its own words, and what changed last
    assert kept.endswith("by A. Analyst: transparency 0.2 -> 0.45. Why: more CSBMs.")
    assert yaml.safe_load(after)["families"]["transparency"]["weight"] == 0.45
    assert "    weight: 0.45" in after.splitlines()  # the value edited in place
    before_data, after_data = yaml.safe_load(own), yaml.safe_load(after)
    for data in (before_data, after_data):
        data.pop("description")
    before_data["families"]["transparency"]["weight"] = 0.45
    assert after_data == before_data  # nothing else changed
    # A second update replaces the sentence saying what changed last.
    again = _save(client, name="keeper", mode="update", families={"transparency": 0.4},
                  note="fewer CSBMs")  # fmt: skip
    assert again.status_code == 201, again.text
    last = " ".join(yaml.safe_load((weights / "keeper.yaml").read_text())["description"].split())
    assert last.count("Last changed on") == 1 and "Keeper's own words." in last
    assert last.endswith("transparency 0.45 -> 0.4. Why: fewer CSBMs.")
    # The file written is the one audited, and it loads.
    listed = {p["name"]: p for p in client.get("/api/profiles").json()}
    assert listed["keeper"]["history"][-1]["action"] == "changed"
    assert "error" not in listed["keeper"] and "error" not in listed["analyst-b"]


def _type(driver: Any, selector: str, text: str) -> None:
    """Type into a field as an analyst does, then leave it (which sends `change`)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
    field.clear()
    field.send_keys(text, Keys.TAB)


@needs_browser
def test_in_a_real_browser_a_typed_weight_is_saved_as_typed_or_refused_where_typed(work) -> None:
    from selenium.webdriver.common.by import By

    from .test_web import _ready

    db, models = work
    app = create_app(db, _catalog(), models, author="browser")
    box = 'input.wn[data-for="ru_base_status"]'
    slider = 'input.w[data-id="ru_base_status"]'
    note = '.refused[data-note-for="ru_base_status"]'
    result = "return document.getElementById('save-result').dataset.state || ''"
    with _serving(app) as base, _browser() as driver:
        wait = _ready(driver, base + "/")

        def shown(selector: str, attribute: str = "value") -> str:
            return driver.find_element(By.CSS_SELECTOR, selector).get_attribute(attribute)

        score = driver.find_element(By.ID, "score").text
        # Above the slider's end (5) but within what a weight may be: used as typed.
        _type(driver, box, "8")
        wait.until(lambda d: d.find_element(By.ID, "score").text != score)
        assert shown(box) == "8" and shown(slider, "max") == "8" and shown(slider) == "8"
        assert driver.find_element(By.CSS_SELECTOR, note).text == ""
        _type(driver, "#save-name", "typed-weight")
        _type(driver, "#save-author", "B. Rowser")
        _type(driver, "#save-note", "the base weighs more")
        button = driver.find_element(By.CSS_SELECTOR, "#save-form button")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
        wait.until(lambda d: d.execute_script(result))
        said = driver.find_element(By.ID, "save-result").text
        assert driver.execute_script(result) == "saved" and "ru_base_status 2 -> 8" in said
        saved = yaml.safe_load((models / "weights" / "typed-weight.yaml").read_text())
        assert saved["indicators"]["ru_base_status"]["weight"] == float(shown(box)) == 8
        # Below 0, above the maximum, not a number: refused beside the box, nothing sent.
        score = driver.find_element(By.ID, "score").text
        for typed, why in (("-1", "-1 is below 0"), ("150", "150 is above 100")):
            _type(driver, box, typed)
            wait.until(lambda d, why=why: why in d.find_element(By.CSS_SELECTOR, note).text)
            message = driver.find_element(By.CSS_SELECTOR, note).text
            assert message.startswith("refused: ") and "ru_base_status stays 8" in message
            assert shown(box) == typed and shown(box, "aria-invalid") == "true"
            assert shown(slider) == "8" and driver.find_element(By.ID, "score").text == score
        # While a box shows a refused value, nothing is saved.
        before = (models / "weights" / "typed-weight.yaml").read_bytes()
        driver.execute_script("document.getElementById('save-result').dataset.state = ''")
        driver.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="update"]').click()
        button.click()
        wait.until(lambda d: d.execute_script(result))
        said = driver.find_element(By.ID, "save-result").text
        assert driver.execute_script(result) == "error"
        assert said.startswith("not saved") and "ru_base_status 150" in said
        assert (models / "weights" / "typed-weight.yaml").read_bytes() == before
        # A valid value again: the message goes, the weight is used.
        _type(driver, box, "3")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, note).text == "")
        assert shown(box, "aria-invalid") is None and shown(slider) == "3"


@needs_browser
def test_in_a_real_browser_a_rejected_observation_shows_the_servers_reason(work) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    db, models = work
    app = create_app(db, _catalog(), models, author="browser")
    with _serving(app) as base, _browser() as driver:
        driver.get(base + "/indicator/ru_base_status")
        _type(driver, '#observe-form input[name="date"]', "2021-02")
        _type(driver, '#observe-form input[name="value"]', "7")
        button = driver.find_element(By.CSS_SELECTOR, "#observe-form button")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
        state = "return document.getElementById('observe-result').dataset.state || ''"
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(state))
        said = driver.find_element(By.ID, "observe-result").text
    assert "Unprocessable" not in said and "422" not in said
    assert said.startswith("rejected: ")
    assert "[value: '7' is not a level of ru_base_status" in said


@needs_browser
def test_in_a_real_browser_the_band_has_a_gap_wherever_there_is_no_score(work) -> None:
    from .test_web import _ready

    db, models = work
    app = create_app(db, _catalog(), models, author="browser")
    bench = app.state.bench
    real = bench.timeline

    def with_gaps(session: Any) -> dict[str, Any]:
        """The real timeline with two stretches of weeks that have no score (the stored
        data have none since stale values stay): the band must stop there."""
        timeline = real(session)
        n = len(timeline["dates"])
        for lo, hi in ((n - 60, n - 50), (n - 20, n - 18)):
            for key in ("saved", "low", "high"):
                timeline[key][lo : hi + 1] = [None] * (hi - lo + 1)
        return timeline

    bench.timeline = with_gaps
    with _serving(app) as base, _browser() as driver:
        _ready(driver, base + "/")
        timeline = json.loads(driver.execute_script(
            "return document.getElementById('timeline').textContent"))  # fmt: skip
        drawn = driver.execute_script("return document.getElementById('mc-band').getAttribute('d')")
    first = max(0, timeline["first_scored"] - 52)
    runs, start = [], None  # the shown weeks that have a band, in runs
    for i in range(first, len(timeline["dates"]) + 1):
        banded = i < len(timeline["dates"]) and timeline["low"][i] is not None
        if banded and start is None:
            start = i
        elif not banded and start is not None:
            runs.append((start, i - 1))
            start = None
    assert len(runs) >= 3, runs
    # One closed shape per run, each spanning only its own weeks: no shape bridges a gap.
    shapes = [shape for shape in drawn.split("M") if shape]
    assert len(shapes) == len(runs)
    width, span = 900 - 40 - 10, len(timeline["dates"]) - 1 - first
    for shape, (lo, hi) in zip(shapes, runs, strict=True):
        xs = [float(p.split()[0]) for p in shape.rstrip("Z").split("L")]
        assert min(xs) == pytest.approx(40 + (lo - first) * width / span, abs=0.1)
        assert max(xs) == pytest.approx(40 + (hi - first) * width / span, abs=0.1)


def test_a_profile_named_by_the_cli_opens_in_the_workbench(work, client) -> None:
    db, models = work
    made = run_cli("--db", str(db), "weights", "set", "ru_base_status=2", "--profile", "Hawkish",
               "--note", "a capitalised name", "--as-of", "2021-02-28", cwd=db.parent,
               env={"EARLY_WARNING_PATHS_MODELS": str(models)})  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert (models / "weights" / "Hawkish.yaml").exists()
    assert client.get("/?profile=Hawkish").status_code == 200
    scored = _post(client, "/api/score", {"profile": "Hawkish"})
    assert scored.status_code == 200, scored.text
    saved = _save(client, profile="Hawkish", name="Hawkish", mode="update")
    assert saved.status_code == 201, saved.text
    # One audited workflow, one vocabulary: made on the command line, changed in the browser.
    listed = {p["name"]: p for p in client.get("/api/profiles").json()}
    assert [h["action"] for h in listed["Hawkish"]["history"]] == ["created", "changed"]
    for bad in ("../default", "a.b", "a/b", "-x", "x" * 65, ""):
        assert client.get("/", params={"profile": bad}).status_code == 400, bad
        assert _save(client, name=bad, mode="new").status_code == 400, bad


# -- 3. a locked database -------------------------------------------------------------------


def test_a_locked_database_answers_503_at_once_and_other_pages_still_answer(work) -> None:
    db, models = work
    # A long wait for the lock, so that "the page answered while the write still waited"
    # holds however loaded the machine is (the shipped wait is BUSY_MS).
    busy_ms = 8_000
    app = create_app(db, _catalog(), models, author="tester", busy_ms=busy_ms)
    entry = {
        "indicator": "ru_base_status",
        "date": "2021-02",
        "value": "1",
        "source": "analyst",
        "published": "2021-02-27",
        "note": "entered while locked",
    }
    with _serving(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        csrf = _csrf(http)  # type: ignore[arg-type]
        headers = {"X-CSRF-Token": csrf}
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process writing
        try:
            answers: dict[str, Any] = {}

            def post() -> None:
                started = time.monotonic()
                answers["post"] = http.post("/api/observations", json=entry, headers=headers)
                answers["post_seconds"] = time.monotonic() - started

            writer = threading.Thread(target=post)
            writer.start()
            time.sleep(0.2)
            started = time.monotonic()
            page = http.get("/indicator/ru_base_status")
            read_seconds = time.monotonic() - started
            still_waiting = writer.is_alive()
            listed = http.get("/api/profiles")
            writer.join(timeout=30)
            refused_save = http.post("/api/profiles", headers=headers, json={
                "name": "while-locked", "mode": "new", "note": "n", "author": "a"})  # fmt: skip
        finally:
            locker.rollback()
            locker.close()
        assert page.status_code == 200 and listed.status_code == 200
        assert still_waiting and read_seconds < busy_ms / 1000, read_seconds
        refused = answers["post"]
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"].isdigit()
        assert "the database is busy; try again in a few seconds" in refused.json()["error"]
        assert answers["post_seconds"] < busy_ms / 1000 + 20  # not the 10 s busy_timeout more
        assert refused_save.status_code == 503
        assert not (models / "weights" / "while-locked.yaml").exists()  # nothing half-saved
        # Released: the same entry, sent again, lands.
        again = http.post("/api/observations", json=entry, headers=headers)
        assert again.status_code == 201 and again.json()["status"] == "loaded", again.text
        assert "entered while locked" in http.get("/indicator/ru_base_status").text


@needs_browser
def test_in_a_real_browser_an_entry_refused_as_busy_stays_in_the_form(work) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    db, models = work
    app = create_app(db, _catalog(), models, author="browser")
    typed = {"date": "2021-02", "value": "1", "note": "typed while the database was busy"}
    with _serving(app) as base, _browser() as driver:
        driver.get(base + "/indicator/ru_base_status")
        wait = WebDriverWait(driver, 60)
        for name, value in typed.items():
            driver.find_element(By.CSS_SELECTOR, f'#observe-form input[name="{name}"]').send_keys(
                value
            )
        button = driver.find_element(By.CSS_SELECTOR, "#observe-form button")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        state = "return document.getElementById('observe-result').dataset.state || ''"
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            button.click()
            wait.until(lambda d: d.execute_script(state))
            assert driver.execute_script(state) == "busy"
            said = driver.find_element(By.ID, "observe-result").text
            assert "the database is busy" in said and "kept" in said
            for name, value in typed.items():
                field = driver.find_element(By.CSS_SELECTOR, f'#observe-form input[name="{name}"]')
                assert field.get_attribute("value") == value
        finally:
            locker.rollback()
            locker.close()
        driver.execute_script("document.getElementById('observe-result').dataset.state = ''")
        button.click()
        wait.until(lambda d: d.execute_script(state))
        assert driver.execute_script(state) == "loaded"
    with Store(db) as store:
        notes = [o["note"] for o in store.observations(indicator="ru_base_status", limit=500)]
    assert typed["note"] in notes


# -- 4. bodies over the limit -----------------------------------------------------------------


def test_a_too_large_content_length_is_refused_before_the_body_is_sent(work) -> None:
    db, models = work
    app = create_app(db, _catalog(), models)
    with _serving(app) as base:
        with httpx.Client(base_url=base) as http:
            csrf = _csrf(http)  # type: ignore[arg-type]
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(
                (
                    f"POST /api/score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"X-CSRF-Token: {csrf}\r\nContent-Type: application/json\r\n"
                    "Content-Length: 1000000000\r\n\r\n{"
                ).encode()
            )
            received = b""
            while chunk := raw.recv(65536):  # no body sent: the limit alone answers
                received += chunk  # until the server closes the connection
            answer = received.decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert f"over {MAX_BODY} bytes" in answer


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(work) -> None:
    db, models = work
    app = create_app(db, _catalog(), models)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        csrf = _csrf(c)
    chunk = b" " * 8192
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/score", "raw_path": b"/api/score", "query_string": b"",
        "root_path": "", "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"127.0.0.1:8765"), (b"x-csrf-token", csrf.encode()),
                    (b"transfer-encoding", b"chunked")],
    }  # fmt: skip

    async def main() -> None:
        await app(scope, receive, send)

    anyio.run(main)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert read <= MAX_BODY // len(chunk) + 1  # stopped reading at the limit


# -- 5, 6. Host headers ---------------------------------------------------------------------


def test_ipv6_loopback_host_headers_are_accepted(client: TestClient) -> None:
    for host in ("[::1]:8765", "[::1]", "localhost:8765", "127.0.0.1"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    for host in ("[::1", "[::1]x", "::1:8765:9", "evil.example", "127.0.0.1:x"):
        assert client.get("/", headers={"Host": host}).status_code == 400, host


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_serve_on_ipv6_loopback_answers(work, tmp_path: Path) -> None:
    db, models = work
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING")}
    env["EARLY_WARNING_PATHS_MODELS"] = str(models)
    exe = Path(sys.executable).parent / "early-warning"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(exe), "--db", str(db), "serve", "--host", "::1", "--port",
                                   str(port)], cwd=db.parent, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        end, answer = time.monotonic() + 60, None
        while time.monotonic() < end and server.poll() is None:
            try:
                answer = httpx.get(f"http://[::1]:{port}/", timeout=30)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None, log.read_text()
        assert answer.status_code == 200, answer.text[:300]
        assert "csrf-token" in answer.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "http://[::1]:" in log.read_text()  # the address shown is one a browser opens


def test_with_a_token_this_machines_names_and_address_are_accepted(work) -> None:
    db, models = work
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    app = create_app(db, _catalog(), models, token=TOKEN, hosts=("0.0.0.0",))
    names = {socket.gethostname(), socket.getfqdn()}
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        for name in names:
            answer = c.get("/", headers={**bearer, "Host": f"{name}:8765"})
            assert answer.status_code == 200, (name, answer.text[:200])
            assert c.get("/", headers={"Host": f"{name}:8765"}).status_code == 401
        assert c.get("/", headers={**bearer, "Host": "evil.example:8765"}).status_code == 400
    # The address the client connected to (the bound address, or one of a wildcard's).
    with TestClient(app, base_url="http://10.20.30.40:8765") as c:
        assert c.get("/", headers=bearer).status_code == 200
        assert c.get("/", headers={**bearer, "Host": "10.20.30.41:8765"}).status_code == 400
    # Without a token (loopback only), a machine name is still refused: DNS rebinding.
    plain = create_app(db, _catalog(), models)
    with TestClient(plain, base_url="http://127.0.0.1:8765") as c:
        for name in names - {"localhost"}:
            assert c.get("/", headers={"Host": f"{name}:8765"}).status_code == 400, name


# -- 7. the token ---------------------------------------------------------------------------


def test_a_short_token_is_a_config_error(work) -> None:
    db, models = work
    with pytest.raises(ConfigError, match=r"\[web\] token: at least 16 characters"):
        create_app(db, _catalog(), models, token="x")
    create_app(db, _catalog(), models, token="y" * 16)  # long enough
    refused = run_cli("--db", str(db), "serve", "--host", "0.0.0.0", cwd=db.parent,
                  env={"EARLY_WARNING_WEB_TOKEN": "x"})  # fmt: skip
    assert refused.returncode == 2
    assert "[web] token: at least 16 characters" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr


# -- 8. the Origin's scheme -------------------------------------------------------------------


def test_an_origin_of_another_scheme_or_port_is_refused(client: TestClient) -> None:
    csrf = _csrf(client)
    for origin, status in (("http://127.0.0.1:8765", 200), ("HTTP://127.0.0.1:8765", 200),
                           ("https://127.0.0.1:8765", 403), ("ws://127.0.0.1:8765", 403),
                           ("http://127.0.0.1:8766", 403), ("null", 403), ("", 403)):  # fmt: skip
        answer = client.post("/api/score", content="{}",
                             headers={"X-CSRF-Token": csrf, "Origin": origin})  # fmt: skip
        assert answer.status_code == status, (origin, answer.text[:200])


# -- 9. no server path in an answer -----------------------------------------------------------


def test_errors_name_no_server_path(work, client: TestClient) -> None:
    db, models = work
    (models / "weights" / "broken.yaml").write_text("name: broken\nbands: [", encoding="utf-8")
    (models / "weights" / "misnamed.yaml").write_text("name: other\n", encoding="utf-8")
    answers = [
        client.get("/?profile=nosuch"),
        client.get("/?profile=nosuch", headers={"Accept": "text/html"}),
        _post(client, "/api/score", {"profile": "nosuch"}),
        client.get("/?profile=broken"),
        client.get("/?profile=misnamed"),
        client.get("/api/profiles"),
        client.get("/indicator/nope", headers={"Accept": "text/html"}),
        client.get("/no/such/page"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 400, 400, 200, 404, 404]
    assert "nosuch" in answers[0].json()["error"] and "known: " in answers[0].json()["error"]
    assert "<h1>404</h1>" in answers[1].text  # a page for a browser
    for answer in answers:
        for secret in (str(models), str(models.resolve()), str(db.parent), "/weights/"):
            assert secret not in answer.text, (answer.request.url, answer.text[:300])


# -- no traceback, no bare 500, for a bad request ------------------------------------------------


BAD_BODIES: list[tuple[str, bytes]] = [
    ("/api/score", b"\xff\xfe"), ("/api/score", b"[]"), ("/api/score", b"null"),
    ("/api/score", b'{"row": 1.5}'), ("/api/score", b'{"row": true}'),
    ("/api/score", b'{"row": 1e400}'), ("/api/score", b'{"bands": "x"}'),
    ("/api/score", b'{"bands": [1, 2, 3, "a"]}'), ("/api/score", b'{"bands": [1, 2, 3, NaN]}'),
    ("/api/score", b'{"indicators": []}'), ("/api/score", b'{"families": {"x": 1}}'),
    ("/api/score", b'{"profile": {"a": 1}}'), ("/api/score", b'{"profile": null}'),
    ("/api/score", b'{"aggregation": {}}'), ("/api/score", b'{"aggregation": ["a"]}'),
    ("/api/score", b'{"detail": false, "indicators": {"ru_base_status": [1]}}'),
    ("/api/score", b'{"detail": false, "profile": "nosuch"}'), ("/api/score", b'{"detail": 0}'),
    ("/api/week", b'{"row": "last"}'), ("/api/week", b'{"families": {"x": 1}}'),
    ("/api/backtest", b'{"indicators": {"ru_base_status": -0.0001}}'),
    ("/api/observations", b'{"indicator": "nope", "date": "2021", "value": "1"}'),
    ("/api/observations", b'{"indicator": "ru_base_status", "date": "2021-13", "value": "1"}'),
    ("/api/observations", b'{"indicator": "ru_base_status", "date": "2021-02", "value": 1e400}'),
    ("/api/observations", b'{"indicator": ["x"], "date": "2021-02", "value": "1"}'),
    ("/api/observations",
     b'{"indicator": "ru_base_status", "date": "2021-02", "value": "1", "note": "\\ud800"}'),
    ("/api/profiles", b'{"name": "x1", "mode": "new", "note": "\\ud800 why", "author": "a"}'),
    ("/api/profiles", b'{"name": "x2", "mode": "new", "note": "n", "author": "\\ud800"}'),
    ("/api/profiles", b'{"name": "x3", "mode": ["new"], "note": "n"}'),
    ("/api/profiles", b'{"name": "x4", "mode": "update", "note": "n"}'),
]  # fmt: skip


@pytest.mark.parametrize(("url", "body"), BAD_BODIES)
def test_a_bad_request_is_a_clear_4xx_never_a_traceback(
    work, client: TestClient, url: str, body: bytes
) -> None:
    _, models = work
    answer = client.post(url, content=body, headers={"X-CSRF-Token": _csrf(client)})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text
    said = answer.json()
    assert said.get("error") or said.get("rejects"), said
    assert not any((models / "weights").glob("x?.yaml"))


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [("GET", "/api/score", 405), ("GET", "/indicator/%00", 404),
     ("GET", "/indicator/<script>", 404), ("GET", "/?profile=", 400),
     ("GET", "/?profile=%ff", 400), ("GET", "/static/../app.py", 404),
     ("PUT", "/api/profiles", 405), ("POST", "/", 405)],
)  # fmt: skip
def test_bad_urls_and_methods_are_clear_errors(
    client: TestClient, method: str, url: str, status: int
) -> None:
    answer = client.request(method, url)
    assert answer.status_code == status, answer.text[:300]
    assert "Traceback" not in answer.text and answer.json()["error"]


def test_an_unexpected_failure_is_a_json_500_without_details(work, monkeypatch) -> None:
    db, models = work
    app = create_app(db, _catalog(), models)
    bench = app.state.bench

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"secret detail at {models}")

    monkeypatch.setattr(bench, "profiles", broken)
    with TestClient(app, base_url="http://127.0.0.1:8765", raise_server_exceptions=False) as c:
        answer = c.get("/api/profiles")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error (the server log has the details)"}
