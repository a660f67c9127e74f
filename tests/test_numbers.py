"""Numbers people read: `format_number`, and no scientific notation in any text a user
reads (issue 16, "Numbers people read").

The scan test runs the commands an analyst and a duty officer use on the demo database
with a build-up entered on top of it (30,000 troops, a 1,000,000-strong exercise
without observers, 1,234,567 GDELT events in a week, one row out of range), mails the
alerts and the weekly report to a real SMTP server, and looks for `1e+04`-like text in
the commands' output, the e-mails delivered and the PDF's text.
"""

from __future__ import annotations

import doctest
import json
import math
import re
import shutil
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from starlette.testclient import TestClient

from early_warning import bundled_path, numbers
from early_warning.numbers import format_number
from early_warning.web import create_app

from .conftest import run_cli, write_csv
from .test_mail import TIMEOUT, SmtpServer

SCIENTIFIC = re.compile(r"\b\d(\.\d+)?[eE][+-]?\d+\b")

AS_OF = "2021-02-28"  # the demo's as-of day (2021-W08)
BUILD_UP = [
    "ru_troops_in_belarus,2021-W08,30000,BLR,MoD BY,troops arrive,2021-02-26,B,2,,",
    "joint_exercise_scale,2021-02-22,1000000,BLR,MoD RU,exercise announced,2021-02-26,B,2,,",
    "exercise_transparency,2021-02-22,0,BLR,OSCE,no notification and no observers,2021-02-26,A,2,,",
    "gdelt_events,2021-W08,1234567,BLR,GDELT,weekly count,2021-02-26,C,3,,",
    # Out of the catalog range [0, 1,000,000]: a reject whose reason quotes both numbers.
    "joint_exercise_scale,2021-02-15,2000000,BLR,MoD RU,a typo,2021-02-26,B,2,,",
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "options", "text"),
    [
        (30000, {"unit": "persons"}, "30,000 persons"),
        (13000, {}, "13,000"),
        (1e6, {}, "1,000,000"),
        (1234567.89, {}, "1,234,568"),
        (31089.3, {"digits": 4}, "31,089"),
        (999.96, {}, "1,000"),
        (0.0523, {}, "0.052"),
        (0.09996, {}, "0.1"),
        (2.0661, {"digits": 4}, "2.066"),
        (4.5, {}, "4.5"),
        (10.0, {}, "10"),
        (-1234.5, {}, "-1,234"),  # half to even, as Python rounds
        (-0.25, {}, "-0.25"),
        (1e-7, {}, "< 0.001"),
        (-1e-7, {}, "> -0.001"),
        (1e-7, {"signed": True}, "< +0.001"),
        (1e-7, {"digits": 6}, "< 0.000001"),
        (0.0625, {"digits": 6}, "0.0625"),
        (1e16, {}, "10,000,000,000,000,000"),
        (0, {"signed": True}, "0"),
        (-0.0, {}, "0"),
        (4.6249, {"unit": "points", "signed": True}, "+4.62 points"),
        (-4.37, {"unit": "points", "signed": True}, "-4.37 points"),
        (12.5, {"unit": "%"}, "12.5%"),
        (3.14159, {"unit": "% of GDP"}, "3.14% of GDP"),
        (2, {"unit": "level"}, "2"),
        (1, {"unit": "boolean"}, "1"),
        (None, {}, "n/a"),
        (math.nan, {"missing": "-"}, "-"),
        (math.inf, {}, "infinity"),
        (-math.inf, {"unit": "persons"}, "-infinity persons"),
    ],
)
def test_format_number(value: float | None, options: dict[str, Any], text: str) -> None:
    assert format_number(value, **options) == text


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(numbers, raise_on_error=True).attempted >= 6


def test_digits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="digits"):
        format_number(1.0, digits=0)


UNITS = st.sampled_from([None, "", "persons", "%", "% of GDP", "level", "US$ bn", "points"])


@given(
    st.one_of(st.none(), st.floats(), st.integers(-(10**30), 10**30)),
    UNITS,
    st.integers(1, 8),
    st.booleans(),
)
def test_never_an_exponent_and_the_number_read_back_is_close(
    value: float | None, unit: str | None, digits: int, signed: bool
) -> None:
    text = format_number(value, unit, digits=digits, signed=signed)
    assert not re.search(r"[0-9][eE][+-]?[0-9]", text), text
    if value is None or math.isnan(value) or math.isinf(value):
        return
    number = text.removesuffix(numbers.with_unit("", unit).strip()).strip()
    if number.startswith(("<", ">")):  # not zero, below the last place shown
        bound = float(number.lstrip("<> ").replace(",", ""))
        assert 0 < abs(value) < abs(bound) <= 10.0**-1
        return
    shown = float(number.replace(",", ""))
    assert (shown < 0) == (value < 0 and shown != 0)
    assert abs(shown - value) <= max(abs(value) * 10.0 ** (1 - digits), 10.0**-digits)


