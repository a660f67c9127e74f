"""Live feeds: publications that arrive by themselves (`[sources.NAME] feed = ...`).

Every download goes through the `Fetcher` seam (`fetch.py`), so a test replays the
publishers' files from a local server or a fake; every file goes through `ingest`,
with its validation, rejects, runs and duplicate checks.

  gdelt           `url` is GDELT 2.0's `lastupdate.txt`: three lines `SIZE MD5 URL`
                  (the export, mentions and gkg zips of the last 15 minutes). Each new
                  export zip is fetched once, its size and MD5 checked against the
                  line, and ingested (the weekly dyad indicators, `gdelt_record.py`);
                  mentions and gkg are not read. What was fetched is kept in the store
                  (`feed_items`), so a restart fetches nothing twice. With
                  `master_url` (`masterfilelist.txt`, the same line format), the
                  exports missed since the newest one fetched are caught up, oldest
                  first, at most CATCH_UP per run; without it, each export named by
                  `lastupdate.txt` while the daemon ran is fetched once. The first run
                  starts at the current export (no backfill: `ingest` a folder for that).
                  A file that fails (a wrong MD5, a cut download) is tried again on the
                  next runs, five times at most.
  ucdp_candidate  `url` is UCDP's candidate GED, a CSV or its JSON API (the pages
                  followed by `NextPageUrl` and joined): the events go into `events`
                  (`ucdp_ged.py`); the same release again adds nothing.
  worldbank       `url` is a World Bank API or WDI CSV URL (`worldbank.py`); a release
                  with no new values adds nothing.
  acled           `url` is ACLED's `/api/acled/read` with the query wanted (countries,
                  dates): an OAuth token is asked of `token_url` for the account in the
                  environment (`config.Credentials`: a POST of grant_type=password,
                  client_id=acled, username, password), then the pages (`page=1, 2,
                  ...` until one comes back short) are fetched with it as a Bearer
                  header and joined; the events go into `events` (`acled.py`); the same
                  answer again adds nothing. The account is in no URL, message or row.

`run_feed` returns what arrived: a feed is healthy while publications keep arriving
(GDELT: new exports, whether or not they hold the dyads; UCDP and the World Bank: new
rows), and silent after its kind's expected interval (`config.FEEDS`) without any.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..config import FEEDS
from ..errors import FetchError, IngestError
from ..store import Store
from .fetch import Fetcher, Sink, UrlFetcher, download, fetch_bytes
from .results import IngestResult, Limits

__all__ = ["CATCH_UP", "FEEDS", "FeedOutcome", "IngestOne", "Publication", "parse_file_list",
           "poll_feed"]  # fmt: skip

# `ingest.ingest`, passed in by the package (this module is one of its parts).
IngestOne = Callable[..., IngestResult]

CATCH_UP = 96  # exports fetched per run at most when catching up: one day of GDELT
_MAX_PAGES = 1000
_NAME = re.compile(r"(\d{14})\.(export|mentions|gkg)\.csv\.zip", re.IGNORECASE)


@dataclass
class FeedOutcome:
    """One run of a feed: how many publications arrived, rows loaded, files failed."""

    arrived: int = 0
    rows_loaded: int = 0
    failed: int = 0
    parts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Publication:
    """A line of GDELT's lastupdate.txt or masterfilelist.txt."""

    size: int
    md5: str
    url: str
    stamp: str  # YYYYMMDDHHMMSS, from the file name
    kind: str  # export | mentions | gkg


