"""The meta table's work list (runs whose derived indicators are still to be computed)
and the whole-store summary that `db status` shows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._connection import Connected


class MetaRepository(Connected):
    """Pending derivations, table counts and the store's status."""

    # Runs whose derived indicators are still to be recomputed. Marked in the run's own
    # transaction and cleared after the derivation commits, so a crash between the two
    # leaves the mark, and the next ingest finishes the work.
    _PENDING_KEY = "derive_pending_runs"

    def mark_derivation_pending(self, run_id: int) -> None:
        self._set_pending(sorted({*self.pending_derivations(), run_id}))

    def pending_derivations(self) -> list[int]:
        row = self.db.execute(
            "SELECT value FROM meta WHERE key = ?", [self._PENDING_KEY]
        ).fetchone()
        return [int(r) for r in json.loads(row[0])] if row and row[0] else []

    def clear_derivations(self, run_ids: Iterable[int]) -> None:
        done = set(run_ids)
        self._set_pending([r for r in self.pending_derivations() if r not in done])

    def _set_pending(self, run_ids: list[int]) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [self._PENDING_KEY, json.dumps(run_ids)],
        )

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])

    def status(self) -> dict[str, Any]:
        """Counts, sizes and the last run: what `db status` shows."""
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        last = self.runs(limit=1)
        period = self.db.execute(
            "SELECT min(period_start), max(period_end), max(recorded_at) FROM observations"
        ).fetchone()
        return {
            "path": str(self.path.resolve()),
            "bytes": size,
            "migrations": self.applied_migrations(),
            "catalog_version": self.catalog_version(),
            "tables": {
                name: self.count(name)
                for name in (
                    "indicators",
                    "sources",
                    "observations",
                    "rejects",
                    "events",
                    "ingest_runs",
                    "alerts",
                    "outbox",
                )
            },
            "outbox": {
                status: n
                for status, n in self.db.execute(
                    "SELECT status, count(*) FROM outbox GROUP BY status ORDER BY status"
                )
            },
            "alerts_active": int(
                self.db.execute(
                    "SELECT count(*) FROM alerts WHERE state IN ('firing', 'acknowledged')"
                ).fetchone()[0]
            ),
            "subjects": sorted(self.subjects()),
            "first_period": period[0],
            "last_period": period[1],
            "last_recorded_at": period[2],
            "last_run": last[0] if last else None,
        }
