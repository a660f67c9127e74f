"""Ingestion: files, URLs and single observations into the store.

`ingest(store, catalog, source)` takes a path or an http(s) URL. The whole input is
read inside one transaction: either every valid row and every reject lands, with the
run recorded, or (if the file turns out to be unusable half way, say undecodable at
line 90,000) nothing does, and the refusal is logged. Identical content ingested again
adds nothing: the file's SHA-256 is looked up first, and each row's content hash is
unique in the table.

`observe(store, catalog, ...)` records one observation typed on the command line or in
a form, through exactly the same validation.
"""

from __future__ import annotations

import codecs
import hashlib
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import CatalogError, FetchError, IngestError, InputError
from ..store import EVENT_RECORDED_AT, EVENT_RUN_ID, MAX_REJECT_RAW, Store
from ..store import OBSERVATION_FLAGS as FLAGS
from ..store import OBSERVATION_RECORDED_AT as RECORDED_AT
from ..store import OBSERVATION_RUN_ID as RUN_ID
from .archive import check_zip, zip_kind
from .country_years import RECORDED_AT as CY_RECORDED_AT
from .country_years import RUN_ID as CY_RUN_ID
from .country_years import CountryYearRules, read_country_years
from .derived import derive
from .feeds import FeedOutcome, poll_feed
from .fetch import Fetcher, UrlFetcher, download
from .gdelt import looks_like_gdelt, looks_like_gdelt_zip
from .gdelt_record import Aggregator, ingest_gdelt
from .published import EVENT_FORMATS, PUBLISHED_FORMATS, read_published, sniff_published
from .readers import FORMATS, Table, detect_format, raw_csv_text, read_table
from .results import IngestResult, Limits, RejectInfo, describe_exception, duplicate_result
from .validate import (
    OBSERVATION_COLUMNS,
    EventRules,
    ObservationRules,
    Problem,
    formula_like,
)
from .worldbank import fetch_remaining_pages

__all__ = [
    "ALL_FORMATS",
    "Aggregator",
    "FeedOutcome",
    "Fetcher",
    "IngestResult",
    "Limits",
    "RejectInfo",
    "UrlFetcher",
    "derive",
    "expand_sources",
    "finish_pending_derivations",
    "ingest",
    "observe",
    "run_feed",
]

_REJECT_SAMPLE = 20


def ingest(
    store: Store,
    catalog: Catalog,
    source: str | Path,
    *,
    default_subject: str = "BLR",
    limits: Limits | None = None,
    fmt: str | None = None,
    progress: bool | None = None,
    fetcher: Fetcher | None = None,
    country_years: bool = False,
    uri: str | None = None,
    aggregator: Aggregator | None = None,
) -> IngestResult:
    """Ingest one file or http(s) URL; raise IngestError if it is refused as a whole.

    `uri` names a local file in the run and its messages (a feed's temporary file by
    the URL it came from; default: the path).

    `country_years`: a World Bank or SIPRI file goes into `country_years` for every
    country (the structural model's inputs, `country_years.py`), not into observations.

    `fmt` is one of ALL_FORMATS (default: from the content and the name). `progress`
    shows a progress bar on stderr for long event-data files (default: if a terminal).
    `fetcher` downloads a URL (default: `fetch.UrlFetcher`, urllib within `limits`).
    `aggregator` has a local GDELT export's aggregate computed ahead (on a Dask
    cluster: `gdelt_scale.dask_aggregator`); the rows recorded are the same.
    """
    limits = limits or Limits()
    text = str(source)
    finish_pending_derivations(store, catalog)
    if urllib.parse.urlsplit(text).scheme in ("http", "https"):
        try:
            with download(text, limits, fetcher) as (path, content_type):
                fetch_remaining_pages(path, text, limits, fetcher)
                hint = _format_hint(text, content_type)
                result = _ingest_path(
                    store, catalog, path, text, default_subject, limits, fmt, hint, progress,
                    country_years,
                )  # fmt: skip
        except FetchError as exc:
            store.record_refused_run(text, str(exc))
            raise IngestError(str(exc)) from None
    elif "://" in text:
        raise IngestError(f"{text}: only files and http(s) URLs can be ingested")
    else:
        result = _ingest_path(
            store, catalog, Path(text), uri or text, default_subject, limits, fmt, None,
            progress, country_years, aggregator,
        )  # fmt: skip
    _derive_after(store, catalog, result)
    return result