def poll_feed(
    store: Store,
    catalog: Catalog,
    name: str,
    spec: dict[str, Any],
    *,
    ingest: IngestOne,
    limits: Limits,
    fetcher: Fetcher | None = None,
    default_subject: str = "BLR",
) -> FeedOutcome:
    """Fetch what is new at the feed `spec["feed"]` and ingest it. An index or an API
    page that cannot be fetched raises FetchError (the run fails); a file that
    cannot be ingested is counted in `failed` and named in `parts` (the run goes on)."""
    kind = spec["feed"]
    if kind not in FEEDS:
        raise IngestError(f"[sources.{name}] feed: {kind!r} is not a known feed")
    run = _Run(store, catalog, limits, fetcher or UrlFetcher(), default_subject, ingest)
    if kind == "gdelt":
        return _gdelt(run, name, spec)
    if kind == "ucdp_candidate":
        return _ucdp(run, spec["url"])
    if kind == "acled":
        return _acled(run, spec)
    return _one(run, spec["url"], None)


@dataclass(frozen=True)
class _Run:
    store: Store
    catalog: Catalog
    limits: Limits
    fetcher: Fetcher
    subject: str
    ingest: IngestOne

    def read(
        self, source: str, fmt: str | None, *, uri: str | None = None,
        fetcher: Fetcher | None = None,
    ) -> IngestResult:  # fmt: skip
        return self.ingest(self.store, self.catalog, source, limits=self.limits, fmt=fmt,
                           fetcher=fetcher or self.fetcher, uri=uri,
                           default_subject=self.subject)  # fmt: skip


# -- GDELT 2.0 -------------------------------------------------------------------------


def parse_file_list(text: str, url: str, *, strict: bool = True) -> tuple[list[Publication], int]:
    """The lines `SIZE MD5 URL` of lastupdate.txt or masterfilelist.txt, and how many
    were skipped. `strict` (lastupdate.txt, three lines): a bad line is an error naming
    the URL, the line and the field; otherwise (the master list, years of lines, some
    known to be broken) it is skipped and counted."""
    found, skipped = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        problem, publication = _publication(line)
        if problem:
            if strict:
                raise FetchError(f"{url}: line {number}: {problem}")
            skipped += 1
            continue
        assert publication is not None
        found.append(publication)
    if strict and not found:
        raise FetchError(f"{url}: no line 'SIZE MD5 URL' (not GDELT's lastupdate.txt?)")
    return found, skipped


def _publication(line: str) -> tuple[str | None, Publication | None]:
    parts = line.split()
    if len(parts) != 3:
        return f"expected 'SIZE MD5 URL', got {len(parts)} field(s)", None
    size, md5, url = parts
    if not size.isdigit():
        return f"SIZE: {size[:20]!r} is not a number of bytes", None
    if not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        return f"MD5: {md5[:40]!r} is not an MD5 digest", None
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return f"URL: {url[:80]!r} is not an http(s) URL", None
    match = _NAME.search(urllib.parse.urlsplit(url).path)
    if not match:
        return f"URL: {url[:80]!r} is not a GDELT 2.0 file (STAMP.export.CSV.zip)", None
    return None, Publication(int(size), md5.lower(), url, match[1], match[2].lower())


