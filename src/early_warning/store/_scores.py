"""Computed results: weekly scores, sensitivity runs, forecasts, backtests and the
analysts' own forecasts. Each is recorded as computed, with what it was computed from
(profile hash, data vintage), and never changed afterwards."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._connection import Connected


class ScoresRepository(Connected):
    """Scores, sensitivity, forecasts and backtests."""

    def record_scores(self, rows: Iterable[dict[str, Any]]) -> None:
        """Store computed weekly scores (a repeat of the same computation is kept once)."""
        columns = (
            "subject",
            "week_date",
            "as_of",
            "point_in_time",
            "profile",
            "profile_hash",
            "catalog_version",
            "data_vintage",
            "score",
            "band",
            "coverage",
            "record",
            "computed_at",
        )
        with self.db.atomic():
            self.conn.executemany(
                f"INSERT INTO scores ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))}) "
                "ON CONFLICT(subject, week_date, as_of, point_in_time, profile_hash, data_vintage) "
                "DO NOTHING",
                [[row.get(c) for c in columns] for row in rows],
            )

    def record_warning(self, row: dict[str, Any]) -> None:
        """Keep a week's warning level (`warnings`); the same computation is kept once."""
        columns = ("subject", "week", "as_of", "profile_hash", "level", "record", "computed_at")
        row = dict(row, computed_at=self.now())
        with self.db.atomic():
            self.conn.execute(
                f"INSERT INTO warnings ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))}) "
                "ON CONFLICT(subject, as_of, profile_hash, record) DO NOTHING",
                [row[c] for c in columns],
            )

    def latest_warnings(self) -> list[dict[str, Any]]:
        """Each subject's most recent warning (latest as-of date, then latest computed)."""
        return list(
            self.db.query(
                "SELECT subject, week, as_of, level, record, computed_at FROM warnings AS w "
                "WHERE id = (SELECT id FROM warnings WHERE subject = w.subject "
                "ORDER BY as_of DESC, id DESC LIMIT 1) ORDER BY subject"
            )
        )

    def record_sensitivity(self, row: dict[str, Any]) -> int:
        """Record one sensitivity run (a `sensitivity_runs` row, stamped now); return its
        id. A plain write and nothing else: computing a sensitivity never writes, and
        whoever computed one decides whether it is kept (`services.record_sensitivity`)."""
        row = dict(row, computed_at=self.now())
        return int(self.db["sensitivity_runs"].insert(row).last_pk or 0)

    def latest_sensitivity(self, subject: str, profile_hash: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM sensitivity_runs WHERE subject = ? AND profile_hash = ? "
            "ORDER BY id DESC LIMIT 1",
            [subject, profile_hash],
        )
        return next(iter(rows), None)

    def record_forecasts(self, rows: Iterable[dict[str, Any]]) -> None:
        now = self.now()
        self.db["forecasts"].insert_all([dict(r, computed_at=now) for r in rows])

    def record_backtest(self, row: dict[str, Any]) -> None:
        self.db["backtests"].insert(dict(row, computed_at=self.now()))

    def add_analyst_forecast(self, row: dict[str, Any]) -> int:
        return int(
            self.db["analyst_forecasts"].insert(dict(row, recorded_at=self.now())).last_pk or 0
        )

    def analyst_forecasts(self, subject: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM analyst_forecasts", []
        if subject:
            sql += " WHERE subject = ?"
            params.append(subject)
        return list(self.db.query(sql + " ORDER BY made_on, id", params))

    def ensemble_forecasts(self, subject: str, horizon_weeks: int) -> list[tuple[str, float]]:
        """(as_of, probability) of every stored ensemble forecast at this horizon, oldest
        first (a later one of the same day wins): what the forecast alert rules read."""
        return [
            (row[0], row[1])
            for row in self.db.execute(
                "SELECT as_of, probability FROM forecasts WHERE subject = ? AND model = "
                "'ensemble' AND horizon_weeks = ? ORDER BY as_of, computed_at, id",
                [subject, horizon_weeks],
            )
        ]

    def backtests(self, subject: str, profile_hash: str) -> list[dict[str, Any]]:
        """Every stored backtest of the subject under this profile, oldest first (the
        report keeps the newest per horizon and model)."""
        return list(
            self.db.query(
                "SELECT * FROM backtests WHERE subject = ? AND profile_hash = ? ORDER BY id",
                [subject, profile_hash],
            )
        )