def run_feed(
    store: Store,
    catalog: Catalog,
    name: str,
    spec: dict[str, Any],
    *,
    limits: Limits | None = None,
    fetcher: Fetcher | None = None,
    default_subject: str = "BLR",
) -> FeedOutcome:
    """One poll of the live feed `[sources.NAME]` (`feeds.py`): fetch what is new and
    ingest it, each file through `ingest`. An index or API page that cannot be fetched
    raises FetchError; a file refused is counted in the outcome, and the poll goes on."""
    return poll_feed(store, catalog, name, spec, ingest=ingest, limits=limits or Limits(),
                     fetcher=fetcher, default_subject=default_subject)  # fmt: skip


def _derive_after(store: Store, catalog: Catalog, result: IngestResult) -> None:
    """Recompute the derived indicators whose inputs this run may have changed."""
    if result.rows_loaded and result.run_id is not None:
        derived = _derive_for_runs(store, catalog, [result.run_id])
        result.derived, result.derived_rejected = derived.loaded, derived.rejected


def finish_pending_derivations(store: Store, catalog: Catalog) -> int:
    """Derive what runs committed before a crash left undone; return how many runs.

    Each run that loads rows is marked in its own transaction; the mark is cleared
    when its derivation commits. A process killed in between leaves the mark, so the
    derived values are not lost: the next ingest (or `ingest` of the same file, which
    is otherwise "already ingested") finishes them.
    """
    pending = store.pending_derivations()
    if pending:
        _derive_for_runs(store, catalog, pending)
    return len(pending)


def _derive_for_runs(store: Store, catalog: Catalog, run_ids: list[int]) -> Any:
    derived = derive(store, catalog, only_if=store.indicators_of_runs(run_ids))
    store.clear_derivations(run_ids)
    return derived


def _ingest_path(
    store: Store,
    catalog: Catalog,
    path: Path,
    uri: str,
    default_subject: str,
    limits: Limits,
    fmt: str | None,
    hint: str | None = None,
    progress: bool | None = None,
    country_years: bool = False,
    aggregator: Aggregator | None = None,
) -> IngestResult:
    """One file is one unit of failure: whatever goes wrong while reading it (a damaged
    zip, a number too long to convert, a bug met by a hostile file) refuses this file
    alone, with a refused run recorded and one line raised as IngestError. Only the
    database's own errors (locked, full) pass through: they are not the file's fault,
    and the file should be tried again."""
    sha256, size = "", 0
    try:
        size = _check_size(path, uri, limits)
        fmt = _detect_format(path, fmt, hint, limits)
        if fmt == "gdelt":
            return ingest_gdelt(
                store,
                catalog,
                path,
                uri=uri,
                size=size,
                progress=progress,
                limits=limits,
                aggregator=aggregator,
            )
        if fmt in ("xlsx", "sipri"):
            check_zip(path, **limits.zip_limits())
        text_formats = ("csv", "json", "ndjson", "worldbank", "gdelt-edges", *EVENT_FORMATS)
        sha256 = _hash_and_check_text(path, text=fmt in text_formats)
        return _read_and_load(
            store, catalog, path, uri, fmt, sha256, size, default_subject, limits,
            country_years and fmt not in EVENT_FORMATS,
        )  # fmt: skip
    except CatalogError as exc:  # a mapping the published layout needs is missing or wrong
        message = f"{uri}: read as {fmt}, but {exc}"
    except IngestError as exc:
        message = str(exc).replace(str(path), uri)  # a download is named by its URL
    except sqlite3.Error:
        raise
    except Exception as exc:  # the file's failure, not ours (RecursionError included)
        message = f"{uri}: cannot be read ({describe_exception(exc)})"
    store.record_refused_run(uri, message, sha256, size)
    raise IngestError(message) from None


