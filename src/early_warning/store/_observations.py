"""Observations, events, ingest runs and rejects: what came in, from where, and what
was refused.

Observations are bitemporal. Each row has
  * the period it describes (`period_start` .. `period_end`),
  * when it became known (`known_from`: the `published` date if given, else the day
    it was recorded), and
  * when this system recorded it (`recorded_at`).
A revised value is a new row, never an update; "as known on date D" keeps the rows with
`known_from <= D` and, per indicator, subject, period and source, the latest of those.
Re-ingesting identical content adds nothing: every row carries a hash of its content
and the hash is unique.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from ._columns import EVENT_COLUMNS, OBSERVATION_COLUMNS, REJECT_COLUMNS, REJECT_RAW
from ._connection import Connected

MAX_REJECT_RAW = 65536


class ObservationsRepository(Connected):
    """Ingest runs, the rows they loaded (observations, events) and refused (rejects)."""

    # -- ingest runs -----------------------------------------------------------------

    def begin_run(
        self, uri: str, kind: str, fmt: str, sha256: str, size: int, context: str = ""
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO ingest_runs (started_at, uri, kind, format, sha256, context, bytes, "
            "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
            [self.now(), uri, kind, fmt, sha256, context, size],
        )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, **fields: Any) -> None:
        fields["finished_at"] = self.now()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(
            f"UPDATE ingest_runs SET {assignments} WHERE id = ?", [*fields.values(), run_id]
        )

    def record_refused_run(self, uri: str, reason: str, sha256: str = "", size: int = 0) -> int:
        """Log a refused input (nothing else is written)."""
        now = self.now()
        cursor = self.db.execute(
            "INSERT INTO ingest_runs (started_at, finished_at, uri, sha256, bytes, status, "
            "message, rows_read, rows_loaded, rows_unchanged, rows_rejected) "
            "VALUES (?, ?, ?, ?, ?, 'refused', ?, 0, 0, 0, 0)",
            [now, now, uri, sha256, size, reason],
        )
        return int(cursor.lastrowid or 0)

    def completed_run_for(self, sha256: str, kind: str, context: str) -> dict[str, Any] | None:
        """The earlier run that ingested this content in the same context, if any.

        The context is the default subject and the catalog version: the same file read
        for another subject, or after the catalog changed, is read again.
        """
        rows = self.db.query(
            "SELECT * FROM ingest_runs WHERE sha256 = ? AND kind = ? AND context = ? "
            "AND status IN ('ok', 'partial') ORDER BY id LIMIT 1",
            [sha256, kind, context],
        )
        return next(iter(rows), None)

    def known_values(
        self, source: str, indicators: Sequence[str]
    ) -> dict[tuple[str, str, str], set[float]]:
        """Every value stored from `source` for the indicators, by (indicator, subject, period)."""
        marks = ", ".join("?" * len(indicators))
        rows = self.conn.execute(
            "SELECT o.indicator, o.subject, o.period, o.value FROM observations o "
            f"JOIN sources s ON s.id = o.source_id WHERE s.name = ? AND o.indicator IN ({marks})",
            [source, *indicators],
        )
        known: dict[tuple[str, str, str], set[float]] = {}
        for indicator, subject, period, value in rows:
            known.setdefault((indicator, subject, period), set()).add(value)
        return known

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM ingest_runs ORDER BY id DESC LIMIT ?", [limit]))

    def run_exists(self, run_id: int) -> bool:
        """Whether there is an ingest run of this id (`rejects list --run` names a wrong one)."""
        return bool(self.db["ingest_runs"].count_where("id = ?", [run_id]))

    def indicators_of_runs(self, run_ids: Sequence[int]) -> set[str]:
        """The indicators the observations of these runs belong to."""
        marks = ", ".join("?" * len(run_ids))
        return {
            row[0]
            for row in self.conn.execute(
                f"SELECT DISTINCT indicator FROM observations WHERE run_id IN ({marks})",
                list(run_ids),
            )
        }

    # -- bulk writes (called inside one transaction by ingest) ------------------------

    def insert_observations(self, rows: Sequence[Sequence[Any]]) -> int:
        """Insert observation tuples (OBSERVATION_COLUMNS order); return how many were new."""
        before = self.conn.total_changes
        self.conn.executemany(_INSERT_OBSERVATION, rows)
        return self.conn.total_changes - before

    def insert_events(self, rows: Sequence[Sequence[Any]]) -> int:
        """Insert event tuples (EVENT_COLUMNS order); return how many were new."""
        before = self.conn.total_changes
        self.conn.executemany(_INSERT_EVENT, rows)
        return self.conn.total_changes - before

    def insert_rejects(self, rows: Iterable[Sequence[Any]]) -> None:
        """Insert (run_id, uri, line, field, reason, raw, recorded_at) tuples.

        A raw row longer than MAX_REJECT_RAW characters is cut there, with a note of its
        full length: the input's SHA-256 and the line in `ingest_runs` still find it.
        """
        self.conn.executemany(_INSERT_REJECT, (_cap_raw(row) for row in rows))

    def data_vintage(self, subject: str) -> str:
        """Names the data a computation saw: the newest record time and the row count."""
        count, newest = self.db.execute(
            "SELECT count(*), max(recorded_at) FROM observations WHERE subject = ?", [subject]
        ).fetchone()
        return f"{newest or '-'}#{count}"

    def observations(
        self,
        *,
        indicator: str | None = None,
        subject: str | None = None,
        as_of: dt.date | None = None,
        recorded_before: str | None = None,
        all_revisions: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Observations as known on `as_of` (default: everything known now).

        Without `all_revisions`, only the latest known revision of each
        (indicator, subject, period, source) is returned.
        """
        where, params = _observation_filter(indicator, subject, as_of, recorded_before)
        ranked = f"""
            SELECT o.*, s.name AS source, ROW_NUMBER() OVER (
              PARTITION BY o.indicator, o.subject, o.period_start, o.period_end,
                           COALESCE(o.source_id, -1)
              ORDER BY o.known_from DESC, o.recorded_at DESC, o.id DESC) AS revision_rank
            FROM observations o LEFT JOIN sources s ON s.id = o.source_id
            WHERE {where}"""
        sql = f"SELECT * FROM ({ranked})"
        if not all_revisions:
            sql += " WHERE revision_rank = 1"
        sql += " ORDER BY indicator, subject, period_start, known_from, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return list(self.db.query(sql, params))

    def latest_values(
        self, subject: str | None = None, as_of: dt.date | None = None
    ) -> dict[str, dict[str, Any]]:
        """For each indicator, the observation of the latest period known on `as_of`."""
        where, params = _observation_filter(None, subject, as_of, None)
        sql = f"""
            SELECT * FROM (
              SELECT o.*, s.name AS source, ROW_NUMBER() OVER (
                PARTITION BY o.indicator, o.subject
                ORDER BY o.period_end DESC, o.known_from DESC, o.recorded_at DESC, o.id DESC)
                AS rn
              FROM observations o LEFT JOIN sources s ON s.id = o.source_id
              WHERE {where})
            WHERE rn = 1 ORDER BY indicator"""
        return {row["indicator"]: row for row in self.db.query(sql, params)}

    def rejects(self, run_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if run_id is None:
            sql, params = "SELECT * FROM rejects ORDER BY id DESC LIMIT ?", [limit]
        else:
            sql, params = (
                "SELECT * FROM rejects WHERE run_id = ? ORDER BY id LIMIT ?",
                [
                    run_id,
                    limit,
                ],
            )
        return list(self.db.query(sql, params))

    def events(self, subject: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT e.*, s.name AS source FROM events e LEFT JOIN sources s ON s.id = e.source_id"
        params: list[Any] = []
        if subject:
            sql += " WHERE e.subject = ?"
            params.append(subject)
        return list(self.db.query(sql + " ORDER BY e.date, e.id", params))

    def subjects(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT subject FROM observations")]

    # -- what the panel, the alerts, the report and the pages read ---------------------

    def observation_revisions(self, subject: str) -> list[dict[str, Any]]:
        """Every revision of a subject's observations, in the few columns the panel
        builder needs to replay them week by week (it loads them once)."""
        return list(
            self.db.query(
                "SELECT id, indicator, period_start, period_end, value, known_from "
                "FROM observations WHERE subject = ?",
                [subject],
            )
        )

    def observation_days(self, subject: str) -> list[tuple[str, int, float, float, float, float]]:
        """`observation_revisions` as `(indicator, id, start, end, known, value)` tuples,
        the dates as Julian day numbers (SQLite reads the dates: the panel builder takes
        tens of thousands of rows, and parsing them in Python would cost more than the
        panel itself)."""
        return self.db.execute(
            "SELECT indicator, id, julianday(period_start), julianday(period_end), "
            "julianday(known_from), value FROM observations WHERE subject = ?",
            [subject],
        ).fetchall()

    def observations_of_indicators(self, indicators: Sequence[str]) -> list[dict[str, Any]]:
        """Every row of the indicators with its source's name, the one known latest
        (then recorded latest) last: derived indicators read their inputs from here."""
        marks = ", ".join("?" * len(indicators))
        return list(
            self.db.query(
                "SELECT o.id, o.indicator, o.subject, o.period, o.value, o.unit, o.known_from, "
                "o.reliability, o.credibility, s.name AS source FROM observations o "
                f"LEFT JOIN sources s ON s.id = o.source_id WHERE o.indicator IN ({marks}) "
                "ORDER BY o.known_from, o.recorded_at, o.id",
                list(indicators),
            )
        )

    def observation_provenance(self, observation_id: int) -> tuple[Any, ...] | None:
        """(period, citation, reliability, credibility, known_from, source name) of one
        observation: the evidence an alert cites."""
        found = self.db.execute(
            "SELECT o.period, o.citation, o.reliability, o.credibility, o.known_from, "
            "s.name FROM observations o LEFT JOIN sources s ON s.id = o.source_id "
            "WHERE o.id = ?",
            [observation_id],
        ).fetchone()
        return tuple(found) if found else None

    def observation_sources(self, observation_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Period, grades and source name of these observations (the report's table)."""
        marks = ",".join("?" * len(observation_ids))
        return list(
            self.db.query(
                "SELECT o.id, o.period, o.reliability, o.credibility, s.name AS source "
                "FROM observations o LEFT JOIN sources s ON s.id = o.source_id "
                f"WHERE o.id IN ({marks})",
                list(observation_ids),
            )
        )

    def first_period_start(self, subject: str) -> str | None:
        """The start of the subject's earliest observed period (a backtest's default
        start is two years after it)."""
        row = self.db.execute(
            "SELECT min(period_start) FROM observations WHERE subject = ?", [subject]
        ).fetchone()
        return row[0]

    def newest_known_from(self, subject: str | None = None) -> str | None:
        """The day the newest figure (of one subject, or of all) became known: where
        scores stop being fresh."""
        if subject is None:
            return self.db.execute("SELECT max(known_from) FROM observations").fetchone()[0]
        return self.db.execute(
            "SELECT max(known_from) FROM observations WHERE subject = ?", [subject]
        ).fetchone()[0]

    def rejects_mentioning(self, text: str, limit: int = 500) -> list[dict[str, Any]]:
        """Rejects whose raw row contains `text`, newest first (the raw row of any format
        names an indicator as a whole word, so an indicator's page finds its rejects)."""
        return list(
            self.db.query(
                "SELECT * FROM rejects WHERE raw LIKE ? ORDER BY id DESC LIMIT ?",
                [f"%{text}%", limit],
            )
        )


def _cap_raw(row: Sequence[Any]) -> Sequence[Any]:
    raw = row[REJECT_RAW]
    if raw is None or len(raw) <= MAX_REJECT_RAW:
        return row
    note = f" [... cut: the row has {len(raw):,} characters]"
    return (*row[:REJECT_RAW], raw[:MAX_REJECT_RAW] + note, *row[REJECT_RAW + 1 :])


def _observation_filter(
    indicator: str | None, subject: str | None, as_of: dt.date | None, recorded_before: str | None
) -> tuple[str, list[Any]]:
    clauses, params = ["1 = 1"], []
    if indicator:
        clauses.append("o.indicator = ?")
        params.append(indicator)
    if subject:
        clauses.append("o.subject = ?")
        params.append(subject)
    if as_of is not None:
        clauses.append("o.known_from <= ?")
        params.append(as_of.isoformat())
    if recorded_before is not None:
        clauses.append("o.recorded_at <= ?")
        params.append(recorded_before)
    return " AND ".join(clauses), params


# Only a repeated content hash is skipped; any other constraint failure is a bug and
# must raise (OR IGNORE would silently drop rows that break NOT NULL or CHECK).
_INSERT_OBSERVATION = (
    f"INSERT INTO observations ({', '.join(OBSERVATION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(OBSERVATION_COLUMNS))}) "
    "ON CONFLICT(content_hash) DO NOTHING"
)
_INSERT_REJECT = (
    f"INSERT INTO rejects ({', '.join(REJECT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REJECT_COLUMNS))})"
)
_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))}) "
    "ON CONFLICT(content_hash) DO NOTHING"
)
