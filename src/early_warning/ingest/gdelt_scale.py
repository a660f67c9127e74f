"""GDELT history at scale: the exports of a backfill aggregated on a Dask cluster.

A backfill of GDELT 2.0 is hundreds of thousands of 15-minute exports (hundreds of
millions of rows); one process reading them one after the other leaves the other
cores idle. Here the reading, the costly part, runs as Dask tasks, one per export,
each the streaming path's own `gdelt.aggregate_events` returning its `Aggregate`,
so a sum added there flows through unchanged. Recording stays where it was and as it
was: `gdelt_record.ingest_gdelt`, in the files' order, one transaction per file. The
aggregates are merged across files the way the streaming path merges them, by the
store (`event_counts` per file, `gdelt.week_total` over them), so the store after a
Dask ingest holds the same rows as after the streaming one: a task's aggregate is
computed without knowing what other files counted, and `ingest_gdelt` uses it only
if none of its events were counted before; otherwise that file is read again in
this process, with the check, as the streaming path reads it.

Dask (`pip install 'early-warning[scale]'`) is imported only here, and only when a
cluster is asked for: `early-warning ingest --workers N` starts a local one,
`--scheduler ADDRESS` uses a running one (whose workers must have early-warning
installed and see the files under the same paths).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import ConfigError, IngestError
from ..store import Store
from .gdelt import Aggregate, GdeltSpec, aggregate_events, looks_like_gdelt
from .gdelt_record import already_ingested, file_sha256

__all__ = ["DaskAggregator", "dask_aggregator", "local_cluster"]

_INSTALL = "pip install 'early-warning[scale]'"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"aggregating on a Dask cluster needs Dask: {_INSTALL}") from None
    return distributed


def local_cluster(distributed: Any, workers: int, *, processes: bool = True) -> Any:
    """A cluster of `workers` on 127.0.0.1 (one thread each: the parsing holds the
    GIL), with no dashboard and its HTTP endpoint on a free port (the default, 8787,
    warns when another cluster on the machine has it)."""
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )  # fmt: skip


@contextmanager
def dask_aggregator(
    store: Store,
    catalog: Catalog,
    sources: Sequence[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    zip_limits: dict[str, Any] | None = None,
) -> Iterator[DaskAggregator]:
    """A `DaskAggregator` for the GDELT exports among `sources` (local paths), on a
    local cluster of `workers` processes or on the cluster at `scheduler`."""
    distributed = _distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield DaskAggregator(client, store, catalog, sources, zip_limits)
        return
    if not workers or workers < 1:
        raise ConfigError("--workers: expected a whole number >= 1")
    with (
        local_cluster(distributed, workers) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield DaskAggregator(client, store, catalog, sources, zip_limits)


class DaskAggregator:
    """Submits the exports to the cluster a few ahead of the one being recorded.

    The files are taken in the order given (the order `ingest` records them in); at
    most `window` tasks are in flight or done and not yet taken, so memory holds a
    few aggregates, not the history's. A file already ingested (its SHA-256 and the
    mapping in a completed run) is not submitted: a re-run reads nothing again.
    """

    def __init__(
        self,
        client: Any,
        store: Store,
        catalog: Catalog,
        sources: Sequence[str],
        zip_limits: dict[str, Any] | None = None,
    ) -> None:
        self.client, self.store = client, store
        self.spec = GdeltSpec.from_catalog(catalog)
        self.zip_limits = zip_limits
        self.today = store.today()
        self.paths = [Path(s) for s in sources if "://" not in s and _is_export(Path(s))]
        self.index = {path: i for i, path in enumerate(self.paths)}
        self.hashes: dict[Path, str] = {}
        self.pending: dict[Path, Any] = {}  # path -> its task's future
        self.next = 0  # the first path not yet considered for submission
        self.window = 2 * max(1, sum(client.nthreads().values())) + 2
        self.submitted_shas: set[str] = set()
        self.fell_back = 0  # files read in this process after all (see `take`)

    def sha256(self, path: Path) -> str:
        if path not in self.hashes:
            self.hashes[path] = file_sha256(path)
        return self.hashes[path]

    def take(self, path: Path, today: dt.date) -> Aggregate | None:
        position = self.index.get(path)
        if position is None:
            return None
        for earlier in [p for p in self.pending if self.index[p] < position]:
            self._drop(earlier)  # skipped by the caller (refused before aggregation)
        self._top_up(position)
        future = self.pending.pop(path, None)
        if future is None:  # not submitted: a duplicate, which `ingest_gdelt` skips
            return None
        if today != self.today:  # the store's day changed: the rows' checks with it
            future.release()
            self.fell_back += 1
            return None
        try:
            found: Aggregate | IngestError = future.result()
        except Exception:  # the cluster's failure (a worker lost): read it here
            self.fell_back += 1
            return None
        finally:
            future.release()
            self._top_up(position + 1)
        if isinstance(found, IngestError):
            raise found  # the file's own refusal, in the streaming path's words
        return found

    def _top_up(self, position: int) -> None:
        self.next = max(self.next, position)
        while self.next < len(self.paths) and len(self.pending) < self.window:
            path = self.paths[self.next]
            self.next += 1
            try:
                sha256 = self.sha256(path)
            except OSError:
                continue  # unreadable: `ingest` names it when it comes to this file
            if sha256 in self.submitted_shas or already_ingested(self.store, self.spec, sha256):
                continue  # a duplicate: `ingest_gdelt` says so without an aggregate
            try:
                future = self.client.submit(
                    _aggregate, path, self.spec, self.today, self.zip_limits, pure=False
                )
            except Exception:  # the cluster is gone: the rest is read in this process
                self.window = 0
                return
            self.submitted_shas.add(sha256)
            self.pending[path] = future

    def _drop(self, path: Path) -> None:
        self.pending.pop(path).release()


def _aggregate(
    path: Path, spec: GdeltSpec, today: dt.date, zip_limits: dict[str, Any] | None
) -> Aggregate | IngestError:
    """The task: the streaming path's pass over one file. A file refused is returned,
    not raised: it is the file's outcome, not the task's failure (which a worker would
    log as an error with its traceback)."""
    try:
        return aggregate_events(path, spec, today=today, zip_limits=zip_limits)
    except IngestError as exc:
        return exc


def _is_export(path: Path) -> bool:
    """A GDELT export by name or first line (the check `ingest` makes first); a zip
    under another name is left to `ingest`, which reads it in this process."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False  # `ingest` names the problem
    return looks_like_gdelt(path, head)
