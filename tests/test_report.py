"""The weekly PDF report, read back with pypdf and looked at with pdftoppm."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pypdf import PdfReader

from early_warning import Store, bundled_path, load_catalog
from early_warning.alerts import Rule, load_rules
from early_warning.catalog import Catalog
from early_warning.ingest import Limits, ingest
from early_warning.report import build_report, parse_week
from early_warning.scoring import load_profile

from .conftest import run_cli, write_csv
from .test_mail import SmtpServer


def _rules(catalog: Catalog) -> list[Rule]:  # the shipped rules: their red lines lead page 1
    return load_rules(bundled_path("models") / "alerts.yaml", catalog)


AS_OF = dt.date(2021, 2, 28)

# `demo` (read only: its report was written to the folder given as `reports_dir`) and
# `demo_copy` (a database of the test's own) are in conftest.py: built once per session.


def _text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def _cli(work: Path, *args: str, env: dict[str, str] | None = None):
    return run_cli("--db", str(work / "demo.db"), *args, cwd=work, env=env)


def test_the_demo_report_matches_score_and_forecast_json(demo, demo_copy) -> None:
    result, work = demo, demo_copy.db_path.parent  # `score` and `forecast` record
    report = result.report
    assert report.path == result.db_path.parent / "r" / "early-warning-BLR-2021-W08.pdf"
    pages = _text(report.path)
    assert 5 <= len(pages) <= 16
    first = pages[0]
    scored = json.loads(_cli(work, "score", "--as-of", AS_OF.isoformat(), "--json").stdout)
    assert f"{scored['score']:.1f}" in first and scored["band"].upper() in first
    forecast = json.loads(_cli(work, "forecast", "--as-of", AS_OF.isoformat(), "--json").stdout)
    for horizon in forecast["horizons"]:
        assert f"within {horizon['weeks']} weeks {100 * horizon['probability']:.1f}%" in first
        if horizon["low"] is None:  # the prior stands in: a number without an interval
            assert "no interval" in first
        else:
            assert f"{100 * horizon['low']:.1f}% to {100 * horizon['high']:.1f}%" in first
    # The three largest drivers, the active alerts, the coverage.
    for driver in scored["drivers"][:3]:
        assert driver["reason"].split(":")[0].split(" became")[0][:30] in " ".join(first.split())
    active = [a for a in result.alerts if a.state in ("firing", "acknowledged")]
    assert active and all(a.rule in first for a in active)
    assert f"{scored['coverage']:.0%} overall" in first


def test_indicator_values_in_the_table_match_the_database(demo, demo_copy) -> None:
    result, work = demo, demo_copy.db_path.parent  # `score` records
    text = " ".join(" ".join(_text(result.report.path)).split())
    scored = json.loads(_cli(work, "score", "--as-of", AS_OF.isoformat(), "--json").stdout)
    sample = scored["contributions"][:6]
    assert sample
    for item in sample:
        assert f"{item['contribution']:.2f}" in text, item["indicator"]
        assert f"{item['risk']:.2f}" in text
    # Every indicator of the catalog has a row (its name appears).
    catalog = load_catalog(bundled_path("indicators"))
    missing = [i.name for i in catalog if " ".join(i.name.split())[:25] not in text]
    assert not missing


def test_the_alerts_log_and_the_appendix(demo) -> None:
    result = demo
    text = " ".join(" ".join(_text(result.report.path)).split())
    for alert in result.alerts:
        assert alert.rule in text and alert.week in text
    profile = load_profile(bundled_path("models"), "default", result.catalog)
    assert profile.weights_hash in text and result.catalog.version in text
    assert "Clingendael" in text and "Friedrich Ebert" in text  # the sources cited


def test_same_inputs_same_bytes_and_the_report_is_recorded(demo, demo_copy, tmp_path: Path) -> None:
    result, work = demo, demo_copy.db_path.parent  # the report is recorded
    catalog = result.catalog
    profile = load_profile(bundled_path("models"), "default", catalog)
    with Store(work / "demo.db") as store:
        again = build_report(
            store, catalog, profile, "BLR", AS_OF, rules=_rules(catalog), out=tmp_path / "again.pdf"
        )
        rows = store.reports("BLR")
    assert again.path.read_bytes() == result.report.path.read_bytes()
    assert again.sha256 == hashlib.sha256(again.path.read_bytes()).hexdigest()
    assert rows[0]["sha256"] == again.sha256 and rows[0]["pages"] == again.pages
    inputs = json.loads(rows[0]["inputs"])
    assert inputs["profile_hash"] == profile.weights_hash
    assert inputs["data_vintage"] and inputs["versions"]["numpy"]


def test_the_band_in_the_pdf_is_the_profiles_method_and_leaves_gaps(demo) -> None:
    import dataclasses

    import numpy as np

    from early_warning.report.charts import band_arrays, trend
    from early_warning.scoring import ScoreResults

    result = demo
    pages = [" ".join(page.split()) for page in _text(result.report.path)]
    band = result.uncertainty.band
    geometric = band["by_aggregation"]["geometric"]["score"]
    assert (
        f"5-95% as the weights vary (arithmetic): {band['low']:.1f} to {band['high']:.1f}; "
        f"under geometric aggregation: {geometric:.1f}; P(high or worse)" in pages[0]
    )
    text = " ".join(pages)
    assert f"under geometric aggregation the score would be {geometric:.1f}" in text
    assert "not pooled into the band" in text and "95% intervals" in text
    # A week without a score has no band in the chart, whatever the history holds.
    data = result.report.data
    rows = data.trend_rows
    score = data.results.score.copy()
    gap = rows.start + len(rows) // 2
    score[gap] = np.nan
    r = data.results
    agg = dataclasses.replace(r.agg, score=score)
    holed = dataclasses.replace(data, results=ScoreResults(r.index, r.panel, r.risk, agg))
    low, high = band_arrays(holed, rows)
    at = gap - rows.start
    assert np.isnan(low[at]) and np.isnan(high[at])
    assert not np.isnan(low[at - 1]) and not np.isnan(high[at + 1])
    assert trend(holed)  # drawn, with a gap


def test_an_empty_database_gives_a_report_that_says_so(tmp_path: Path) -> None:
    catalog = load_catalog(bundled_path("indicators"))
    profile = load_profile(bundled_path("models"), "default", catalog)
    with Store(tmp_path / "empty.db") as store:
        store.sync_catalog(catalog)
        report = build_report(
            store, catalog, profile, "BLR", AS_OF, rules=_rules(catalog), out_dir=tmp_path
        )
    page, *rest = _text(report.path)
    assert "No observations for BLR" in page and "early-warning ingest" in page
    assert len(rest) <= 3 and "Appendix: method" in " ".join(rest)  # the method still told


def test_a_subject_with_only_one_family(tmp_path: Path) -> None:
    catalog = load_catalog(bundled_path("indicators"))
    profile = load_profile(bundled_path("models"), "default", catalog)
    rows = [
        f"ru_support_share_gdp,{year},{share},UKR,IMF,WEO,,A,2,,"
        for year, share in ((2017, 3.0), (2018, 4.5), (2019, 6.0), (2020, 2.0))
    ]
    with Store(tmp_path / "one.db") as store:
        store.sync_catalog(catalog)
        ingest(store, catalog, write_csv(tmp_path / "one.csv", *rows), limits=Limits())
        report = build_report(
            store, catalog, profile, "UKR", AS_OF, rules=_rules(catalog), out_dir=tmp_path
        )
    text = " ".join(" ".join(_text(report.path)).split())
    assert "Insufficient data to score UKR" in text
    assert "insufficient" in text and "no score" in text.lower()
    # No rule score kept for UKR: the rules that apply to it are replayed for the report
    # (read only: nothing is kept), the red lines written for Belarus are not.
    assert "replayed for this report over the weeks of the trend chart (not kept)" in text
    assert "score_jump" in text and "red_line_forces_move_in" not in text
    with Store(tmp_path / "one.db") as store:
        assert store.count("rule_scores") == 0


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None,
    reason="pdftoppm (Debian poppler-utils) is not installed; .ci/run installs it",
)
def test_page_one_renders_with_the_band_colour(demo, tmp_path: Path) -> None:
    from PIL import Image

    result = demo
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(result.report.path),
         str(tmp_path / "page")],
        check=True,
    )  # fmt: skip
    (png,) = tmp_path.glob("page*.png")
    image = Image.open(png).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    assert (251, 227, 196) in colours  # the `elevated` band box behind the score
    assert image.size[1] > image.size[0]  # portrait A4


def test_report_cli_week_and_email(demo_copy, tmp_path: Path) -> None:
    work = demo_copy.db_path.parent  # the report is recorded
    assert parse_week("2021-W08") == AS_OF
    # The port is held for the server's whole life (no other process can take it).
    controller = SmtpServer().start()
    inbox = controller.inbox
    env = {
        "EARLY_WARNING_MAIL_HOST": "127.0.0.1",
        "EARLY_WARNING_MAIL_PORT": str(controller.port),
        "EARLY_WARNING_MAIL_TO_REPORTS": "desk@example.org,minister@example.org",
        "EARLY_WARNING_PATHS_REPORTS": str(tmp_path / "out"),
    }
    try:
        made = _cli(work, "report", "--week", "2021-W08", "--email", "--json", env=env)
        assert made.returncode == 0, made.stderr
    finally:
        controller.close()
    info = json.loads(made.stdout)
    assert info["path"] == str(tmp_path / "out" / "early-warning-BLR-2021-W08.pdf")
    assert info["emailed"]["sent"] == 1
    # One copy per subscriber, each addressed to that subscriber only.
    assert sorted(r for r, _ in inbox.messages) == [["desk@example.org"], ["minister@example.org"]]
    content = inbox.messages[0][1]
    message = message_from_bytes(content, policy=policy.default)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "early-warning-BLR-2021-W08.pdf"
    assert attachment.get_content() == Path(info["path"]).read_bytes()
    assert len(PdfReader(io.BytesIO(attachment.get_content())).pages) == info["pages"]

    both = _cli(work, "report", "--week", "2021-W08", "--as-of", "2021-02-28")
    assert both.returncode == 2 and "not both" in both.stderr
    bad = _cli(work, "report", "--week", "2021-08")
    assert bad.returncode == 2 and "is not an ISO week" in bad.stderr
    nobody = _cli(work, "report", "--as-of", "2021-02-28", "--email")
    assert nobody.returncode == 2 and "to_reports" in nobody.stderr
