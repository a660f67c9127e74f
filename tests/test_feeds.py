"""Live feeds (`[sources.NAME] feed = ...`): GDELT 2.0, UCDP candidate events, the World
Bank, each polled by the daemon through the Fetcher seam.

A local HTTP server on 127.0.0.1 replays the publishers' files in their real layouts:
GDELT's `lastupdate.txt` and `masterfilelist.txt` (lines `SIZE MD5 URL`) and its
15-minute export zips (61 tab-separated columns, `test_gdelt.write_export`), UCDP's
candidate GED CSV and its JSON API pages (`TotalCount`, `TotalPages`, `NextPageUrl`,
`Result`). Nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from early_warning import ConfigError, load_config
from early_warning.daemon import REPORT, Daemon, DaemonSettings
from early_warning.ingest.feeds import parse_file_list
from early_warning.ingest.ucdp_ged import severity_of
from early_warning.report import source_lines
from early_warning.store import open_store

from .conftest import run_cli
from .test_gdelt import BLR_POL, BLR_RUS, write_export
from .test_importers import wb_server  # noqa: F401 (the fixture)

# -- the publisher -----------------------------------------------------------------------


class Quiet(http.server.BaseHTTPRequestHandler):
    """A handler that logs nothing and answers a body in one call."""

    def answer(self, code: int, body: bytes, content_type: str = "") -> None:
        self.send_response(code)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1, in a thread, answering with `handler`."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Publisher(LocalServer):
    """Files by path, served on 127.0.0.1, every request counted."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()
        publisher = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                publisher.hits[self.path] += 1
                body = publisher.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.answer(200, body)

        super().__init__(Handler)

    def line(self, path: str, *, md5: str | None = None) -> str:
        """The index line GDELT writes for a file: `SIZE MD5 URL`."""
        body = self.files[path]
        return f"{len(body)} {md5 or hashlib.md5(body).hexdigest()} {self.url}{path}"


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    p = Publisher()
    yield p
    p.close()


STAMPS = ("20211110150000", "20211110151500", "20211110153000", "20211110154500")


def _gdelt_files(publisher: Publisher, tmp_path: Path) -> list[str]:
    """Four 15-minute exports (with mentions and gkg beside them, as GDELT lists them)."""
    paths = []
    for i, stamp in enumerate(STAMPS):
        name = f"{stamp}.export.CSV.zip"
        events = BLR_RUS if i % 2 == 0 else BLR_POL
        zipped = write_export(tmp_path / name, events, zipped=True, day="20211110")
        publisher.files[f"/gdeltv2/{name}"] = zipped.read_bytes()
        for other in ("mentions.CSV.zip", "gkg.csv.zip"):
            publisher.files[f"/gdeltv2/{stamp}.{other}"] = b"PK\x03\x04 not read"
        paths.append(f"/gdeltv2/{name}")
    return paths


def _publish(publisher: Publisher, upto: int) -> None:
    """lastupdate.txt names export `upto` (and its mentions and gkg); the master list
    every file up to it."""
    stamp = STAMPS[upto]
    group = [f"/gdeltv2/{stamp}.export.CSV.zip", f"/gdeltv2/{stamp}.mentions.CSV.zip",
             f"/gdeltv2/{stamp}.gkg.csv.zip"]  # fmt: skip
    publisher.files["/gdeltv2/lastupdate.txt"] = (
        "\n".join(publisher.line(p) for p in group) + "\n"
    ).encode()
    master = [
        publisher.line(f"/gdeltv2/{s}.{kind}")
        for s in STAMPS[: upto + 1]
        for kind in ("export.CSV.zip", "mentions.CSV.zip", "gkg.csv.zip")
    ]
    publisher.files["/gdeltv2/masterfilelist.txt"] = ("\n".join(master) + "\n").encode()


def _config(tmp_path: Path, sources: str) -> Path:
    path = tmp_path / "ew.toml"
    path.write_text(
        '[database]\npath = "ew.db"\n[paths]\nreports = "reports"\n'
        '[mail]\noutbox_dir = "outbox"\nto_ops = ["ops@example.org"]\n'
        '[daemon]\ntimezone = "UTC"\nflush_seconds = 1\n' + sources
    )
    return path


