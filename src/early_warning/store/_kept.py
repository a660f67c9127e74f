"""Results kept across processes: a forecast or a sensitivity analysis, by the
fingerprint of everything it was computed from (`services.kept`).

They live beside the database, in `<database>.kept.sqlite`, not in it: a kept result is
derived, never a record, so reading (a report, `score`, the workbench) still leaves the
database as it was, never waits for the daemon's write lock, and deleting the file
loses nothing that cannot be computed again. The same key always names the same value
(the computations are deterministic), so a row is written once and never changed.
Where the file cannot be opened or written (a read-only folder, another process
holding its lock past the timeout) a result is simply not kept.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ._connection import Connected

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kept_results (kind TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, computed_at TEXT NOT NULL, PRIMARY KEY (kind, key))"
)
_WAIT_SECONDS = 2.0  # a kept result is a saving, not worth a long wait for a lock


def kept_results_path(database: Path) -> Path:
    return Path(f"{database}.kept.sqlite")


class KeptResultsRepository(Connected):
    """The kept results' file, opened when first asked."""

    _kept: sqlite3.Connection | None = None
    _kept_lock = threading.Lock()  # one connection, the workbench's threads

    def kept_result(self, kind: str, key: str) -> str | None:
        """The kept JSON text of a result, or None when it was never kept."""
        with self._kept_lock:
            conn = self._kept_connection()
            if conn is None:
                return None
            try:
                row = conn.execute(
                    "SELECT value FROM kept_results WHERE kind = ? AND key = ?", [kind, key]
                ).fetchone()
            except sqlite3.Error:
                return None
        return None if row is None else str(row[0])

    def keep_result(self, kind: str, key: str, value: str) -> bool:
        """Keep a result's JSON text once; False when the file cannot take it now."""
        with self._kept_lock:
            conn = self._kept_connection()
            if conn is None:
                return False
            try:
                with conn:
                    conn.execute(
                        "INSERT INTO kept_results (kind, key, value, computed_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT(kind, key) DO NOTHING",
                        [kind, key, value, self.now()],
                    )
            except sqlite3.Error:
                return False
        return True

    def _kept_connection(self) -> sqlite3.Connection | None:
        if self._kept is None:
            try:
                conn = sqlite3.connect(
                    kept_results_path(self.path), timeout=_WAIT_SECONDS, check_same_thread=False
                )
                conn.execute(_SCHEMA)
            except sqlite3.Error:
                return None
            self._kept = conn
        return self._kept

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None
        super().close()