def _strings(data: Any) -> list[str]:
    """The text in a JSON document: its string values (numbers stay numbers)."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def _without_scripts(page: str) -> str:
    """An HTML page's text without its `<script>` elements (JSON data for the charts)."""
    return re.sub(r"<script\b.*?</script>", "", page, flags=re.DOTALL)


def test_no_scientific_notation_in_any_text_a_user_reads(demo_copy, tmp_path: Path) -> None:
    work = demo_copy.db_path.parent
    server = SmtpServer().start()
    config = work / "ew.toml"
    config.write_text(
        f'[database]\npath = "demo.db"\n[paths]\nreports = "{tmp_path / "reports"}"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {server.port}\ntimeout_seconds = {TIMEOUT}\n'
        'sender = "early-warning@desk.example"\nto_watch = ["analyst@desk.example"]\n'
        'to_red = ["duty@desk.example"]\nto_reports = ["reader@desk.example"]\n'
    )
    texts: dict[str, str] = {}  # where -> the text a user reads there

    def cli(*args: str, status: tuple[int, ...] = (0,)) -> str:
        done = run_cli("--config", str(config), *args, cwd=work)
        assert done.returncode in status, f"{args}: {done.stdout}{done.stderr}"
        if "--json" in args:  # JSON numbers stay numbers: only its strings are read
            texts[" ".join(args)] = "\n".join([*_strings(json.loads(done.stdout)), done.stderr])
        else:
            texts[" ".join(args)] = done.stdout + done.stderr
        return done.stdout

    try:
        cli("ingest", str(write_csv(tmp_path / "build-up.csv", *BUILD_UP)), status=(1,))
        cli("rejects", "list")
        cli("score", "--as-of", AS_OF)
        cli("score", "--as-of", AS_OF, "--json")
        cli("score", "--history", "--start", "2020-12-01", "--as-of", AS_OF)
        cli("alerts", "check", "--as-of", AS_OF, status=(0, 1))
        cli("alerts", "list", "--json")
        cli("alerts", "list")
        cli("alerts", "replay", "--start", "2021-02-01", "--end", AS_OF)
        cli("forecast", "--as-of", AS_OF)
        cli("backtest", "--start", "2020-01-01", "--end", AS_OF, "--step", "13", "--horizons", "4")
        cli("sensitivity", "--as-of", AS_OF, "--draws", "200")
        cli("indicators", "list")
        for indicator in ("ru_troops_in_belarus", "joint_exercise_scale", "gdelt_events"):
            cli("indicators", "show", indicator)
        cli("observations", "list", "--indicator", "joint_exercise_scale")
        cli("weights", "show")
        cli("status")
        made = json.loads(cli("report", "--as-of", AS_OF, "--email", "--json"))
        cli("report", "--as-of", AS_OF, "--out", str(tmp_path / "again.pdf"))
        cli("outbox", "list")
    finally:
        server.close()

    pdf = PdfReader(made["path"])
    texts["the PDF"] = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Russian military personnel in Belarus" in texts["the PDF"]

    delivered = [message_from_bytes(c, policy=policy.default) for _, c in server.inbox.messages]
    subjects = [str(m["Subject"]) for m in delivered]
    assert any("red_line_forces_move_in" in s for s in subjects), subjects
    assert any("red_line_exercise_without_observers" in s for s in subjects), subjects
    for message in delivered:
        where = f"e-mail {message['Subject']} to {message['To']}"
        texts[f"{where} (subject)"] = str(message["Subject"])
        for kind in ("plain", "html"):
            body = message.get_body((kind,))
            if body is not None:
                texts[f"{where} ({kind})"] = body.get_content()

    models = tmp_path / "models"
    shutil.copytree(bundled_path("models"), models)
    app = create_app(demo_copy.db_path, demo_copy.catalog, models, author="tester")
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        page = client.get("/").text
        token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        texts["workbench page"] = _without_scripts(page)
        for indicator in ("ru_troops_in_belarus", "joint_exercise_scale"):
            shown = client.get(f"/indicator/{indicator}").text
            texts[f"workbench {indicator}"] = _without_scripts(shown)
        scored = client.post("/api/score", content="{}", headers={"X-CSRF-Token": token})
        texts["workbench /api/score"] = "\n".join(_strings(scored.json()))

    found = [
        f"{where}: {line.strip()}"
        for where, text in texts.items()
        for line in text.splitlines()
        if SCIENTIFIC.search(line)
    ]
    assert not found, "scientific notation in text people read:\n" + "\n".join(found)
    # The numbers are there, written out, with their units.
    assert made["emailed"]["sent"] == 1  # the weekly report reached its reader
    assert "new data, 30,000 persons" in texts[f"score --as-of {AS_OF}"]
    assert "0 to 1,000,000 persons" in texts["indicators show joint_exercise_scale"]
    pdf_words = " ".join(texts["the PDF"].split())  # lines wrap in table cells
    assert "1,234,567 events per week" in pdf_words
    assert "ru_troops_in_belarus is 30,000 persons" in pdf_words
    mail = "\n".join(t for where, t in texts.items() if where.endswith("(plain)"))
    assert "Value: 30,000 persons" in mail and "joint_exercise_scale > 13,000 persons" in mail
