"""Reports made: which PDF, for which subject and week, from what, and whether it was
mailed."""

from __future__ import annotations

from typing import Any

from ._connection import Connected


class ReportsRepository(Connected):
    """The `reports` table."""

    def record_report(self, row: dict[str, Any]) -> int:
        return int(self.db["reports"].insert(dict(row, created_at=self.now())).last_pk or 0)

    def reports(self, subject: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM reports", []
        if subject:
            sql += " WHERE subject = ?"
            params.append(subject)
        return list(self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]))

    def set_report_email(self, report_id: int, outbox_id: int) -> None:
        """Note the outbox message that carries this report to its subscribers."""
        self.db.execute(
            "UPDATE reports SET emailed_outbox_id = ? WHERE id = ?", [outbox_id, report_id]
        )

    def report_made(self, subject: str, as_of: str) -> bool:
        """Whether a report of the subject as of this day exists (the daemon makes a
        missed weekly report when it starts)."""
        found = self.db.execute(
            "SELECT 1 FROM reports WHERE subject = ? AND as_of = ?", [subject, as_of]
        ).fetchone()
        return bool(found)

    def weekly_report_done(self, subject: str, week: str, as_of: str, *, mailed: bool) -> bool:
        """Whether this week's report is made (and, with `mailed`, also queued for the
        subscribers): the daemon makes each weekly report once."""
        previous = self.db.execute(
            "SELECT id, emailed_outbox_id FROM reports WHERE subject = ? AND week = ? "
            "AND as_of = ? AND (emailed_outbox_id IS NOT NULL OR ? = 0) LIMIT 1",
            [subject, week, as_of, int(mailed)],
        ).fetchone()
        return bool(previous)