def _read_and_load(
    store: Store,
    catalog: Catalog,
    path: Path,
    uri: str,
    fmt: str,
    sha256: str,
    size: int,
    default_subject: str,
    limits: Limits,
    country_years: bool = False,
) -> IngestResult:
    if country_years:
        table = read_country_years(path, fmt, catalog, store.today(), store.country_year_known)
    elif fmt in PUBLISHED_FORMATS:
        table = read_published(path, fmt, catalog, store.today(), store.known_values)
    else:
        table = read_table(path, fmt, limits)
    context = f"subject={default_subject};catalog={catalog.version}"
    if table.mapping_digest:
        context += f";mapping={table.mapping_digest}"
    if country_years:
        context += ";country_years"
    try:
        return _ingest_table(
            store, catalog, table, uri, fmt, sha256, size, default_subject, limits, context
        )
    finally:
        table.close()


def _ingest_table(
    store: Store,
    catalog: Catalog,
    table: Table,
    uri: str,
    fmt: str,
    sha256: str,
    size: int,
    default_subject: str,
    limits: Limits,
    context: str,
) -> IngestResult:
    earlier = store.completed_run_for(sha256, table.kind, context)
    if earlier is not None:
        return duplicate_result(uri, table.kind, fmt, earlier)
    started = time.perf_counter()
    with store.bulk_load(), store.transaction():
        run_id = store.begin_run(uri, table.kind, fmt, sha256, size, context)
        result = _load(store, catalog, table, uri, run_id, default_subject, limits, size)
        result.format = fmt
        result.seconds = round(time.perf_counter() - started, 3)
        store.finish_run(
            run_id,
            status=result.status,
            rows_read=result.rows_read,
            rows_loaded=result.rows_loaded,
            rows_unchanged=result.rows_unchanged,
            rows_rejected=result.rows_rejected,
            message=result.summary(),
            duration_seconds=result.seconds,
        )
        if result.rows_loaded:
            store.mark_derivation_pending(run_id)
    return result


ALL_FORMATS = (*FORMATS, *PUBLISHED_FORMATS, "gdelt")


def expand_sources(sources: Iterable[str]) -> list[str]:
    """Each folder becomes its files (sorted, hidden ones left out); the rest stay as given.

    A folder of event exports is then ingested file by file, each in its own
    transaction, so an interrupted backfill resumes where it stopped.
    """
    out: list[str] = []
    for source in sources:
        path = Path(source)
        if "://" not in source and path.is_dir():
            out += [
                str(p) for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")
            ]
        else:
            out.append(source)
    return out


def _detect_format(
    path: Path, declared: str | None, hint: str | None = None, limits: Limits | None = None
) -> str:
    """The declared format, else a published layout or GDELT by content, else the hint
    (a download's content type), else by suffix and first bytes."""
    if declared:
        if declared not in ALL_FORMATS:
            raise IngestError(f"{path}: unknown format {declared!r} (use {', '.join(ALL_FORMATS)})")
        return declared
    with path.open("rb") as handle:
        head = handle.read(4096)
    if looks_like_gdelt(path, head):
        return "gdelt"
    if head.startswith(b"PK\x03\x04") and zip_kind(path) != "xlsx":
        # A zip that is not a workbook: a GDELT export under another name, or nothing
        # this reads. Judged by the member's first line, inflated within the limits.
        if looks_like_gdelt_zip(path, (limits or Limits()).zip_limits()):
            return "gdelt"
        raise IngestError(
            f"{path}: a zip archive that is neither an XLSX workbook nor a GDELT export"
        )
    return sniff_published(path, head) or detect_format(path, hint)


