"""GDELT event counts: sums per file, dyad and ISO week, and the GLOBALEVENTID of
every event counted, so an event met again in another file is counted once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ._connection import Connected

# Column order of `insert_event_counts` rows.
EVENT_COUNT_COLUMNS = (
    "file_sha256", "run_id", "subject", "week", "events", "quad1", "quad2", "quad3",
    "quad4", "goldstein_sum", "tone_sum", "roots", "last_added", "mentions",
    "goldstein_mentions_sum",
)  # fmt: skip


class GdeltRepository(Connected):
    """The `event_counts` and `event_ids` tables."""

    def event_ids_counted_elsewhere(self, sha256: str, event_ids: Sequence[int]) -> set[int]:
        """Which of these events a file other than this one (by its SHA-256) counted
        already; asked 500 at a time (SQLite's limit on bound parameters)."""
        found: set[int] = set()
        for start in range(0, len(event_ids), 500):
            part = event_ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            found.update(
                r[0]
                for r in self.conn.execute(
                    "SELECT event_id FROM event_ids WHERE file_sha256 != ? "
                    f"AND event_id IN ({marks})",
                    [sha256, *part],
                )
            )
        return found

    def forget_event_file(self, sha256: str) -> None:
        """Drop one file's counts and event ids: counts from an earlier mapping of the
        same file are replaced, not added to. Inside the caller's transaction."""
        self.db.execute("DELETE FROM event_counts WHERE file_sha256 = ?", [sha256])
        self.db.execute("DELETE FROM event_ids WHERE file_sha256 = ?", [sha256])

    def insert_event_counts(self, rows: Iterable[Sequence[Any]]) -> None:
        """Insert one file's sums (EVENT_COUNT_COLUMNS order), in one executemany."""
        self.conn.executemany(
            f"INSERT INTO event_counts ({', '.join(EVENT_COUNT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(EVENT_COUNT_COLUMNS))})",
            rows,
        )

    def insert_event_ids(self, sha256: str, event_ids: Iterable[int]) -> None:
        """Note every event this file counted, in one executemany."""
        self.conn.executemany(
            "INSERT INTO event_ids (event_id, file_sha256) VALUES (?, ?)",
            ((event_id, sha256) for event_id in event_ids),
        )

    def event_counts(self, subject: str, week: str) -> list[dict[str, Any]]:
        """Each file's sums for one subject (or dyad) and ISO week."""
        return list(
            self.db.query(
                "SELECT events, quad1, quad2, quad3, quad4, goldstein_sum, tone_sum, roots, "
                "last_added, mentions, goldstein_mentions_sum FROM event_counts "
                "WHERE subject = ? AND week = ?",
                [subject, week],
            )
        )
