"""A GDELT event export recorded: its sums into `event_counts`, its weeks' indicators.

`gdelt.py` reads an export into an `Aggregate` and computes a week's indicators from
its sums, touching no database; this module is where they meet the store, through its
repository methods only: the run, the counts and event ids, the observations and
rejects, in one transaction per file. A file is committed as a whole, so a long
backfill interrupted at any point resumes with the next file, and a file already
ingested (same SHA-256 and mapping) is skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from ..catalog import Catalog
from ..errors import IngestError
from ..store import OBSERVATION_RECORDED_AT as RECORDED_AT
from ..store import OBSERVATION_RUN_ID as RUN_ID
from ..store import Store
from .gdelt import (
    GOLDSTEIN_BY_MENTIONS,
    MENTIONS_SUM,
    Aggregate,
    GdeltSpec,
    aggregate_events,
    week_total,
    weekly_fields,
)
from .results import IngestResult, RejectInfo, duplicate_result
from .validate import ObservationRules, Problem

__all__ = ["Aggregator", "already_ingested", "file_sha256", "ingest_gdelt"]

_REJECT_SAMPLE = 20


class Aggregator(Protocol):
    """Aggregates computed ahead, elsewhere (`gdelt_scale.DaskAggregator`: on a Dask
    cluster), that `ingest_gdelt` takes in place of its own pass over a file."""

    def sha256(self, path: Path) -> str:
        """The file's SHA-256 (the aggregator hashed it already to skip done files)."""
        ...

    def take(self, path: Path, today: dt.date) -> Aggregate | None:
        """The file's aggregate, computed with no events counted elsewhere and `today`
        as the store's day; None if there is none (then the file is read here). An
        IngestError the file raised is raised again."""
        ...


def _context(spec: GdeltSpec) -> str:
    return f"gdelt;mapping={spec.digest}"


def already_ingested(store: Store, spec: GdeltSpec, sha256: str) -> bool:
    """The file with this SHA-256 was aggregated with this mapping already."""
    return store.completed_run_for(sha256, "event aggregates", _context(spec)) is not None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ingest_gdelt(
    store: Store,
    catalog: Catalog,
    path: Path,
    *,
    uri: str,
    size: int,
    progress: bool | None = None,
    limits: Any = None,
    aggregator: Aggregator | None = None,
) -> Any:
    """Aggregate one export into `event_counts` and the weekly indicators it touches.

    With an `aggregator`, its aggregate of the file stands in for the first pass: it is
    the same pass (`aggregate_events`), made elsewhere without the events counted by
    other files, so it is used only if none of its events were (checked under the
    write lock, as below); otherwise the file is aggregated again here.

    The aggregation runs outside the write transaction (it takes seconds); inside it,
    under the write lock, the events are checked again against what other files
    counted meanwhile. Another process that ingested an overlapping file in the
    meantime makes this one aggregate again, so no event is counted twice and no
    UNIQUE constraint ever fails.
    """

    spec = GdeltSpec.from_catalog(catalog)
    sha256 = aggregator.sha256(path) if aggregator else file_sha256(path)
    context = _context(spec)
    earlier = store.completed_run_for(sha256, "event aggregates", context)
    if earlier is not None:
        return duplicate_result(uri, "event aggregates", "gdelt", earlier)
    started = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress

    def already_counted(ids: list[int]) -> set[int]:
        return store.event_ids_counted_elsewhere(sha256, ids)

    zip_limits = limits.zip_limits() if limits is not None else None
    ahead = aggregator.take(path, store.today()) if aggregator else None
    for _attempt in range(5):
        found = ahead or aggregate_events(
            path, spec, today=store.today(), already_counted=already_counted, progress=show,
            zip_limits=zip_limits,
        )  # fmt: skip
        ahead = None
        with store.transaction(immediate=True):
            earlier = store.completed_run_for(sha256, "event aggregates", context)
            if earlier is not None:  # another process read the same file meanwhile
                return duplicate_result(uri, "event aggregates", "gdelt", earlier)
            if already_counted(found.event_ids):
                continue  # an overlapping file landed meanwhile: aggregate again
            return _record_aggregate(
                store, catalog, spec, found, uri=uri, sha256=sha256, size=size,
                context=context, started=started,
            )  # fmt: skip
    raise IngestError(f"{uri}: other imports kept overlapping with this file; try again")


