"""The connection: opening the file, its pragmas, the clock, transactions and the lock.

Every repository mixin derives from `Connected`, so each sees the one connection, the
one clock and the one `transaction()`: writes from several table groups (an alert, its
state and its outbox message) commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..clock import Clock, iso_timestamp
from ..errors import StoreError

if TYPE_CHECKING:
    import sqlite_utils


def _import_sqlite_utils() -> ModuleType:
    """sqlite-utils without pandas.

    sqlite-utils imports pandas at import time whenever it is installed (`sqlite_utils.db`
    tries `importlib.import_module("pandas")`), to convert DataFrame values on insert:
    about 550 modules and 0.2 s on every command that opens the store, `status` among
    them. The store never hands it pandas values, so pandas is hidden while sqlite-utils
    loads (a `None` in `sys.modules` makes that import raise ImportError). If pandas is
    already loaded, sqlite-utils sees it as usual.
    """
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return importlib.import_module("sqlite_utils")
    sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("sqlite_utils")
    finally:
        del sys.modules["pandas"]


_sqlite_utils = _import_sqlite_utils()


# The page cache of a bulk load, in KiB (64 MB): enough for the indexes of a few
# million observations; `benchmarks/bench_ingest.py` measures the load's peak memory.
BULK_CACHE_KIB = 65_536


def connect(path: Path) -> sqlite_utils.Database:
    """Open the file with foreign keys on and in WAL mode, so a reader (the web page,
    `status`) never blocks the daemon's writer; a writer waits up to 10 s for the
    write lock before "database is locked"."""
    try:
        db = _sqlite_utils.Database(path)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        if "unable to open" in str(exc):  # not a bad file: a folder it cannot write in
            raise StoreError(
                f"{path}: cannot open the database ({exc}; SQLite writes its journal "
                "beside the file, so its folder must be writable)"
            ) from None
        raise StoreError(f"{path}: cannot open as a SQLite database ({exc})") from None
    return db


class Connected:
    """What every repository shares: the file, its connection and the clock."""

    path: Path
    clock: Clock
    db: sqlite_utils.Database

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> str:
        return iso_timestamp(self.clock.now())

    def today(self) -> dt.date:
        return self.clock.now().date()

    def set_busy_timeout(self, milliseconds: int) -> None:
        """How long a write waits for another process's write lock before "database is
        locked" (the web workbench answers sooner than the daemon's long wait)."""
        self.db.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")

    @contextmanager
    def transaction(self, *, immediate: bool = False) -> Iterator[Any]:
        """All writes inside succeed together or not at all. `immediate` takes the
        write lock at the start, so what is read inside cannot change before the writes
        (check-then-insert across processes). Inside an open transaction, a savepoint."""
        if immediate and not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.db.rollback()
                raise
            self.conn.execute("COMMIT")
            return
        with self.db.atomic():
            yield self

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A larger page cache while a file's rows go in (`BULK_CACHE_KIB`), the default
        back after. SQLite's 2 MB default cannot hold the observation indexes' pages,
        so at a million rows every insert re-reads them from the file and the load turns
        superlinear; the pages are memory only as far as the load touches them."""
        before = self.conn.execute("PRAGMA cache_size").fetchone()[0]
        self.conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA cache_size = {int(before)}")

    # A caller that must do work outside the database between its last write and the
    # commit (write a file, and put it back if the commit fails) holds the lock with
    # these three instead of `transaction()`.

    def begin_immediate(self) -> None:
        """Take the write lock now (BEGIN IMMEDIATE): nothing read from here on can
        change before `commit`."""
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the transaction `begin_immediate` opened (it raises if it cannot)."""
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction, if one is still open (an error may already
        have ended it)."""
        if self.conn.in_transaction:
            self.db.execute("ROLLBACK")
