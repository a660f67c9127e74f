"""Alerts and alert state: each rule's state machine per subject, and one row per
crossing with its evidence and what became of it (acknowledged, resolved, mailed);
and the rules' scored replays (`rule_scores`)."""

from __future__ import annotations

from typing import Any

from ._connection import Connected


class AlertsRepository(Connected):
    """The `alerts`, `alert_state` and `rule_scores` tables."""

    # -- rule scores --------------------------------------------------------------------

    def record_rule_scores(self, row: dict[str, Any]) -> int:
        """Keep one scored replay of the rules, stamped now; return its id."""
        return int(self.db["rule_scores"].insert(dict(row, computed_at=self.now())).last_pk or 0)

    def rule_scores(self, subject: str, profile_hash: str) -> list[dict[str, Any]]:
        """Every kept replay score of the subject under this profile, newest first."""
        return list(
            self.db.query(
                "SELECT * FROM rule_scores WHERE subject = ? AND profile_hash = ? ORDER BY id DESC",
                [subject, profile_hash],
            )
        )

    # -- alert state --------------------------------------------------------------------

    def alert_states(self, subject: str) -> list[dict[str, Any]]:
        """Where each rule's state machine stands for the subject (one row per rule)."""
        return list(self.db.query("SELECT * FROM alert_state WHERE subject = ?", [subject]))

    def save_alert_state(
        self,
        *,
        rule: str,
        subject: str,
        state: str,
        run_weeks: int,
        last_week: str | None,
        fired_week: str | None,
        alert_id: int | None,
        updated_at: str,
    ) -> None:
        """Insert or replace one rule's state for the subject."""
        self.db.execute(
            "INSERT INTO alert_state (rule, subject, state, run_weeks, last_week, "
            "fired_week, alert_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(rule, subject) DO UPDATE SET state = excluded.state, "
            "run_weeks = excluded.run_weeks, last_week = excluded.last_week, "
            "fired_week = excluded.fired_week, alert_id = excluded.alert_id, "
            "updated_at = excluded.updated_at",
            [rule, subject, state, run_weeks, last_week, fired_week, alert_id, updated_at],
        )

    def alerts_checked_since(self, subject: str, week: str) -> bool:
        """Whether any rule was evaluated for the subject on or after this week's Sunday
        (a report says "no alerts" only when the rules were checked at all)."""
        found = self.db.execute(
            "SELECT 1 FROM alert_state WHERE subject = ? AND last_week >= ? LIMIT 1",
            [subject, week],
        ).fetchone()
        return bool(found)

    # -- alerts -------------------------------------------------------------------------

    def record_alert(
        self,
        *,
        dedupe_key: str,
        rule: str,
        kind: str,
        severity: str,
        subject: str,
        week_date: str,
        as_of: str,
        value: float | None,
        threshold: float | None,
        condition: str,
        message: str,
        evidence: str,
        profile_hash: str,
        fired_at: str,
    ) -> tuple[int, bool]:
        """Record a firing alert once per `dedupe_key`; return its id and whether this
        call added it (a repeat of the same crossing finds the first one)."""
        cursor = self.db.execute(
            "INSERT INTO alerts (dedupe_key, rule, kind, severity, subject, week_date, "
            "as_of, value, threshold, condition, message, evidence, profile_hash, state, "
            "fired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'firing', ?) "
            "ON CONFLICT(dedupe_key) DO NOTHING",
            [
                dedupe_key, rule, kind, severity, subject, week_date, as_of, value,
                threshold, condition, message, evidence, profile_hash, fired_at,
            ],
        )  # fmt: skip
        row = self.db.execute("SELECT id FROM alerts WHERE dedupe_key = ?", [dedupe_key]).fetchone()
        return int(row[0]), bool(cursor.rowcount)

    def set_alert_outbox(self, alert_id: int, outbox_id: int | None) -> None:
        """Note the outbox message that tells the subscribers of this alert."""
        self.db.execute("UPDATE alerts SET outbox_id = ? WHERE id = ?", [outbox_id, alert_id])

    def alert_outbox_id(self, alert_id: int) -> int | None:
        """The outbox message of an alert (None: nobody was subscribed, or no alert)."""
        row = self.db.execute("SELECT outbox_id FROM alerts WHERE id = ?", [alert_id]).fetchone()
        if not row or row[0] is None:
            return None
        return int(row[0])

    def resolve_alerts(
        self, rule: str, subject: str, resolved_week: str, through: str, resolution: str = ""
    ) -> None:
        """Resolve the rule's active alerts for the subject of weeks up to `through`
        (a Sunday), noting the ISO week in which it ended and why (`resolution`)."""
        self.db.execute(
            "UPDATE alerts SET state = 'resolved', resolved_week = ?, resolution = ? "
            "WHERE rule = ? AND subject = ? AND state IN ('firing', 'acknowledged') "
            "AND week_date <= ?",
            [resolved_week, resolution or None, rule, subject, through],
        )

    def alerts(
        self,
        *,
        subject: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded alerts with their message's delivery status, newest week first."""
        sql = (
            "SELECT a.*, o.status AS delivery FROM alerts a "
            "LEFT JOIN outbox o ON o.id = a.outbox_id WHERE 1 = 1"
        )
        params: list[Any] = []
        if subject:
            sql += " AND a.subject = ?"
            params.append(subject)
        if state:
            sql += " AND a.state = ?"
            params.append(state)
        sql += " ORDER BY a.week_date DESC, a.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self.db.query(sql, params))

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        """One alert's row, or None."""
        return next(iter(self.db.query("SELECT * FROM alerts WHERE id = ?", [alert_id])), None)

    def acknowledge_alert(
        self, alert_id: int, *, rule: str, subject: str, note: str, by: str
    ) -> None:
        """Mark the alert (of this rule and subject) seen: a firing one becomes
        acknowledged, and its rule's state with it, so the rule stays quiet until the
        condition clears. In one transaction."""
        with self.transaction():
            self.db.execute(
                "UPDATE alerts SET state = CASE state WHEN 'firing' THEN 'acknowledged' "
                "ELSE state END, acknowledged_at = ?, acknowledged_by = ?, ack_note = ? "
                "WHERE id = ?",
                [self.now(), by, note, alert_id],
            )
            self.db.execute(
                "UPDATE alert_state SET state = 'acknowledged', updated_at = ? "
                "WHERE rule = ? AND subject = ? AND alert_id = ? AND state = 'firing'",
                [self.now(), rule, subject, alert_id],
            )
