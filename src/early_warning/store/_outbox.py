"""The outbox: queued messages, and one delivery row per message and recipient.

The statements only; `alerts.mail.Outbox` decides when to call them and holds the
write lock (`transaction(immediate=True)`) around each claim and each record of a
result, so only the flusher whose claim UPDATE changed the row sends that copy. Each
writing method here says whether it expects that lock.
"""

from __future__ import annotations

from typing import Any

from ._connection import Connected

# The message's aggregate over its recipients; rows without recipients keep theirs.
_REFRESH = """
UPDATE outbox SET
  status = CASE
    WHEN EXISTS (SELECT 1 FROM outbox_deliveries d
                 WHERE d.outbox_id = outbox.id AND d.status IN ('queued', 'sending'))
      THEN 'queued'
    WHEN EXISTS (SELECT 1 FROM outbox_deliveries d
                 WHERE d.outbox_id = outbox.id AND d.status = 'dead')
      THEN 'dead'
    ELSE 'sent' END,
  attempts = (SELECT max(d.attempts) FROM outbox_deliveries d WHERE d.outbox_id = outbox.id),
  next_attempt_at = coalesce(
    (SELECT min(d.next_attempt_at) FROM outbox_deliveries d
     WHERE d.outbox_id = outbox.id AND d.status = 'queued'),
    next_attempt_at),
  sent_at = (SELECT CASE WHEN count(*) = sum(d.status = 'sent') THEN max(d.sent_at) END
             FROM outbox_deliveries d WHERE d.outbox_id = outbox.id),
  last_error = (SELECT d.recipient || ': ' || d.last_error FROM outbox_deliveries d
                WHERE d.outbox_id = outbox.id AND d.status != 'sent'
                  AND d.last_error IS NOT NULL
                ORDER BY d.last_attempt_at DESC, d.id LIMIT 1)
WHERE id = ? AND EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.outbox_id = outbox.id)
"""

_DUE = (
    "SELECT id, outbox_id, recipient, attempts FROM outbox_deliveries "
    "WHERE (status = 'queued' AND next_attempt_at <= ?) "
    "OR (status = 'sending' AND lease_until <= ?) ORDER BY outbox_id, id"
)

# Only the flusher whose UPDATE changes the row owns it: the row must still be as it
# was seen (same attempts), and either queued and due, or claimed by a flusher whose
# lease has run out.
_CLAIM = (
    "UPDATE outbox_deliveries SET status = 'sending', attempts = attempts + 1, "
    "claimed_at = ?, claimed_by = ?, lease_until = ?, last_attempt_at = ? "
    "WHERE id = ? AND attempts = ? AND ("
    "(status = 'queued' AND next_attempt_at <= ?) "
    "OR (status = 'sending' AND lease_until <= ?))"
)

_DELIVERY = "recipient, status, attempts, next_attempt_at, sent_at, last_error, "