def _gdelt(run: _Run, name: str, spec: dict[str, Any]) -> FeedOutcome:
    store, limits, fetcher = run.store, run.limits, run.fetcher
    outcome = FeedOutcome()
    text = fetch_bytes(spec["url"], limits, fetcher).decode("utf-8", "replace")
    latest = [p for p in parse_file_list(text, spec["url"])[0] if p.kind == "export"]
    wanted = {p.url: p for p in latest}
    last = store.last_feed_stamp(name)
    if spec.get("master_url") and last is not None:
        master = fetch_bytes(spec["master_url"], limits, fetcher).decode("utf-8", "replace")
        listed, skipped = parse_file_list(master, spec["master_url"], strict=False)
        newest = max((p.stamp for p in latest), default="")
        for p in listed:
            if p.kind == "export" and last < p.stamp <= newest:
                wanted.setdefault(p.url, p)
        if skipped:
            outcome.parts.append(f"master list: {skipped:,} unreadable line(s) skipped")
    for row in store.failed_feed_items(name):
        if row["item"] not in wanted:  # tried again: a failure is not forgotten
            wanted[row["item"]] = Publication(
                row["size"], row["md5"], row["item"], row["stamp"], "export"
            )
    todo = [p for p in sorted(wanted.values(), key=lambda p: (p.stamp, p.url))
            if not store.feed_item_done(name, p.url)]  # fmt: skip
    if len(todo) > CATCH_UP:
        outcome.parts.append(f"{len(todo) - CATCH_UP:,} export(s) left for the next runs")
        todo = todo[:CATCH_UP]
    for p in todo:
        try:
            result = run.read(p.url, "gdelt", fetcher=_Checked(fetcher, p))
        except IngestError as exc:
            state = store.record_feed_item(name, p.url, stamp=p.stamp, md5=p.md5, size=p.size,
                                           run_id=None, ok=False, detail=str(exc))  # fmt: skip
            outcome.failed += 1
            again = "given up" if state == "given up" else "tried again next run"
            outcome.parts.append(f"{exc} ({again})")
            continue
        store.record_feed_item(name, p.url, stamp=p.stamp, md5=p.md5, size=p.size,
                               run_id=result.run_id, ok=True, detail=result.summary())  # fmt: skip
        outcome.arrived += 1
        outcome.rows_loaded += result.rows_loaded
        outcome.failed += bool(result.rows_rejected)
        outcome.parts.append(result.summary())
    return outcome


class _Checked:
    """A fetcher that checks the body's size and MD5 against the index line."""

    def __init__(self, inner: Fetcher, publication: Publication) -> None:
        self.inner, self.publication = inner, publication

    def fetch(self, url: str, out: Sink, limits: Limits) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        counted = _Counted(out, digest)
        content_type = self.inner.fetch(url, counted, limits)
        want = self.publication
        if counted.size != want.size:
            raise FetchError(
                f"{url}: {counted.size:,} bytes, but the GDELT index gave {want.size:,}"
            )
        if digest.hexdigest() != want.md5:
            raise FetchError(
                f"{url}: MD5 {digest.hexdigest()}, but the GDELT index gave {want.md5}"
            )
        return content_type


class _Counted:
    def __init__(self, out: Sink, digest: Any) -> None:
        self.out, self.digest, self.size = out, digest, 0

    def write(self, data: bytes, /) -> int:
        self.size += len(data)
        self.digest.update(data)
        return self.out.write(data)


# -- UCDP candidate GED and the World Bank ---------------------------------------------


def _ucdp(run: _Run, url: str) -> FeedOutcome:
    """A CSV is ingested as it is; a JSON API answer has its pages joined first."""
    with download(url, run.limits, run.fetcher) as (path, _type):
        with path.open("rb") as handle:
            head = handle.read(64).lstrip(b"\xef\xbb\xbf").lstrip()
        if not head.startswith(b"{"):
            return _one(run, url, "ucdp-ged", path)
        items = _api_pages(path, url, run.limits, run.fetcher)
    with tempfile.TemporaryDirectory(prefix="early-warning-ucdp-") as folder:
        joined = Path(folder) / "ucdp-api.json"
        joined.write_text(json.dumps({"Result": items}, ensure_ascii=False), encoding="utf-8")
        return _one(run, url, "ucdp-ged", joined)


