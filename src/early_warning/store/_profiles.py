"""Weight profiles' audit trail: every saved change, and the first use of each version."""

from __future__ import annotations

from typing import Any

from ._connection import Connected


class ProfilesRepository(Connected):
    """The `weight_profiles` audit table."""

    def record_profile(
        self,
        name: str,
        weights_hash: str,
        content: str,
        action: str,
        author: str = "",
        note: str = "",
        changes: str = "",
    ) -> int:
        """Audit a weight profile: every change, and the first use of each version."""
        if action == "used":
            row = self.db.execute(
                "SELECT id FROM weight_profiles WHERE name = ? AND weights_hash = ? LIMIT 1",
                [name, weights_hash],
            ).fetchone()
            if row:
                return int(row[0])
        cursor = self.db.execute(
            "INSERT INTO weight_profiles (name, weights_hash, content, author, note, action, "
            "changes, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [name, weights_hash, content, author, note, action, changes or None, self.now()],
        )
        return int(cursor.lastrowid or 0)

    def profile_history(self, name: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, name, weights_hash, action, changes, author, note, recorded_at "
            "FROM weight_profiles"
        )
        params: list[Any] = []
        if name:
            sql += " WHERE name = ?"
            params.append(name)
        return list(self.db.query(sql + " ORDER BY id", params))
