"""A private, temporary SQLite table: validation's first-seen keys past what it keeps
in memory. Not the store's file: its own, deleted when closed."""

from __future__ import annotations

import sqlite3


class SpilledKeys:
    """The line on which each 64-bit key was first seen, on disk."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "": a temporary file of its own
        self._db.execute("CREATE TABLE seen (key INTEGER PRIMARY KEY, line INT)")

    def first_line(self, key: int, line: int) -> int:
        """The line the key was first seen on; `line` (recorded now) if it is new."""
        found = self._db.execute("SELECT line FROM seen WHERE key = ?", (key,)).fetchone()
        if found:
            return int(found[0])
        self._db.execute("INSERT INTO seen (key, line) VALUES (?, ?)", (key, line))
        return line

    def close(self) -> None:
        self._db.close()