def _check_size(path: Path, uri: str, limits: Limits) -> int:
    """Refuse a missing, unreadable, empty or oversized file; return its size."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IngestError(f"{uri}: not a file")
    except FileNotFoundError:
        raise IngestError(f"{uri}: file not found") from None
    except OSError as exc:
        raise IngestError(f"{uri}: cannot read ({exc.strerror})") from None
    if size > limits.max_file_bytes:
        raise IngestError(
            f"{uri}: {size:,} bytes is over the limit of {limits.max_file_bytes:,} "
            "(ingest.max_file_bytes)"
        )
    if size == 0:
        raise IngestError(f"{uri}: the file is empty; expected a header row")
    return size


def _hash_and_check_text(path: Path, *, text: bool) -> str:
    """SHA-256 of the file; for text formats also check it is UTF-8, naming the bad line.

    Checking here, before anything is parsed, is what lets the message give the exact
    line of the first bad byte (the CSV reader decodes in blocks and cannot).
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    newlines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            if not text:
                continue
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = newlines + exc.object[: exc.start].count(b"\n") + 1
                bad = exc.object[exc.start : exc.start + 1].hex()
                raise IngestError(
                    f"{path}: line {line}: not UTF-8 text (byte 0x{bad}); save the file as UTF-8"
                ) from None
            newlines += chunk.count(b"\n")
        if text:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise IngestError(
                    f"{path}: line {newlines + 1}: not UTF-8 text (cut short)"
                ) from None
    return digest.hexdigest()


def _load(
    store: Store,
    catalog: Catalog,
    table: Table,
    uri: str,
    run_id: int,
    default_subject: str,
    limits: Limits,
    size: int = 0,
) -> IngestResult:
    recorded_at = store.now()
    raw_kept = _RawBudget(size)
    args = (default_subject, store.source_id, store.today(), limits.max_field_chars)
    if table.kind == "observations":
        rules: ObservationRules | EventRules | CountryYearRules = ObservationRules(catalog, *args)
        insert, at_recorded, at_run = store.insert_observations, RECORDED_AT, RUN_ID
    elif table.kind == "country_years":
        rules = CountryYearRules()
        insert, at_recorded, at_run = store.insert_country_years, CY_RECORDED_AT, CY_RUN_ID
    else:
        rules = EventRules(*args)
        insert, at_recorded, at_run = store.insert_events, EVENT_RECORDED_AT, EVENT_RUN_ID
    check = rules.check
    result = IngestResult(uri, "ok", table.kind, run_id=run_id)
    batch: list[list[Any]] = []
    # Rejects go to the store batch by batch: a file of bad rows costs disk, not memory.
    rejects: list[tuple[Any, ...]] = []
    read = loaded = flagged = announced = rejected = 0
    batch_rows = limits.batch_rows
    for line, fields, raw in table.records:
        read += 1
        outcome = fields if isinstance(fields, Problem) else check(fields, line)
        if isinstance(outcome, Problem):
            if raw is None:
                raw = raw_csv_text(fields) if not isinstance(fields, Problem) else ""
            raw = raw_kept.take(raw)
            # In store.REJECT_COLUMNS order.
            rejects.append((run_id, uri, line, outcome.field, outcome.reason, raw, recorded_at))
            rejected += 1
            if len(result.rejects) < _REJECT_SAMPLE:
                result.rejects.append(RejectInfo(line, outcome.field, outcome.reason))
            if len(rejects) >= batch_rows or raw_kept.pending > _REJECT_BATCH_CHARS:
                store.insert_rejects(rejects)
                rejects.clear()
                raw_kept.pending = 0
            continue
        outcome[at_recorded] = recorded_at
        outcome[at_run] = run_id
        if table.kind == "observations" and outcome[FLAGS]:
            flagged += "formula-like" in outcome[FLAGS]
            announced += outcome[FLAGS].startswith("announced")
        batch.append(outcome)
        if len(batch) >= batch_rows:
            loaded += insert(batch)
            batch.clear()
    if batch:
        loaded += insert(batch)
    store.insert_rejects(rejects)
    valid = read - rejected
    result.rows_read = read
    result.rows_loaded = loaded
    result.rows_unchanged = valid - loaded
    result.rows_rejected = rejected
    result.rows_skipped = sum(table.skipped.values())
    result.skipped = dict(table.skipped.most_common())
    result.flagged = flagged
    result.announced = announced
    result.status = "partial" if rejected else "ok"
    return result


