"""The demo: a fresh database built from the catalog and the embedded dataset.

`run_demo` is what `early-warning demo` (and `make demo`) runs. It never touches the
user's database: it works in a folder of its own (a temporary one unless told where).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog, load_catalog
from .ingest import IngestResult, Limits, ingest
from .store import Store

__all__ = ["DemoResult", "embedded_files", "run_demo"]


@dataclass
class DemoResult:
    db_path: Path
    catalog: Catalog
    results: list[IngestResult] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results)


def embedded_files(catalog_dir: Path) -> list[Path]:
    """The embedded dataset: every data CSV, then the events file."""
    files = sorted((catalog_dir / "data").glob("*.csv"))
    events = catalog_dir / "events.csv"
    if events.exists():
        files.append(events)
    return files


def run_demo(catalog_dir: Path, workdir: Path, default_subject: str = "BLR") -> DemoResult:
    """Build `workdir/demo.db` from scratch and load the embedded dataset into it."""
    catalog = load_catalog(catalog_dir)
    db_path = workdir / "demo.db"
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    result = DemoResult(db_path, catalog)
    with Store(db_path) as store:
        store.sync_catalog(catalog)
        for path in embedded_files(catalog_dir):
            result.results.append(
                ingest(store, catalog, path, default_subject=default_subject, limits=Limits())
            )
        result.status = store.status()
    return result