def _daemon(config: Path, env: dict[str, str] | None = None) -> Daemon:
    daemon = Daemon(load_config(config, env=env or {}))
    with open_store(daemon.config.db_path, create=True) as store:
        store.sync_catalog(daemon.catalog)
    return daemon


def _gdelt_source(publisher: Publisher, extra: str = "") -> str:
    return (
        f'[sources.gdelt]\nfeed = "gdelt"\nurl = "{publisher.url}/gdeltv2/lastupdate.txt"\n'
        f'master_url = "{publisher.url}/gdeltv2/masterfilelist.txt"\n{extra}'
    )


def _events_counted(db: Path, subject: str) -> int:
    with open_store(db) as store:
        return sum(r["events"] for r in store.event_counts(subject, "2021-W45"))


def _sources(tmp_path: Path) -> dict[str, dict]:
    status = run_cli("--config", str(tmp_path / "ew.toml"), "status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    return {s["name"]: s for s in json.loads(status.stdout)["sources"]}


# -- GDELT -------------------------------------------------------------------------------


def test_gdelt_exports_are_fetched_once_each_across_a_restart_and_a_missed_one_caught_up(
    publisher: Publisher, tmp_path: Path
) -> None:
    exports = _gdelt_files(publisher, tmp_path)
    _publish(publisher, 0)
    config = _config(tmp_path, _gdelt_source(publisher))
    first = _daemon(config)
    assert first.run_job("ingest:gdelt") == "ok"
    assert first.run_job("ingest:gdelt") == "ok"  # the same lastupdate.txt: nothing new
    first.stop()
    assert publisher.hits[exports[0]] == 1
    assert _events_counted(tmp_path / "ew.db", "BLR-RUS") == len(BLR_RUS)

    _publish(publisher, 2)  # two more while the daemon was down; lastupdate names only one
    second = _daemon(config)  # a new daemon on the same database: the restart
    assert second.run_job("ingest:gdelt") == "ok"
    assert second.run_job("ingest:gdelt") == "ok"
    _publish(publisher, 3)
    assert second.run_job("ingest:gdelt") == "ok"
    second.stop()

    assert [publisher.hits[p] for p in exports] == [1, 1, 1, 1]  # each once, none twice
    assert not any("mentions" in p or "gkg" in p for p in publisher.hits)  # not read
    db = tmp_path / "ew.db"
    assert _events_counted(db, "BLR-RUS") == 2 * len(BLR_RUS)  # files 1 and 3
    assert _events_counted(db, "BLR-POL") == 2 * len(BLR_POL)  # files 2 and 4
    with open_store(db) as store:
        items = store.feed_items("gdelt")
        runs = store.job_runs("ingest:gdelt")
    assert [i["stamp"] for i in items] == list(STAMPS)
    assert {i["outcome"] for i in items} == {"ok"}
    assert [r["rows_loaded"] for r in reversed(runs)] == [1, 0, 2, 0, 1]  # exports arrived
    assert runs[1]["detail"] == "nothing new"
    assert _sources(tmp_path)["gdelt"]["healthy"]


def test_without_the_master_list_each_lastupdate_export_is_fetched_once(
    publisher: Publisher, tmp_path: Path
) -> None:
    exports = _gdelt_files(publisher, tmp_path)
    source = (f'[sources.gdelt]\nfeed = "gdelt"\n'
              f'url = "{publisher.url}/gdeltv2/lastupdate.txt"\n')  # fmt: skip
    daemon = _daemon(_config(tmp_path, source))
    for upto in (0, 0, 1, 1, 3):
        _publish(publisher, upto)
        assert daemon.run_job("ingest:gdelt") == "ok"
    daemon.stop()
    assert [publisher.hits[p] for p in exports] == [1, 1, 0, 1]  # the third was never named


def test_a_wrong_md5_is_refused_named_and_tried_again(publisher: Publisher, tmp_path: Path) -> None:
    exports = _gdelt_files(publisher, tmp_path)
    _publish(publisher, 0)
    right = publisher.files["/gdeltv2/lastupdate.txt"]
    wrong = publisher.line(exports[0], md5="0" * 32)
    publisher.files["/gdeltv2/lastupdate.txt"] = (wrong + "\n").encode()
    daemon = _daemon(_config(tmp_path, _gdelt_source(publisher)))
    assert daemon.run_job("ingest:gdelt") == "partial"
    (run,) = _runs(tmp_path)
    assert f"{publisher.url}{exports[0]}: MD5 " in run["detail"]
    assert "but the GDELT index gave 00000000" in run["detail"]
    assert "tried again next run" in run["detail"]
    assert _events_counted(tmp_path / "ew.db", "BLR-RUS") == 0  # nothing half-written
    source = _sources(tmp_path)["gdelt"]
    assert not source["healthy"] and source["problem"].startswith("a run partial at ")
    publisher.files["/gdeltv2/lastupdate.txt"] = right
    assert daemon.run_job("ingest:gdelt") == "ok"
    daemon.stop()
    assert publisher.hits[exports[0]] == 2
    assert _events_counted(tmp_path / "ew.db", "BLR-RUS") == len(BLR_RUS)


def test_a_broken_lastupdate_fails_the_run_naming_url_line_and_field(
    publisher: Publisher, tmp_path: Path
) -> None:
    publisher.files["/gdeltv2/lastupdate.txt"] = b"123 abc http://x/a.export.CSV.zip\n"
    daemon = _daemon(_config(tmp_path, _gdelt_source(publisher)))
    assert daemon.run_job("ingest:gdelt") == "failed"
    daemon.stop()
    (run,) = _runs(tmp_path)
    assert run["error"] == (
        f"FetchError: {publisher.url}/gdeltv2/lastupdate.txt: line 1: MD5: 'abc' is not an "
        "MD5 digest"
    )


def test_the_index_lines_are_read_as_gdelt_writes_them() -> None:
    text = (
        "150383 297a16b493de7cf6ca809a7cc31d0b93 "
        "http://data.gdeltproject.org/gdeltv2/20150218230000.export.CSV.zip\n"
        "318084 bb27f78ba45f69a17ea6ed7755e9f8ff "
        "http://data.gdeltproject.org/gdeltv2/20150218230000.mentions.CSV.zip\n"
        "10768507 ea8dde0beb0ba98810a92db068c0ce99 "
        "http://data.gdeltproject.org/gdeltv2/20150218230000.gkg.csv.zip\n"
    )
    found, skipped = parse_file_list(text, "lastupdate.txt")
    assert [(p.kind, p.stamp, p.size) for p in found] == [
        ("export", "20150218230000", 150383), ("mentions", "20150218230000", 318084),
        ("gkg", "20150218230000", 10768507),
    ]  # fmt: skip
    assert skipped == 0
    found, skipped = parse_file_list(text + "broken line\n", "masterfilelist.txt", strict=False)
    assert len(found) == 3 and skipped == 1


def _runs(tmp_path: Path) -> list[dict]:
    with open_store(tmp_path / "ew.db") as store:
        return store.job_runs("ingest:gdelt")


def test_a_silent_feed_turns_status_red_and_tells_operators_once(
    publisher: Publisher, tmp_path: Path
) -> None:
    _gdelt_files(publisher, tmp_path)
    _publish(publisher, 0)
    daemon = _daemon(_config(tmp_path, _gdelt_source(publisher, "expected_every_seconds = 1\n")))
    assert daemon.run_job("ingest:gdelt") == "ok"  # an export arrived
    assert _sources(tmp_path)["gdelt"]["healthy"]
    time.sleep(1.2)
    for _ in range(3):  # the publisher goes on naming the same export: silent
        assert daemon.run_job("ingest:gdelt") == "ok"
    source = _sources(tmp_path)["gdelt"]
    assert not source["healthy"] and source["problem"].startswith("silent since")
    assert source["last_success"] is not None and source["expected_every"] == 1
    daemon.run_job("flush")
    ops = [p for p in (tmp_path / "outbox").glob("*.eml")
           if b"[OPS] source gdelt is silent" in p.read_bytes()]  # fmt: skip
    assert len(ops) == 1
    # The weekly report's page 1 says so too (the export brought BLR's weekly values).
    assert daemon.run_job(REPORT) == "ok"
    daemon.stop()
    (pdf,) = (tmp_path / "reports").glob("*.pdf")
    page1 = PdfReader(pdf).pages[0].extract_text()
    since = dt.datetime.fromisoformat(source["silent_since"]).strftime("%Y-%m-%dT%H:%MZ")
    assert f"GDELT silent since {since}" in " ".join(page1.split())


def test_page_1_lines_name_each_unhealthy_source() -> None:
    sources = [
        {"name": "gdelt", "healthy": False, "silent_since": "2026-11-30T12:00:41+00:00",
         "last_outcome": "ok"},
        {"name": "ged", "healthy": True, "silent_since": None, "last_outcome": "ok"},
        {"name": "wb", "healthy": False, "silent_since": None, "last_outcome": "ok",
         "problem": "a run failed at 2026-11-30T12:00:41+00:00: FetchError: http://x/wb: "
                    "cannot fetch (HTTP 503 Service Unavailable)"},
        {"name": "new", "healthy": False, "silent_since": None, "last_outcome": None},
    ]  # fmt: skip
    assert source_lines(sources) == [
        "GDELT silent since 2026-11-30T12:00Z",
        "wb: a run failed at 2026-11-30T12:00:41+00:00: FetchError: http://x/wb: cannot fetch "
        "(HTTP 503 Service Unavailable)",
        "new has not run yet",
    ]


def test_a_feed_declares_its_cadence_and_bad_feed_settings_name_the_source(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path,
        '[sources.gdelt]\nfeed = "gdelt"\nurl = "http://127.0.0.1:9/lastupdate.txt"\n'
        '[sources.ged]\nfeed = "ucdp_candidate"\nurl = "http://127.0.0.1:9/ged.csv"\n'
        '[sources.wb]\nfeed = "worldbank"\nurl = "http://127.0.0.1:9/wb.json"\n'
        'cron = "0 3 * * *"\n',
    )
    settings = DaemonSettings.from_config(load_config(config, env={}))
    assert [settings.expected_every(n) for n in ("gdelt", "ged", "wb")] == [
        3600, 45 * 86400, 400 * 86400,
    ]  # fmt: skip
    assert settings.source_trigger("gdelt").interval.total_seconds() == 900
    for extra, message in (
        ('feed = "rss"\nurl = "http://x"\n', "feed: 'rss' is not one of gdelt"),
        (
            'feed = "gdelt"\nurl = "http://x"\ntoken_url = "http://y"\n',
            'token_url: only for feed = "acled"',
        ),
        ('feed = "gdelt"\nfolder = "in"\n', "a feed takes its url"),
        ('url = "http://x"\nmaster_url = "http://y"\ncron = "* * * * *"\n', "master_url: only"),
        ('feed = "gdelt"\nurl = "http://x"\nmaster_url = "ftp://y"\n', "master_url: only http"),
    ):
        path = _config(tmp_path, f"[sources.bad]\n{extra}")
        with pytest.raises(ConfigError, match=r"\[sources.bad\]"):
            try:
                DaemonSettings.from_config(load_config(path, env={}))
            except ConfigError as exc:
                assert message in str(exc)
                raise


def run_twice(daemon: Daemon, job: str) -> tuple[list[dict], list[int]]:
    """Run a feed's job twice (both "ok"); the events then, and each run's rows loaded."""
    assert daemon.run_job(job) == "ok"
    assert daemon.run_job(job) == "ok"
    daemon.stop()
    with open_store(daemon.config.db_path) as store:
        runs = store.job_runs(job)
        return store.events(), [r["rows_loaded"] for r in reversed(runs)]


# -- UCDP candidate events -------------------------------------------------------------

GED_HEADER = (
    "id,relid,year,active_year,code_status,type_of_violence,conflict_dset_id,conflict_new_id,"
    "conflict_name,dyad_dset_id,dyad_new_id,dyad_name,side_a_dset_id,side_a_new_id,side_a,"
    "side_b_dset_id,side_b_new_id,side_b,number_of_sources,source_article,source_office,"
    "source_date,source_headline,source_original,where_prec,where_coordinates,"
    "where_description,adm_1,adm_2,latitude,longitude,geom_wkt,priogrid_gid,country,"
    "country_id,region,event_clarity,date_prec,date_start,date_end,deaths_a,deaths_b,"
    "deaths_civilians,deaths_unknown,best,high,low,gwnoa,gwnob"
)


def _ged_row(id_: int, day: str, best: int, *, country: str = "Belarus", gw: str = "370",
             violence: str = "1") -> dict[str, str]:  # fmt: skip
    row = dict.fromkeys(GED_HEADER.split(","), "")
    row |= {
        "id": str(id_), "relid": f"BLR-{id_}", "year": day[:4], "active_year": "1",
        "code_status": "Clear", "type_of_violence": violence, "conflict_new_id": "99001",
        "conflict_name": "Belarus: Government", "dyad_new_id": "99101",
        "side_a": "Government of Belarus", "side_b": "Insurgents", "country": country,
        "country_id": gw, "region": "Europe", "date_prec": "1", "date_start": day,
        "date_end": day, "deaths_a": str(best // 2), "deaths_b": str(best - best // 2),
        "deaths_civilians": "0", "deaths_unknown": "0", "best": str(best),
        "high": str(best + 2), "low": str(best), "gwnoa": gw,
    }  # fmt: skip
    return row


def _ged_csv(rows: list[dict[str, str]]) -> bytes:
    lines = [GED_HEADER] + [",".join(r[c] for c in GED_HEADER.split(",")) for r in rows]
    return ("\n".join(lines) + "\n").encode()


GED_ROWS = [
    _ged_row(900001, "2020-03-02", 30),
    _ged_row(900002, "2020-05-11", 3),
    _ged_row(900003, "2020-08-10", 0, violence="3"),
    _ged_row(900004, "2020-08-12", 12, country="Ukraine", gw="369"),
]


def test_ucdp_candidate_csv_adds_events_once_with_dates_sides_and_fatalities(
    publisher: Publisher, tmp_path: Path
) -> None:
    publisher.files["/candidate/GEDEvent_v20_0_8.csv"] = _ged_csv(GED_ROWS)
    source = (f'[sources.ged]\nfeed = "ucdp_candidate"\n'
              f'url = "{publisher.url}/candidate/GEDEvent_v20_0_8.csv"\n')  # fmt: skip
    events, loaded = run_twice(_daemon(_config(tmp_path, source)), "ingest:ged")
    assert loaded == [4, 0]  # the same release again: nothing added
    assert [(e["date"], e["subject"], e["kind"], e["severity"]) for e in events] == [
        ("2020-03-02", "BLR", "state_based_violence", 3),
        ("2020-05-11", "BLR", "state_based_violence", 2),
        ("2020-08-10", "BLR", "one_sided_violence", 1),
        ("2020-08-12", "UKR", "state_based_violence", 2),
    ]
    first = events[0]
    assert first["title"] == "UCDP GED 900001: Government of Belarus vs Insurgents"
    assert "30 killed" in first["note"] and "side A Government of Belarus" in first["note"]
    assert first["known_from"] == "2020-04-30"  # the release after its month
    assert first["source"] == "ucdp_ged_candidate"


def test_ucdp_candidate_api_pages_are_followed_and_bad_items_named(
    publisher: Publisher, tmp_path: Path
) -> None:
    base = f"{publisher.url}/api/gedevents/20.0.8"
    items = [{k: v for k, v in r.items() if v} for r in GED_ROWS]
    items[1]["date_start"] = "2020-05-11T00:00:00"  # as the API writes dates
    bad = dict(items[2], best="many")
    pages = [items[:2], [items[3], bad]]
    for n, page in enumerate(pages, 1):
        following = f"{base}?pagesize=2&page={n + 1}" if n < len(pages) else ""
        publisher.files[f"/api/gedevents/20.0.8?pagesize=2&page={n}"] = json.dumps(
            {"TotalCount": 4, "TotalPages": 2, "PreviousPageUrl": "", "NextPageUrl": following,
             "Result": page}
        ).encode()  # fmt: skip
    source = (f'[sources.ged]\nfeed = "ucdp_candidate"\n'
              f'url = "{base}?pagesize=2&page=1"\n')  # fmt: skip
    daemon = _daemon(_config(tmp_path, source))
    assert daemon.run_job("ingest:ged") == "partial"  # a rejected item: said, not hidden
    daemon.stop()
    with open_store(tmp_path / "ew.db") as store:
        assert [e["date"] for e in store.events()] == ["2020-03-02", "2020-05-11", "2020-08-12"]
        (reject,) = store.db.query("SELECT uri, line, field, reason FROM rejects")
    assert reject == {"uri": f"{base}?pagesize=2&page=1", "line": 4, "field": "best",
                      "reason": "'many' is not a number of deaths"}  # fmt: skip


def test_the_severity_rule() -> None:
    assert [severity_of(n) for n in (0, 1, 24, 25, 400)] == ["1", "2", "2", "3", "3"]


def test_a_ucdp_candidate_file_adds_events_that_the_backtest_then_uses(
    demo_copy, publisher: Publisher, tmp_path: Path
) -> None:
    from early_warning.catalog import load_catalog
    from early_warning.config import bundled_path
    from early_warning.scoring import load_profile
    from early_warning.services import backtest

    catalog = load_catalog(bundled_path("indicators"))
    profile = load_profile(bundled_path("models"), "default", catalog)
    start, end = dt.date(2019, 6, 2), dt.date(2020, 6, 28)

    def events_seen() -> int:
        with open_store(demo_copy.db_path) as store:
            result = backtest(store, catalog, profile, "BLR", start, end, horizons=(4,),
                              step_weeks=8)  # fmt: skip
        return int(result.horizons[4]["models"]["ensemble"]["n_events"])

    before = events_seen()
    rows = [_ged_row(910000 + i, f"2019-{m:02d}-15", 40) for i, m in enumerate((8, 10, 12))]
    publisher.files["/ged.csv"] = _ged_csv(rows)
    config = _config(tmp_path, f'[sources.ged]\nfeed = "ucdp_candidate"\n'
                               f'url = "{publisher.url}/ged.csv"\n')  # fmt: skip
    config.write_text(config.read_text().replace('"ew.db"', f'"{demo_copy.db_path}"'))
    daemon = _daemon(config)
    assert daemon.run_job("ingest:ged") == "ok"
    daemon.stop()
    assert events_seen() > before


# -- the World Bank ----------------------------------------------------------------------


def test_a_world_bank_feed_loads_a_release_once(wb_server: str, tmp_path: Path) -> None:  # noqa: F811
    url = f"{wb_server}/v2/country/BLR/indicator/NY.GDP.MKTP.CD?format=json&per_page=2"
    daemon = _daemon(_config(tmp_path, f'[sources.wdi]\nfeed = "worldbank"\nurl = "{url}"\n'))
    assert daemon.run_job("ingest:wdi") == "ok"
    assert daemon.run_job("ingest:wdi") == "ok"  # the same release: nothing new
    daemon.stop()
    with open_store(tmp_path / "ew.db") as store:
        runs = store.job_runs("ingest:wdi")
    assert [r["rows_loaded"] for r in reversed(runs)] == [3, 0]  # 2020 is null
    assert "already ingested" in runs[0]["detail"]
    assert _sources(tmp_path)["wdi"]["expected_every"] == 400 * 86400
