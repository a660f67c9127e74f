"""The download seam (ingest/fetch.py) with fake fetchers: URL ingest with no server.

The fetchers here are plain classes that write bytes or raise; the real urllib fetcher
is tested against local HTTP servers in test_ingest.py, test_ingest_hardening.py and
test_importers.py.
"""

from __future__ import annotations

import http.server
import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from early_warning import FetchError, FixedClock, IngestError, Limits, Store, ingest
from early_warning.catalog import Catalog
from early_warning.ingest.fetch import USER_AGENT, Sink, UrlFetcher, download, fetch_bytes

from .conftest import HEADER
from .test_importers import _wb_record, values

URL = "http://feeds.invalid/obs.csv"
ROWS = (
    "support_share,2015,10,BLR,testpub2019,Economy section,2019-12-31,B,2,% of GDP,",
    "support_share,2017,lots,,,,,,,,",
)
CSV = ("\n".join([HEADER, *ROWS]) + "\n").encode()


class Served:
    """Answers each URL with its bytes (in chunks) and content type, or raises."""

    def __init__(self, answers: dict[str, bytes | BaseException], content_type: str = "") -> None:
        self.answers, self.content_type = answers, content_type
        self.asked: list[str] = []
        self.written = 0

    def fetch(self, url: str, out: Sink, limits: Limits) -> str:
        self.asked.append(url)
        answer = self.answers[url]
        if isinstance(answer, BaseException):
            raise answer
        for start in range(0, len(answer), 64):
            out.write(answer[start : start + 64])
            self.written += len(answer[start : start + 64])
        return self.content_type


def test_a_url_is_ingested_through_the_fetcher_given(store: Store, catalog: Catalog) -> None:
    fetcher = Served({URL: CSV})
    result = ingest(store, catalog, URL, fetcher=fetcher)
    assert fetcher.asked == [URL]
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert store.rejects(run_id=result.run_id)[0]["uri"] == URL  # named by its URL
    assert ingest(store, catalog, URL, fetcher=fetcher).status == "duplicate"


def test_the_content_type_names_the_format_of_a_url_without_a_suffix(
    store: Store, catalog: Catalog
) -> None:
    url = "http://feeds.invalid/api/latest"
    body = json.dumps([{"indicator": "troops", "date": "2021", "value": 3}]).encode()
    result = ingest(store, catalog, url, fetcher=Served({url: body}, "application/json"))
    assert (result.format, result.rows_loaded) == ("json", 1)


def test_the_byte_limit_holds_whatever_the_fetcher(store: Store, catalog: Catalog) -> None:
    fetcher = Served({URL: CSV})
    with pytest.raises(IngestError) as caught:
        ingest(store, catalog, URL, limits=Limits(max_file_bytes=100), fetcher=fetcher)
    assert str(caught.value) == f"{URL}: more than 100 bytes (ingest.max_file_bytes)"
    assert fetcher.written <= 100  # stopped at the chunk that went over, not at the end
    run = store.runs(limit=1)[0]
    assert (run["status"], run["uri"]) == ("refused", URL)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (ConnectionResetError("reset by\npeer"), "ConnectionResetError: reset by peer"),
        (TimeoutError(), "no answer within the read timeout (ingest.http_timeout_seconds)"),
        (RuntimeError(), "RuntimeError"),
    ],
)
def test_a_failing_fetcher_is_one_line_naming_the_url(
    store: Store, catalog: Catalog, failure: BaseException, reason: str
) -> None:
    with pytest.raises(IngestError) as caught:
        ingest(store, catalog, URL, fetcher=Served({URL: failure}))
    assert str(caught.value) == f"{URL}: cannot fetch ({reason})"
    assert store.runs(limit=1)[0]["message"] == str(caught.value)
    assert store.count("observations") == 0


def test_a_fetcher_s_own_words_are_kept(store: Store, catalog: Catalog) -> None:
    words = f"{URL}: the feed says it is down for maintenance"
    with pytest.raises(IngestError) as caught:
        ingest(store, catalog, URL, fetcher=Served({URL: FetchError(words)}))
    assert str(caught.value) == words


def test_world_bank_pages_come_through_the_same_fetcher(
    tmp_path: Path, real_catalog: Catalog
) -> None:
    url = "http://api.invalid/v2/country/BLR/indicator/NY.GDP.MKTP.CD?format=json&per_page=1"
    meta = {"per_page": 1, "total": 2, "lastupdated": "2024-06-28"}
    pages = {
        url: [{"page": 1, "pages": 2, **meta}, [_wb_record("BLR", 2023, 71857382746.6)]],
        f"{url}&page=2": [{"page": 2, "pages": 2, **meta}, [_wb_record("BLR", 2022, 7.2e10)]],
    }
    fetcher = Served({u: json.dumps(p).encode() for u, p in pages.items()})
    with Store(tmp_path / "real.db", clock=FixedClock("2024-06-01T12:00:00")) as store:
        store.sync_catalog(real_catalog)  # the real catalog has the World Bank mapping
        result = ingest(store, real_catalog, url, fetcher=fetcher)
        assert values(store, "gdp_usd_bn") == {
            "2022": pytest.approx(72.0),
            "2023": pytest.approx(71.8573827466),
        }
    assert fetcher.asked == list(pages)
    assert result.format == "worldbank"


def test_download_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with download(URL, Limits(), Served({URL: CSV}, "text/csv")) as (path, content_type):
        assert (path.read_bytes(), path.suffix, content_type) == (CSV, ".csv", "text/csv")
    with pytest.raises(FetchError), download(URL, Limits(max_file_bytes=10), Served({URL: CSV})):
        pass  # pragma: no cover - refused before the body runs
    assert list(tmp_path.iterdir()) == []


def test_fetch_bytes_holds_a_small_answer_within_the_limit() -> None:
    assert fetch_bytes(URL, Limits(), Served({URL: CSV})) == CSV
    with pytest.raises(FetchError, match=r"more than 10 bytes \(ingest.max_file_bytes\)$"):
        fetch_bytes(URL, Limits(max_file_bytes=10), Served({URL: CSV}))


# -- the real fetcher's own part --------------------------------------------------------


class _Echo(http.server.BaseHTTPRequestHandler):
    agents: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).agents.append(self.headers.get("User-Agent", ""))
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(CSV)))
        self.end_headers()
        self.wfile.write(CSV)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/obs.csv"
    server.shutdown()
    server.server_close()


def test_the_url_fetcher_names_itself_and_reports_the_content_type(echo_url: str) -> None:
    _Echo.agents = []
    with download(echo_url, Limits(), UrlFetcher()) as (path, content_type):
        assert (path.read_bytes(), content_type) == (CSV, "text/csv")
    assert fetch_bytes(echo_url, Limits(), UrlFetcher("early-warning/test")) == CSV
    assert _Echo.agents == [USER_AGENT, "early-warning/test"]