_REJECT_BATCH_CHARS = 8 << 20  # rejects' raw text held before it goes to the store


class _RawBudget:
    """How much raw text one file's rejects may store: twice the file's size, and at
    least 16 Mi characters. A workbook's shared string can stand in thousands of cells,
    so a 1 MB file of bad rows could otherwise fill gigabytes of `rejects`; past the
    budget a reject keeps the start of its text and says where the rest is (the file,
    by the run's SHA-256, and the line)."""

    def __init__(self, size: int) -> None:
        self.left = max(16 << 20, 2 * size)
        self.pending = 0

    def take(self, raw: str) -> str:
        length = min(len(raw), MAX_REJECT_RAW)
        if length > self.left:
            raw = (
                raw[:200] + " [... cut: this file's rejects have used up their raw text "
                "budget; the line is in the file, by the run's SHA-256]"
            )
            length = len(raw)
        self.left -= min(length, self.left)
        self.pending += length
        return raw


# -- URLs ----------------------------------------------------------------------------

_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


def _format_hint(url: str, content_type: str) -> str | None:
    """The format a download's content type declares, unless its name already says."""
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    if suffix in (".csv", ".xlsx", ".json", ".ndjson", ".jsonl"):
        return None
    return _CONTENT_TYPES.get(content_type)


# -- one observation by hand ---------------------------------------------------------


def observe(
    store: Store,
    catalog: Catalog,
    indicator: str,
    value: str,
    *,
    date: str,
    default_subject: str = "BLR",
    limits: Limits | None = None,
    **optional: str | None,
) -> IngestResult:
    """Record one observation, validated exactly like a file row.

    `optional` takes the other canonical columns (subject, source, citation, published,
    reliability, credibility, unit, note). A rejected observation is kept in `rejects`
    like any file row, and the result says why.
    """
    limits = limits or Limits()
    unknown = set(optional) - set(OBSERVATION_COLUMNS)
    if unknown:
        raise InputError(f"observe: unknown field {sorted(unknown)[0]!r}")
    given = {"indicator": indicator, "date": date, "value": value, **optional}
    fields = [str(given.get(name) or "").strip() for name in OBSERVATION_COLUMNS]
    uri = "manual:observe"
    with store.transaction():
        run_id = store.begin_run(uri, "observations", "manual", "", 0)
        rules = ObservationRules(
            catalog, default_subject, store.source_id, store.today(), limits.max_field_chars
        )
        outcome = rules.check(fields, 1)
        result = IngestResult(uri, "ok", "observations", "manual", run_id, rows_read=1)
        now = store.now()
        if isinstance(outcome, Problem):
            store.insert_rejects(
                [(run_id, uri, 1, outcome.field, outcome.reason, raw_csv_text(fields), now)]
            )
            result.status, result.rows_rejected = "partial", 1
            result.rejects.append(RejectInfo(1, outcome.field, outcome.reason))
        else:
            outcome[RECORDED_AT], outcome[RUN_ID] = now, run_id
            result.rows_loaded = store.insert_observations([outcome])
            result.rows_unchanged = 1 - result.rows_loaded
            flags = outcome[FLAGS] or ""
            result.flagged = int("formula-like" in flags)
            result.announced = int(flags.startswith("announced"))
            if result.rows_loaded:
                store.mark_derivation_pending(run_id)
        store.finish_run(
            run_id,
            status=result.status,
            rows_read=1,
            rows_loaded=result.rows_loaded,
            rows_unchanged=result.rows_unchanged,
            rows_rejected=result.rows_rejected,
            message=result.summary(),
            duration_seconds=0.0,
        )
    _derive_after(store, catalog, result)
    return result


# Re-exported for callers that want to warn about formula-like text themselves.
__all__ += ["formula_like"]
