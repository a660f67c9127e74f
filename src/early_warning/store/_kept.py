"""Results kept across processes: a forecast, a sensitivity analysis or a chart, by
the fingerprint of everything it was computed from (`services.kept`).

They live beside the database, in `<database>.kept.sqlite`, not in it: a kept result is
derived, never a record, so reading (a report, `score`, the workbench) still leaves the
database as it was, never waits for the daemon's write lock, and deleting the file
loses nothing that cannot be computed again. The same key always names the same value
(the computations are deterministic), so a row is written once.

A cache must never be the reason an answer is wrong or missing: each value is kept with
its SHA-256 and read back only when it still matches (a damaged row is computed again
and replaced); a file that is not a SQLite database is replaced; where the file cannot
be opened or written at all (a directory of that name, a read-only folder, another
process holding its lock past the timeout) a result is simply not kept, and the first
such failure in a process is logged once. Each kind keeps its `KEPT_PER_KIND` newest
results, so the file stays a few megabytes however long the daemon runs.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from pathlib import Path

from ._connection import Connected

KEPT_PER_KIND = 100
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kept_results (kind TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, sha256 TEXT NOT NULL, computed_at TEXT NOT NULL, "
    "PRIMARY KEY (kind, key))"
)
_WAIT_SECONDS = 2.0  # a kept result is a saving, not worth a long wait for a lock
_LOG = logging.getLogger("early_warning")


def kept_results_path(database: Path) -> Path:
    return Path(f"{database}.kept.sqlite")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class KeptResultsRepository(Connected):
    """The kept results' file, opened when first asked."""

    _kept: sqlite3.Connection | None = None
    _kept_failed = False
    _kept_lock = threading.Lock()  # one connection, the workbench's threads

    def kept_result(self, kind: str, key: str) -> str | None:
        """The kept JSON text of a result, or None when it was never kept (or its row
        no longer matches its digest)."""
        with self._kept_lock:
            conn = self._kept_connection()
            if conn is None:
                return None
            try:
                row = conn.execute(
                    "SELECT value, sha256 FROM kept_results WHERE kind = ? AND key = ?",
                    [kind, key],
                ).fetchone()
            except sqlite3.Error as exc:
                self._kept_trouble(exc)
                return None
        if row is None or not isinstance(row[0], str) or _digest(row[0]) != row[1]:
            return None
        return row[0]

    def keep_result(self, kind: str, key: str, value: str) -> bool:
        """Keep a result's JSON text (replacing a damaged row of the same key) and drop
        the kind's oldest beyond `KEPT_PER_KIND`; False when the file cannot take it now."""
        with self._kept_lock:
            conn = self._kept_connection()
            if conn is None:
                return False
            try:
                with conn:
                    conn.execute(
                        "INSERT OR REPLACE INTO kept_results (kind, key, value, sha256, "
                        "computed_at) VALUES (?, ?, ?, ?, ?)",
                        [kind, key, value, _digest(value), self.now()],
                    )
                    conn.execute(
                        "DELETE FROM kept_results WHERE kind = ? AND rowid NOT IN (SELECT "
                        "rowid FROM kept_results WHERE kind = ? ORDER BY rowid DESC LIMIT ?)",
                        [kind, kind, KEPT_PER_KIND],
                    )
            except sqlite3.Error as exc:
                self._kept_trouble(exc)
                return False
        return True

    def _kept_connection(self) -> sqlite3.Connection | None:
        if self._kept is None and not self._kept_failed:
            path = kept_results_path(self.path)
            try:
                self._kept = _open(path)
            except sqlite3.DatabaseError as exc:
                if not path.is_file() or "not a database" not in str(exc):
                    self._kept_trouble(exc)
                    return None
                path.unlink()  # garbage under the name: derived, so start it again
                try:
                    self._kept = _open(path)
                except sqlite3.Error as again:
                    self._kept_trouble(again)
        return self._kept

    def _kept_trouble(self, exc: sqlite3.Error) -> None:
        """Say once per store that results cannot be kept (every report is then as
        slow as a first one), and stop trying. A lock held past the wait is only this
        once, and a full disk (or a file size limit: SQLite's "disk I/O error") is said
        by whatever the command writes next (the report itself), in its own one line."""
        transient = ("locked", "full", "disk I/O error")
        if isinstance(exc, sqlite3.OperationalError) and any(t in str(exc) for t in transient):
            return
        if not self._kept_failed:
            _LOG.warning(
                "%s: results cannot be kept beside the database (%s); each report "
                "computes its forecast, band and charts again",
                kept_results_path(self.path), exc,
            )  # fmt: skip
        self._kept_failed = True
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None
        super().close()


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_WAIT_SECONDS, check_same_thread=False)
    try:
        conn.execute(_SCHEMA)
    except sqlite3.Error:
        conn.close()
        raise
    return conn