def _api_pages(path: Path, url: str, limits: Limits, fetcher: Fetcher) -> list[Any]:
    """Every page's `Result`, following `NextPageUrl` (the API's own paging)."""
    items: list[Any] = []
    seen = {url}
    body, where = path.read_bytes(), url
    for _page in range(_MAX_PAGES):
        try:
            page = json.loads(body.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise FetchError(f"{where}: not a UCDP API answer (invalid JSON: {exc})") from None
        if not isinstance(page, dict) or not isinstance(page.get("Result"), list):
            raise FetchError(f"{where}: not a UCDP API answer (no 'Result' list)")
        items += page["Result"]
        following = page.get("NextPageUrl") or ""
        if not following:
            return items
        if not isinstance(following, str) or urllib.parse.urlsplit(following).scheme not in (
            "http",
            "https",
        ):
            raise FetchError(f"{where}: NextPageUrl {str(following)[:80]!r} is not an http(s) URL")
        if following in seen:
            raise FetchError(f"{where}: NextPageUrl points back to a page already read")
        seen.add(following)
        body, where = fetch_bytes(following, limits, fetcher), following
    raise FetchError(f"{url}: more than {_MAX_PAGES:,} pages")


def _one(run: _Run, url: str, fmt: str | None, path: Path | None = None) -> FeedOutcome:
    """One file or URL ingested; what arrived is the rows it loaded."""
    outcome = FeedOutcome()
    try:
        result = run.read(str(path or url), fmt, uri=url)
    except IngestError as exc:
        outcome.failed, outcome.parts = 1, [str(exc)]
        return outcome
    outcome.arrived = outcome.rows_loaded = result.rows_loaded
    outcome.failed = int(bool(result.rows_rejected))
    outcome.parts.append(result.summary())
    return outcome


# -- ACLED -----------------------------------------------------------------------------

_ACLED_PAGE_ROWS = 5000  # ACLED's own default page size


def _acled(run: _Run, spec: dict[str, Any]) -> FeedOutcome:
    url = spec["url"]
    token = _acled_token(spec, run)
    authorized = _with(run.fetcher, headers={"Authorization": f"Bearer {token}"})
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    rows = int(query["limit"][0]) if query.get("limit", [""])[0].isdigit() else _ACLED_PAGE_ROWS
    items: list[Any] = []
    for page in range(1, _MAX_PAGES + 1):
        where = _with_query(url, limit=str(rows), page=str(page))
        data = _acled_page(fetch_bytes(where, run.limits, authorized), where)
        items += data
        if len(data) < rows:
            break
    else:
        raise FetchError(f"{url}: more than {_MAX_PAGES:,} pages")
    with tempfile.TemporaryDirectory(prefix="early-warning-acled-") as folder:
        joined = Path(folder) / "acled-api.json"
        joined.write_text(json.dumps({"data": items}, ensure_ascii=False), encoding="utf-8")
        return _one(run, url, "acled", joined)


def _acled_token(spec: dict[str, Any], run: _Run) -> str:
    """An access token for the account (ACLED's OAuth password grant)."""
    account = spec["credentials"]
    form = {"username": account.user, "password": account.secret,
            "grant_type": "password", "client_id": "acled"}  # fmt: skip
    body = fetch_bytes(spec["token_url"], run.limits, _with(run.fetcher, form=form))
    try:
        token = json.loads(body.decode("utf-8")).get("access_token")
    except (ValueError, UnicodeDecodeError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise FetchError(
            f"{spec['token_url']}: no access_token in the answer (is the account in "
            f"{' and '.join(account.names)} right, and has it API access?)"
        )
    return token


def _acled_page(body: bytes, where: str) -> list[Any]:
    try:
        page = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"{where}: not an ACLED API answer (invalid JSON: {exc})") from None
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        said = page.get("error") or page.get("message") if isinstance(page, dict) else None
        reason = f": {' '.join(str(said).split())[:200]}" if said else " (no 'data' list)"
        raise FetchError(f"{where}: not an ACLED API answer{reason}")
    return page["data"]


def _with(fetcher: Fetcher, **options: Any) -> Fetcher:
    """The network fetcher with headers or a form: a feed's credentials go to the
    server as HTTP, never into a URL (which runs, errors and logs name)."""
    if not isinstance(fetcher, UrlFetcher):
        raise FetchError("the ACLED feed sends its account as HTTP: it needs the URL fetcher")
    return UrlFetcher(fetcher.user_agent, **{"headers": fetcher.headers, **options})


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]  # fmt: skip
    return urllib.parse.urlunsplit(
        parts._replace(query=urllib.parse.urlencode([*query, *params.items()], safe="|:"))
    )
