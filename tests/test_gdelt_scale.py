"""The GDELT history on a Dask cluster records what the streaming path records.

One local cluster of worker processes on 127.0.0.1 (started once: it costs seconds)
aggregates a few generated 61-column exports; the store after that ingest must hold
the same rows as the store after the streaming ingest of the same files.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from early_warning import FixedClock, Store
from early_warning.catalog import Catalog
from early_warning.errors import IngestError
from early_warning.ingest import ingest

from .conftest import run_cli
from .test_gdelt import BLR_LTU, BLR_POL, BLR_RUS, NOISE, gdelt_line, write_export

distributed = pytest.importorskip("distributed")
from early_warning.ingest.gdelt_scale import DaskAggregator, local_cluster  # noqa: E402

CLOCK = "2024-06-01T12:00:00"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster(distributed, 2) as cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def _exports(folder: Path) -> list[Path]:
    """Exports over three weeks: one zipped, one with a bad row, one repeating another
    file's events (by GLOBALEVENTID), one a copy of another, and one not an export."""
    folder.mkdir()
    files = [
        write_export(folder / "20211110150000.export.CSV", BLR_RUS + BLR_POL + NOISE),
        write_export(
            folder / "20211117150000.export.CSV.zip",
            BLR_RUS + BLR_LTU,
            day="20211117",
            zipped=True,
        ),
        write_export(folder / "20211124150000.export.CSV", BLR_POL * 2 + BLR_RUS, day="20211124"),
    ]
    bad = folder / "20211125150000.export.CSV"
    lines = [gdelt_line(e, day="20211125", number=900_000 + i) for i, e in enumerate(BLR_RUS)]
    lines[3] = lines[3].replace("\t-9.0\t", "\tminus nine\t")  # Goldstein not a number
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = folder / "20211126150000.export.CSV"  # the events of the first file, again
    again.write_text(files[0].read_text(encoding="utf-8"), encoding="utf-8")
    again.write_text(again.read_text(encoding="utf-8") + gdelt_line(BLR_RUS[0], number=950_000))
    copy = shutil.copy(files[2], folder / "20211127150000.export.CSV")
    short = folder / "20211128150000.export.CSV"
    short.write_text("1\t2\t3\n", encoding="utf-8")  # refused whole, by either path
    return [*files, bad, again, Path(copy), short]


def _ingest_all(store: Store, catalog: Catalog, files: list[Path], **options: Any) -> list[str]:
    outcomes = []
    for path in files:
        try:
            outcomes.append(ingest(store, catalog, str(path), **options).summary())
        except IngestError as exc:
            outcomes.append(str(exc))
    return outcomes


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table the ingest writes, without the ids and clocks that number a run."""
    tables = {
        "event_counts": "SELECT file_sha256, subject, week, events, quad1, quad2, quad3, quad4,"
        " goldstein_sum, tone_sum, roots, last_added FROM event_counts",
        "event_ids": "SELECT event_id, file_sha256 FROM event_ids",
        "observations": "SELECT indicator, subject, period_start, period_end, value, known_from,"
        " citation, note FROM observations",
        "rejects": "SELECT uri, line, field, reason, raw FROM rejects",
        "runs": "SELECT uri, status, rows_read, rows_loaded, rows_rejected, sha256, context"
        " FROM ingest_runs",
    }
    with sqlite3.connect(db) as conn:
        return {name: sorted(conn.execute(sql).fetchall()) for name, sql in tables.items()}


def test_the_dask_ingest_records_the_same_rows_as_the_streaming_one(
    tmp_path: Path, real_catalog: Catalog, client: Any
) -> None:
    files = _exports(tmp_path / "exports")
    stores = {name: tmp_path / f"{name}.db" for name in ("streaming", "dask")}
    with Store(stores["streaming"], clock=FixedClock(CLOCK)) as store:
        store.sync_catalog(real_catalog)
        streamed = _ingest_all(store, real_catalog, files)
    with Store(stores["dask"], clock=FixedClock(CLOCK)) as store:
        store.sync_catalog(real_catalog)
        sources = [str(p) for p in files]
        aggregator = DaskAggregator(client, store, real_catalog, sources)
        on_dask = _ingest_all(store, real_catalog, files, aggregator=aggregator)
        again = DaskAggregator(client, store, real_catalog, sources)
        rerun = _ingest_all(store, real_catalog, files, aggregator=again)
        # Only the refused file is read again (a refusal is not a completed run).
        assert again.submitted_shas == {again.sha256(files[6])} and again.pending == {}
    assert [" ".join(s.split()[:-2]) for s in on_dask] == [
        " ".join(s.split()[:-2]) for s in streamed
    ]  # the same outcomes, the run numbers aside
    assert "rejected" in on_dask[3] and "already ingested" in on_dask[5]
    # The file repeating counted events was read again here, with the check.
    assert f"; {len(BLR_RUS + BLR_POL)} events already counted" in on_dask[4]
    assert on_dask[6].startswith(f"{files[6]}: line 1 has 3 tab-separated fields")
    assert all("already ingested" in r for r in rerun[:6])
    streaming_rows, dask_rows = _rows(stores["streaming"]), _rows(stores["dask"])
    runs = dask_rows.pop("runs")
    refusals = [run for run in runs if run[0] == str(files[6])]
    assert len(refusals) == 2  # the re-run refused the file that is not an export again
    runs.remove(refusals[0])
    assert runs == streaming_rows.pop("runs")
    assert dask_rows == streaming_rows
    assert len(dask_rows["event_counts"]) > 10 and len(dask_rows["observations"]) > 50


def test_without_the_scale_extra_the_command_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = write_export(tmp_path / "20211110150000.export.CSV", BLR_RUS)
    assert run_cli("--db", str(tmp_path / "x.db"), "init", cwd=tmp_path).returncode == 0
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    done = run_cli("--db", str(tmp_path / "x.db"), "ingest", "--workers", "2", str(export),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "early-warning: error: aggregating on a Dask cluster needs Dask: "
        "pip install 'early-warning[scale]'\n"
    )
