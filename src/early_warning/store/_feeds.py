"""Live feeds: each publication a feed fetched (a GDELT export, say), so that after a
restart nothing is fetched or counted twice, a missed interval can be caught up, and a
publication that failed is tried again a few times."""

from __future__ import annotations

from typing import Any

from ._connection import Connected

MAX_ATTEMPTS = 5  # a publication that failed this often is given up (and said so)


class FeedsRepository(Connected):
    """The `feed_items` table."""

    def feed_item_done(self, feed: str, item: str) -> bool:
        """Whether this feed is done with this item (by its URL): ingested, or given up."""
        row = self.db.execute(
            "SELECT 1 FROM feed_items WHERE feed = ? AND item = ? AND outcome != 'failed'",
            [feed, item],
        ).fetchone()
        return row is not None

    def record_feed_item(
        self, feed: str, item: str, *, stamp: str, md5: str, size: int, run_id: int | None,
        ok: bool, detail: str,
    ) -> str:  # fmt: skip
        """Note one attempt at an item; return its outcome (ok, failed or given up)."""
        row = self.db.execute(
            "SELECT attempts FROM feed_items WHERE feed = ? AND item = ?", [feed, item]
        ).fetchone()
        attempts = (row[0] if row else 0) + 1
        outcome = "ok" if ok else "given up" if attempts >= MAX_ATTEMPTS else "failed"
        self.db.execute(
            "INSERT INTO feed_items (feed, item, stamp, md5, size, run_id, outcome, attempts, "
            "detail, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (feed, item) DO UPDATE SET run_id = excluded.run_id, "
            "outcome = excluded.outcome, attempts = excluded.attempts, "
            "detail = excluded.detail, fetched_at = excluded.fetched_at",
            [feed, item, stamp, md5, size, run_id, outcome, attempts, detail[:2000], self.now()],
        )
        return outcome

    def last_feed_stamp(self, feed: str) -> str | None:
        """The newest publication stamp (GDELT: YYYYMMDDHHMMSS) this feed has ingested."""
        row = self.db.execute(
            "SELECT max(stamp) FROM feed_items WHERE feed = ? AND outcome = 'ok'", [feed]
        ).fetchone()
        return row[0] if row else None

    def failed_feed_items(self, feed: str) -> list[dict[str, Any]]:
        """The items to try again (oldest first)."""
        return list(
            self.db.query(
                "SELECT * FROM feed_items WHERE feed = ? AND outcome = 'failed' ORDER BY stamp",
                [feed],
            )
        )

    def feed_items(self, feed: str) -> list[dict[str, Any]]:
        return list(
            self.db.query("SELECT * FROM feed_items WHERE feed = ? ORDER BY stamp, item", [feed])
        )