class OutboxRepository(Connected):
    """The `outbox` and `outbox_deliveries` tables."""

    # -- queueing -----------------------------------------------------------------------

    def outbox_id_for_key(self, key: str) -> int | None:
        """The message queued under this key, if any (each key is queued once)."""
        row = self.db.execute("SELECT id FROM outbox WHERE key = ?", [key]).fetchone()
        return int(row[0]) if row else None

    def insert_outbox_message(
        self,
        *,
        key: str,
        message_id: str,
        recipients: str,
        subject: str,
        message: bytes,
        queued_at: str,
    ) -> int | None:
        """Add a queued message; None if one with this key exists already (queued by
        another process meanwhile). Inside the caller's write transaction, which also
        adds the message's deliveries."""
        cursor = self.db.execute(
            "INSERT INTO outbox (key, message_id, recipients, subject, message, status, "
            "attempts, next_attempt_at, queued_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?) "
            "ON CONFLICT(key) DO NOTHING",
            [key, message_id, recipients, subject, message, queued_at, queued_at],
        )
        if not cursor.rowcount:
            return None
        return int(cursor.lastrowid or 0)

    def insert_outbox_delivery(self, outbox_id: int, recipient: str, queued_at: str) -> None:
        """One recipient's copy of a message, queued and due at once."""
        self.db.execute(
            "INSERT INTO outbox_deliveries (outbox_id, recipient, status, attempts, "
            "next_attempt_at) VALUES (?, ?, 'queued', 0, ?)",
            [outbox_id, recipient, queued_at],
        )

    # -- sending ------------------------------------------------------------------------

    def due_deliveries(self, due_by: str, now: str) -> list[tuple[int, int, str, int]]:
        """(delivery id, outbox id, recipient, attempts) of every copy queued and due by
        `due_by`, or claimed with a lease that ran out by `now`; by message."""
        return [(row[0], row[1], row[2], row[3]) for row in self.db.execute(_DUE, [due_by, now])]

    def outbox_message(self, outbox_id: int) -> bytes:
        """The stored message (its bytes as queued, To naming every recipient)."""
        row = self.db.execute("SELECT message FROM outbox WHERE id = ?", [outbox_id]).fetchone()
        return row[0]  # type: ignore[no-any-return]

    def claim_delivery(
        self,
        delivery_id: int,
        *,
        attempts: int,
        token: str,
        now: str,
        lease_until: str,
        due_by: str,
    ) -> bool:
        """Claim one copy for the flusher `token`, if it is still as seen (`attempts`)
        and still due or its lease ran out; True if this call claimed it. Under the
        write lock: of two flushers, only the one whose UPDATE changed the row sends."""
        cursor = self.db.execute(
            _CLAIM, [now, token, lease_until, now, delivery_id, attempts, due_by, now]
        )
        return cursor.rowcount == 1

    def mark_delivery_sent(self, delivery_id: int, sent_at: str) -> None:
        """The server accepted the copy: sent, whoever holds the claim now. Under the
        write lock, with `refresh_outbox` after it."""
        self.db.execute(
            "UPDATE outbox_deliveries SET status = 'sent', sent_at = ?, last_error = NULL, "
            "claimed_at = NULL, claimed_by = NULL, lease_until = NULL WHERE id = ?",
            [sent_at, delivery_id],
        )

    def mark_delivery_failed(
        self, delivery_id: int, *, token: str, status: str, error: str, next_attempt_at: str
    ) -> bool:
        """A failed attempt: queued again for `next_attempt_at`, or dead. Only if the
        flusher `token` still holds the claim (else another took it over after the
        lease ran out); True if it did. Under the write lock, with `refresh_outbox`."""
        cursor = self.db.execute(
            "UPDATE outbox_deliveries SET status = ?, last_error = ?, next_attempt_at = ?, "
            "claimed_at = NULL, claimed_by = NULL, lease_until = NULL "
            "WHERE id = ? AND status = 'sending' AND claimed_by = ?",
            [status, error, next_attempt_at, delivery_id, token],
        )
        return bool(cursor.rowcount)

    def refresh_outbox(self, outbox_id: int) -> None:
        """Recompute the message's status, attempts, next try, sent time and last error
        from its deliveries (a message without deliveries keeps its own)."""
        self.db.execute(_REFRESH, [outbox_id])

    # -- reading ------------------------------------------------------------------------

    def outbox_backlog(self) -> dict[str, int]:
        """How many messages stand in each status."""
        rows = self.db.execute("SELECT status, count(*) FROM outbox GROUP BY status")
        return {status: count for status, count in rows}

    def outbox_status(self, outbox_id: int) -> tuple[str, str | None] | None:
        """A message's (status, last error), or None if there is no such message."""
        row = self.db.execute(
            "SELECT status, last_error FROM outbox WHERE id = ?", [outbox_id]
        ).fetchone()
        return (row[0], row[1]) if row else None

    def outbox_deliveries(self, outbox_id: int, *, leases: bool = False) -> list[dict[str, Any]]:
        """Each recipient of a message with its state, attempts, last error and who has
        it claimed; with `leases`, also when it was claimed and until when."""
        columns = _DELIVERY + ("claimed_at, claimed_by, lease_until" if leases else "claimed_by")
        return list(
            self.db.query(
                f"SELECT {columns} FROM outbox_deliveries WHERE outbox_id = ? ORDER BY id",
                [outbox_id],
            )
        )

    def outbox_messages(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Messages (without their bytes), newest first, optionally of one status."""
        sql = (
            "SELECT id, key, message_id, status, attempts, recipients, subject, queued_at, "
            "next_attempt_at, sent_at, last_error FROM outbox"
        )
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        return list(self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]))