def _record_aggregate(
    store: Store,
    catalog: Catalog,
    spec: GdeltSpec,
    found: Aggregate,
    *,
    uri: str,
    sha256: str,
    size: int,
    context: str,
    started: float,
) -> Any:
    """Write one file's aggregate (inside the caller's transaction)."""

    fmt = f"gdelt{found.version}"
    result = IngestResult(uri, "ok", "event aggregates", fmt)
    run_id = store.begin_run(uri, "event aggregates", fmt, sha256, size, context)
    result.run_id = run_id
    # Counts from an earlier mapping of the same file are replaced, not added to.
    store.forget_event_file(sha256)
    _store_counts(store, sha256, run_id, found)
    store.insert_event_ids(sha256, found.event_ids)
    loaded, unchanged, skipped = _write_indicators(store, catalog, spec, run_id, uri, found)
    now = store.now()
    store.insert_rejects(
        (run_id, uri, line, name, reason, raw, now) for line, name, reason, raw in found.rejects
    )
    result.rows_read = found.rows_read
    result.rows_loaded, result.rows_unchanged = loaded, unchanged
    result.rows_rejected = len(found.rejects)
    outside = found.rows_read - found.rows_kept - found.repeated - len(found.rejects)
    skipped[f"events not between {spec.describe()}"] = outside
    skipped["events already counted (same GLOBALEVENTID)"] = found.repeated
    result.skipped = {k: v for k, v in skipped.items() if v}
    result.rows_skipped = sum(result.skipped.values())
    result.rejects = [RejectInfo(r[0], r[1], r[2]) for r in found.rejects[:_REJECT_SAMPLE]]
    result.status = "partial" if found.rejects else "ok"
    result.seconds = round(time.perf_counter() - started, 3)
    result.message = (
        f"{found.rows_kept:,} events between {_countries(spec)} and {_their(spec)} counterparts in "
        f"{len({w for _, w in found.sums}):,} week(s)"
    )
    store.finish_run(
        run_id, status=result.status, rows_read=result.rows_read,
        rows_loaded=loaded, rows_unchanged=unchanged, rows_rejected=result.rows_rejected,
        message=result.summary(), duration_seconds=result.seconds,
    )  # fmt: skip
    if loaded:
        store.mark_derivation_pending(run_id)
    return result


def _countries(spec: GdeltSpec) -> str:
    countries = [country for country, _ in spec.groups]
    return ", ".join(countries[:-1]) + " and " + countries[-1] if countries[1:] else countries[0]


def _their(spec: GdeltSpec) -> str:
    return "their" if spec.groups[1:] else "its"


def _store_counts(store: Store, sha256: str, run_id: int, found: Aggregate) -> None:
    # In store.EVENT_COUNT_COLUMNS order.
    rows = [
        (sha256, run_id, subject, week, *sums[:7], json.dumps(dict(sorted(sums[7].items()))),
         sums[8], sums[MENTIONS_SUM], sums[GOLDSTEIN_BY_MENTIONS])
        for (subject, week), sums in sorted(found.sums.items())
    ]  # fmt: skip
    store.insert_event_counts(rows)


def _write_indicators(
    store: Store, catalog: Catalog, spec: GdeltSpec, run_id: int, uri: str, found: Aggregate
) -> tuple[int, int, Counter[str]]:
    """Recompute the touched weeks' indicators and write them through validation."""
    rules = ObservationRules(catalog, spec.subject, store.source_id, store.today(), 4000)
    recorded_at = store.now()
    skipped: Counter[str] = Counter()
    batch: list[list[Any]] = []
    line = 0
    for subject, week in sorted(found.sums):
        total = week_total(store.event_counts(subject, week))
        for fields in weekly_fields(catalog, spec, found.version, subject, week, total, skipped):
            line += 1
            outcome = rules.check(fields, line)
            if isinstance(outcome, Problem):
                # Only a week not begun by the store's clock can get here (a file from the
                # future): the week is skipped and said so, the counts stay for later.
                skipped[f"weekly values refused ({outcome.field}: {outcome.reason})"] += 1
                continue
            outcome[RECORDED_AT], outcome[RUN_ID] = recorded_at, run_id
            batch.append(outcome)
    loaded = store.insert_observations(batch) if batch else 0
    return loaded, len(batch) - loaded, skipped
