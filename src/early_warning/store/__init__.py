"""The SQLite store: schema, migrations and queries.

One file holds everything. It is opened with foreign keys on and in WAL mode, so a
reader (the web page, `status`) never blocks the daemon's writer.

Observations are bitemporal. Each row has
  * the period it describes (`period_start` .. `period_end`),
  * when it became known (`known_from`: the `published` date if given, else the day
    it was recorded), and
  * when this system recorded it (`recorded_at`).
A revised value is a new row, never an update; "as known on date D" keeps the rows with
`known_from <= D` and, per indicator, subject, period and source, the latest of those.
Re-ingesting identical content adds nothing: every row carries a hash of its content
and the hash is unique.

Tables: meta, migrations, families, indicators, sources, ingest_runs, observations,
rejects, events. Views: observations_current, latest_values, rejects_recent.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from ..catalog import Catalog
from ..clock import Clock, SystemClock, iso_timestamp
from ..errors import StoreError

__all__ = ["OBSERVATION_COLUMNS", "Store", "open_store"]

# Column order of the bulk observation insert (see ingest).
OBSERVATION_COLUMNS = (
    "indicator", "subject", "period", "period_start", "period_end", "value", "value_text",
    "source_id", "citation", "published", "known_from", "recorded_at", "reliability",
    "credibility", "unit", "note", "flags", "run_id", "line", "content_hash",
)  # fmt: skip
EVENT_COLUMNS = (
    "date", "date_end", "date_precision", "subject", "kind", "severity", "title",
    "citation", "source_id", "note",
    "known_from", "recorded_at", "run_id", "line", "content_hash",
)  # fmt: skip


# -- migrations ----------------------------------------------------------------------
# Each migration runs once, in order, inside a transaction, and is recorded in the
# `migrations` table. Never edit a released migration: add a new one.


def _m001_initial(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["families"].create(
        {"id": str, "name": str, "description": str, "weight": float, "in_catalog": int},
        pk="id",
        not_null={"name"},
    )
    db["indicators"].create(
        {
            "id": str,
            "family": str,
            "name": str,
            "description": str,
            "unit": str,
            "kind": str,
            "range_min": float,
            "range_max": float,
            "levels": str,
            "higher_is_riskier": int,
            "direction_reasoning": str,
            "contested": int,
            "frequency": str,
            "max_age_days": int,
            "half_life_days": float,
            "weight": float,
            "normalisation": str,
            "citations": str,
            "in_catalog": int,
            "catalog_version": str,
        },
        pk="id",
        not_null={"family", "name", "unit", "kind"},
        foreign_keys=[("family", "families", "id")],
    )
    db["sources"].create(
        {
            "id": int,
            "name": str,
            "author": str,
            "title": str,
            "publisher": str,
            "date": str,
            "published": str,
            "url": str,
            "note": str,
        },
        pk="id",
        not_null={"name"},
    )
    db["sources"].create_index(["name"], unique=True)
    db["ingest_runs"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "uri": str,
            "kind": str,
            "format": str,
            "sha256": str,
            "context": str,
            "bytes": int,
            "rows_read": int,
            "rows_loaded": int,
            "rows_unchanged": int,
            "rows_rejected": int,
            "status": str,
            "message": str,
            "duration_seconds": float,
        },
        pk="id",
        not_null={"started_at", "uri", "status"},
    )
    db["ingest_runs"].create_index(["sha256"])
    db["observations"].create(
        {
            "id": int,
            "indicator": str,
            "subject": str,
            "period": str,
            "period_start": str,
            "period_end": str,
            "value": float,
            "value_text": str,
            "source_id": int,
            "citation": str,
            "published": str,
            "known_from": str,
            "recorded_at": str,
            "reliability": str,
            "credibility": str,
            "unit": str,
            "note": str,
            "flags": str,
            "run_id": int,
            "line": int,
            "content_hash": str,
        },
        pk="id",
        not_null={
            "indicator",
            "subject",
            "period",
            "period_start",
            "period_end",
            "value",
            "value_text",
            "known_from",
            "recorded_at",
            "content_hash",
        },
        foreign_keys=[
            ("indicator", "indicators", "id"),
            ("source_id", "sources", "id"),
            ("run_id", "ingest_runs", "id"),
        ],
    )
    db["observations"].create_index(["content_hash"], unique=True)
    db["observations"].create_index(["indicator", "subject", "period_end"])
    db["rejects"].create(
        {
            "id": int,
            "run_id": int,
            "uri": str,
            "line": int,
            "field": str,
            "reason": str,
            "raw": str,
            "recorded_at": str,
        },
        pk="id",
        not_null={"reason", "raw", "recorded_at"},
        foreign_keys=[("run_id", "ingest_runs", "id")],
    )
    db["rejects"].create_index(["run_id"])
    db["events"].create(
        {
            "id": int,
            "date": str,
            "date_end": str,
            "date_precision": str,
            "subject": str,
            "kind": str,
            "severity": int,
            "title": str,
            "citation": str,
            "source_id": int,
            "note": str,
            "known_from": str,
            "recorded_at": str,
            "run_id": int,
            "line": int,
            "content_hash": str,
        },
        pk="id",
        not_null={"date", "subject", "kind", "severity", "title", "recorded_at"},
        foreign_keys=[("source_id", "sources", "id"), ("run_id", "ingest_runs", "id")],
    )
    db["events"].create_index(["content_hash"], unique=True)
    db["events"].create_index(["subject", "date"])


def _m002_views(db: sqlite_utils.Database) -> None:
    db.create_view(
        "observations_current",
        """
        SELECT * FROM (
          SELECT o.*, ROW_NUMBER() OVER (
            PARTITION BY o.indicator, o.subject, o.period_start, o.period_end,
                         COALESCE(o.source_id, -1)
            ORDER BY o.known_from DESC, o.recorded_at DESC, o.id DESC) AS revision_rank
          FROM observations o)
        WHERE revision_rank = 1
        """,
    )
    db.create_view(
        "latest_values",
        """
        SELECT r.indicator, i.name AS indicator_name, i.family, r.subject, r.period,
               r.value, r.value_text, i.unit, s.name AS source, r.citation,
               r.reliability, r.credibility, r.known_from, r.recorded_at, r.id AS observation_id
        FROM (
          SELECT o.*, ROW_NUMBER() OVER (
            PARTITION BY o.indicator, o.subject
            ORDER BY o.period_end DESC, o.known_from DESC, o.recorded_at DESC, o.id DESC) AS rn
          FROM observations o) r
        JOIN indicators i ON i.id = r.indicator
        LEFT JOIN sources s ON s.id = r.source_id
        WHERE r.rn = 1
        """,
    )
    db.create_view(
        "rejects_recent",
        """
        SELECT j.id, j.run_id, j.uri, j.line, j.field, j.reason, substr(j.raw, 1, 200) AS raw,
               j.recorded_at
        FROM rejects j ORDER BY j.id DESC
        """,
    )


def _m003_scoring(db: sqlite_utils.Database) -> None:
    db["weight_profiles"].create(
        {
            "id": int,
            "name": str,
            "weights_hash": str,
            "content": str,
            "author": str,
            "note": str,
            "action": str,
            "recorded_at": str,
        },
        pk="id",
        not_null={"name", "weights_hash", "content", "action", "recorded_at"},
    )
    db["weight_profiles"].create_index(["name", "weights_hash"])
    db["scores"].create(
        {
            "id": int,
            "subject": str,
            "week_date": str,
            "as_of": str,
            "point_in_time": int,
            "profile": str,
            "profile_hash": str,
            "catalog_version": str,
            "data_vintage": str,
            "score": float,
            "band": str,
            "coverage": float,
            "record": str,
            "computed_at": str,
        },
        pk="id",
        not_null={"subject", "week_date", "as_of", "profile_hash", "data_vintage", "computed_at"},
    )
    db["scores"].create_index(
        ["subject", "week_date", "as_of", "point_in_time", "profile_hash", "data_vintage"],
        unique=True,
    )
    db["sensitivity_runs"].create(
        {
            "id": int,
            "subject": str,
            "as_of": str,
            "point_in_time": int,
            "profile": str,
            "profile_hash": str,
            "data_vintage": str,
            "draws": int,
            "concentration": float,
            "seed": int,
            "result": str,
            "computed_at": str,
        },
        pk="id",
        not_null={"subject", "as_of", "profile_hash", "result", "computed_at"},
    )


def _m004_profile_changes(db: sqlite_utils.Database) -> None:
    db["weight_profiles"].add_column("changes", str)


def _m005_forecasts(db: sqlite_utils.Database) -> None:
    db["forecasts"].create(
        {
            "id": int,
            "subject": str,
            "as_of": str,
            "horizon_weeks": int,
            "severity": int,
            "model": str,
            "probability": float,
            "low": float,
            "high": float,
            "status": str,
            "note": str,
            "profile_hash": str,
            "data_vintage": str,
            "computed_at": str,
        },
        pk="id",
        not_null={"subject", "as_of", "horizon_weeks", "model", "computed_at"},
    )
    db["forecasts"].create_index(["subject", "as_of"])
    db["backtests"].create(
        {
            "id": int,
            "subject": str,
            "start": str,
            "end": str,
            "horizon_weeks": int,
            "severity": int,
            "model": str,
            "profile": str,
            "profile_hash": str,
            "data_vintage": str,
            "n_origins": int,
            "n_events": int,
            "brier": float,
            "brier_skill": float,
            "metrics": str,
            "computed_at": str,
        },
        pk="id",
        not_null={"subject", "model", "profile_hash", "computed_at"},
    )
    db["analyst_forecasts"].create(
        {
            "id": int,
            "subject": str,
            "analyst": str,
            "made_on": str,
            "horizon_weeks": int,
            "severity": int,
            "probability": float,
            "note": str,
            "recorded_at": str,
        },
        pk="id",
        not_null={"subject", "analyst", "made_on", "horizon_weeks", "probability", "recorded_at"},
    )


def _m006_outbox(db: sqlite_utils.Database) -> None:
    db["outbox"].create(
        {
            "id": int,
            "key": str,
            "message_id": str,
            "recipients": str,
            "subject": str,
            "message": bytes,
            "status": str,
            "attempts": int,
            "last_error": str,
            "next_attempt_at": str,
            "queued_at": str,
            "sent_at": str,
        },
        pk="id",
        not_null={"key", "message_id", "message", "status", "queued_at"},
    )
    db["outbox"].create_index(["key"], unique=True)
    db["outbox"].create_index(["status", "next_attempt_at"])


def _m007_alerts(db: sqlite_utils.Database) -> None:
    # One row per rule and subject: where its state machine stands.
    db["alert_state"].create(
        {
            "rule": str,
            "subject": str,
            "state": str,  # armed | firing | acknowledged | resolved
            "run_weeks": int,  # consecutive weeks the condition has held
            "last_week": str,  # the last complete week evaluated (its Sunday)
            "fired_week": str,  # the week of the last alert (for the cool-down)
            "alert_id": int,
            "updated_at": str,
        },
        pk=("rule", "subject"),
        not_null={"rule", "subject", "state", "run_weeks", "updated_at"},
    )
    # One row per crossing: what fired, with the evidence, and what became of it.
    db["alerts"].create(
        {
            "id": int,
            "dedupe_key": str,
            "rule": str,
            "kind": str,
            "severity": str,
            "subject": str,
            "week_date": str,
            "as_of": str,
            "value": float,
            "threshold": float,
            "condition": str,
            "message": str,
            "evidence": str,  # JSON: drivers, conditions, citations, what changed
            "profile_hash": str,
            "state": str,  # firing | acknowledged | resolved
            "fired_at": str,
            "acknowledged_at": str,
            "acknowledged_by": str,
            "ack_note": str,
            "resolved_week": str,
            "outbox_id": int,
        },
        pk="id",
        not_null={"dedupe_key", "rule", "severity", "subject", "week_date", "state", "fired_at"},
    )
    db["alerts"].create_index(["dedupe_key"], unique=True)
    db["alerts"].create_index(["subject", "week_date"])


def _m008_reports(db: sqlite_utils.Database) -> None:
    db["reports"].create(
        {
            "id": int,
            "subject": str,
            "week": str,
            "as_of": str,
            "path": str,
            "sha256": str,
            "bytes": int,
            "pages": int,
            "profile": str,
            "profile_hash": str,
            "data_vintage": str,
            "inputs": str,  # JSON: catalog version, library versions, ...
            "created_at": str,
            "emailed_outbox_id": int,
        },
        pk="id",
        not_null={"subject", "week", "as_of", "path", "sha256", "created_at"},
    )
    db["reports"].create_index(["subject", "week"])


def _m009_job_runs(db: sqlite_utils.Database) -> None:
    # Every run of a daemon job: what ran, when, and how it ended.
    db["job_runs"].create(
        {
            "id": int,
            "job": str,
            "started_at": str,
            "finished_at": str,
            "outcome": str,  # running | ok | failed | skipped | missed
            "detail": str,
            "error": str,
        },
        pk="id",
        not_null={"job", "started_at", "outcome"},
    )
    db["job_runs"].create_index(["job", "id"])


def _m010_event_counts(db: sqlite_utils.Database) -> None:
    # Event data (GDELT) summed per file, dyad and ISO week. A week's indicators are
    # computed from the sum over every file ingested so far, so files can arrive in
    # any order, one at a time, and a week is revised (as new observation rows) as its
    # files come in. Sums, not means, so that partial counts add up exactly.
    db["event_counts"].create(
        {
            "file_sha256": str,
            "run_id": int,
            "subject": str,  # the dyad, AAA-BBB, or the subject itself for all its dyads
            "week": str,  # YYYY-Www
            "events": int,
            "quad1": int,
            "quad2": int,
            "quad3": int,
            "quad4": int,
            "goldstein_sum": float,
            "tone_sum": float,
            "roots": str,  # JSON {"15": count, ...} of CAMEO root codes
            "last_added": str,  # the latest DATEADDED day among the events
        },
        pk=("file_sha256", "subject", "week"),
        not_null={"file_sha256", "run_id", "subject", "week", "events"},
    )
    db["event_counts"].create_index(["subject", "week"])


def _m011_event_ids(db: sqlite_utils.Database) -> None:
    # The GLOBALEVENTID of every event counted, so that an event met again (the same
    # export zipped and unzipped, a 1.0 and a 2.0 file for the same day) is counted once.
    db["event_ids"].create(
        {"event_id": int, "file_sha256": str}, pk="event_id", not_null={"file_sha256"}
    )
    db["event_ids"].create_index(["file_sha256"])


def _m012_outbox_deliveries(db: sqlite_utils.Database) -> None:
    # One row per message and recipient: each recipient gets its own copy, its own
    # attempts, backoff and death, so one refusal does not mark the others, and one
    # acceptance does not hide a refusal. A flusher claims a row (status 'sending',
    # claimed_by, lease_until) before it sends; a claim whose lease ran out (the
    # flusher died) may be claimed again. `outbox.status` stays the message's
    # aggregate: queued while any recipient is queued or sending, sent when all are
    # sent, dead when one is dead and none is left to try.
    db.execute(
        """
        CREATE TABLE outbox_deliveries (
          id INTEGER PRIMARY KEY,
          outbox_id INTEGER NOT NULL REFERENCES outbox(id),
          recipient TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'dead')),
          attempts INTEGER NOT NULL DEFAULT 0,
          next_attempt_at TEXT NOT NULL,
          last_attempt_at TEXT,
          claimed_at TEXT,
          claimed_by TEXT,
          lease_until TEXT,
          sent_at TEXT,
          last_error TEXT,
          UNIQUE (outbox_id, recipient)
        )
        """
    )
    db.execute(
        "CREATE INDEX idx_outbox_deliveries_due ON outbox_deliveries (status, next_attempt_at)"
    )
    rows = db.execute(
        "SELECT id, recipients, status, attempts, next_attempt_at, queued_at, sent_at, last_error "
        "FROM outbox ORDER BY id"
    ).fetchall()
    for oid, recipients, status, attempts, next_at, queued_at, sent_at, error in rows:
        found: list[str] = []
        for part in (recipients or "").split(","):
            if part.strip() and part.strip() not in found:
                found.append(part.strip())
        if not found:
            if status == "queued":  # nobody to send it to: shown, never silently dropped
                db.execute(
                    "UPDATE outbox SET status = 'dead', last_error = ? WHERE id = ?",
                    ["no recipients", oid],
                )
            continue
        state = status if status in ("queued", "sent", "dead") else "queued"
        for address in found:
            db.execute(
                "INSERT INTO outbox_deliveries (outbox_id, recipient, status, attempts, "
                "next_attempt_at, last_attempt_at, sent_at, last_error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    oid, address, state, attempts or 0, next_at or queued_at,
                    None, sent_at if state == "sent" else None,
                    None if state == "sent" else error,
                ],
            )  # fmt: skip


MIGRATIONS: tuple[tuple[str, Callable[[sqlite_utils.Database], None]], ...] = (
    ("001_initial", _m001_initial),
    ("002_views", _m002_views),
    ("003_scoring", _m003_scoring),
    ("004_profile_changes", _m004_profile_changes),
    ("005_forecasts", _m005_forecasts),
    ("006_outbox", _m006_outbox),
    ("007_alerts", _m007_alerts),
    ("008_reports", _m008_reports),
    ("009_job_runs", _m009_job_runs),
    ("010_event_counts", _m010_event_counts),
    ("011_event_ids", _m011_event_ids),
    ("012_outbox_deliveries", _m012_outbox_deliveries),
)


# -- the store -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """What one ingest run did (a row of `ingest_runs`)."""

    id: int
    uri: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_unchanged: int
    rows_rejected: int
    message: str


class Store:
    """A handle on one SQLite file; the only place that writes SQL."""

    def __init__(self, path: str | Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        try:
            self.db = sqlite_utils.Database(self.path)
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open as a SQLite database ({exc})") from None
        self.migrate()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> str:
        return iso_timestamp(self.clock.now())

    def today(self) -> dt.date:
        return self.clock.now().date()

    @contextmanager
    def transaction(self, *, immediate: bool = False) -> Iterator[Store]:
        """All writes inside succeed together or not at all. `immediate` takes the
        write lock at the start, so what is read inside cannot change before the writes
        (check-then-insert across processes)."""
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

    # -- schema ----------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the migrations this file has not seen; return their names."""
        try:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            done = {row[0] for row in self.db.execute("SELECT name FROM migrations")}
            applied = []
            for name, migration in MIGRATIONS:
                if name in done:
                    continue
                with self.db.atomic():
                    migration(self.db)
                    self.db.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                        (name, self.now()),
                    )
                applied.append(name)
            return applied
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot prepare the database ({exc})") from None

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM migrations ORDER BY name")]

    def sync_catalog(self, catalog: Catalog) -> None:
        """Make the families, indicators and sources tables match the catalog.

        Definitions that left the catalog stay (observations may point at them) but are
        marked `in_catalog = 0`.
        """
        with self.db.atomic():
            self.db.execute("UPDATE families SET in_catalog = 0")
            self.db.execute("UPDATE indicators SET in_catalog = 0")
            self.db["families"].upsert_all(
                (
                    {
                        "id": f.id,
                        "name": f.name,
                        "description": f.description,
                        "weight": f.weight,
                        "in_catalog": 1,
                    }
                    for f in catalog.families.values()
                ),
                pk="id",
            )
            self.db["indicators"].upsert_all(
                (_indicator_row(ind, catalog.version) for ind in catalog), pk="id"
            )
            for source in catalog.sources.values():
                self._upsert_source(source.key, vars(source))
            self.db["meta"].upsert({"key": "catalog_version", "value": catalog.version}, pk="key")

    def catalog_version(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'catalog_version'").fetchone()
        return row[0] if row else None

    # -- sources ---------------------------------------------------------------------

    def _upsert_source(self, name: str, fields: dict[str, Any]) -> int:
        columns = ("author", "title", "publisher", "date", "published", "url", "note")
        values = [fields.get(c) for c in columns]
        self.db.execute(
            f"INSERT INTO sources (name, {', '.join(columns)}) VALUES (?{', ?' * len(columns)}) "
            f"ON CONFLICT(name) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns),
            [name, *values],
        )
        return self.source_id(name)

    def source_id(self, name: str) -> int:
        """The id of a source by its short name, creating a bare entry when new."""
        row = self.db.execute("SELECT id FROM sources WHERE name = ?", [name]).fetchone()
        if row:
            return int(row[0])
        cursor = self.db.execute("INSERT INTO sources (name) VALUES (?)", [name])
        return int(cursor.lastrowid or 0)

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

    # Runs whose derived indicators are still to be recomputed. Marked in the run's own
    # transaction and cleared after the derivation commits, so a crash between the two
    # leaves the mark, and the next ingest finishes the work.
    _PENDING_KEY = "derive_pending_runs"

    def mark_derivation_pending(self, run_id: int) -> None:
        self._set_pending(sorted({*self.pending_derivations(), run_id}))

    def pending_derivations(self) -> list[int]:
        row = self.db.execute(
            "SELECT value FROM meta WHERE key = ?", [self._PENDING_KEY]
        ).fetchone()
        return [int(r) for r in json.loads(row[0])] if row and row[0] else []

    def clear_derivations(self, run_ids: Iterable[int]) -> None:
        done = set(run_ids)
        self._set_pending([r for r in self.pending_derivations() if r not in done])

    def _set_pending(self, run_ids: list[int]) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [self._PENDING_KEY, json.dumps(run_ids)],
        )

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
        before = self.conn.total_changes
        self.conn.executemany(_INSERT_EVENT, rows)
        return self.conn.total_changes - before

    def insert_rejects(self, rows: Iterable[Sequence[Any]]) -> None:
        """Insert (run_id, uri, line, field, reason, raw, recorded_at) tuples.

        A raw row longer than MAX_REJECT_RAW characters is cut there, with a note of its
        full length: the input's SHA-256 and the line in `ingest_runs` still find it.
        """
        self.conn.executemany(
            "INSERT INTO rejects (run_id, uri, line, field, reason, raw, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_cap_raw(row) for row in rows),
        )

    # -- scoring records -------------------------------------------------------------

    def data_vintage(self, subject: str) -> str:
        """Names the data a computation saw: the newest record time and the row count."""
        count, newest = self.db.execute(
            "SELECT count(*), max(recorded_at) FROM observations WHERE subject = ?", [subject]
        ).fetchone()
        return f"{newest or '-'}#{count}"

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

    def start_job_run(self, job: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO job_runs (job, started_at, outcome) VALUES (?, ?, 'running')",
            [job, self.now()],
        )
        return int(cursor.lastrowid or 0)

    def finish_job_run(self, run_id: int, outcome: str, detail: str = "", error: str = "") -> None:
        self.db.execute(
            "UPDATE job_runs SET finished_at = ?, outcome = ?, detail = ?, error = ? WHERE id = ?",
            [self.now(), outcome, detail[:2000], error[:2000] or None, run_id],
        )

    def job_runs(self, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM job_runs", []
        if job:
            sql += " WHERE job = ?"
            params.append(job)
        return list(self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]))

    def record_report(self, row: dict[str, Any]) -> int:
        return int(self.db["reports"].insert(dict(row, created_at=self.now())).last_pk or 0)

    def reports(self, subject: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM reports", []
        if subject:
            sql += " WHERE subject = ?"
            params.append(subject)
        return list(self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]))

    def record_sensitivity(self, row: dict[str, Any]) -> int:
        row = dict(row, computed_at=self.now())
        return int(self.db["sensitivity_runs"].insert(row).last_pk or 0)

    def latest_sensitivity(self, subject: str, profile_hash: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM sensitivity_runs WHERE subject = ? AND profile_hash = ? "
            "ORDER BY id DESC LIMIT 1",
            [subject, profile_hash],
        )
        return next(iter(rows), None)

    # -- forecasts ---------------------------------------------------------------------

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

    # -- queries ---------------------------------------------------------------------

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])

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

    def status(self) -> dict[str, Any]:
        """Counts, sizes and the last run: what `db status` shows."""
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        last = self.runs(limit=1)
        period = self.db.execute(
            "SELECT min(period_start), max(period_end), max(recorded_at) FROM observations"
        ).fetchone()
        return {
            "path": str(self.path.resolve()),
            "bytes": size,
            "migrations": self.applied_migrations(),
            "catalog_version": self.catalog_version(),
            "tables": {
                name: self.count(name)
                for name in (
                    "indicators",
                    "sources",
                    "observations",
                    "rejects",
                    "events",
                    "ingest_runs",
                    "alerts",
                    "outbox",
                )
            },
            "outbox": {
                status: n
                for status, n in self.db.execute(
                    "SELECT status, count(*) FROM outbox GROUP BY status ORDER BY status"
                )
            },
            "alerts_active": int(
                self.db.execute(
                    "SELECT count(*) FROM alerts WHERE state IN ('firing', 'acknowledged')"
                ).fetchone()[0]
            ),
            "subjects": sorted(self.subjects()),
            "first_period": period[0],
            "last_period": period[1],
            "last_recorded_at": period[2],
            "last_run": last[0] if last else None,
        }


MAX_REJECT_RAW = 65536


def _cap_raw(row: Sequence[Any]) -> Sequence[Any]:
    raw = row[5]
    if raw is None or len(raw) <= MAX_REJECT_RAW:
        return row
    note = f" [... cut: the row has {len(raw):,} characters]"
    return (*row[:5], raw[:MAX_REJECT_RAW] + note, *row[6:])


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
_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))}) "
    "ON CONFLICT(content_hash) DO NOTHING"
)


def _indicator_row(ind: Any, version: str) -> dict[str, Any]:
    low, high = ind.value_range
    return {
        "id": ind.id,
        "family": ind.family,
        "name": ind.name,
        "description": ind.description,
        "unit": ind.unit,
        "kind": ind.kind,
        "range_min": low,
        "range_max": high,
        "levels": json.dumps(ind.levels) if ind.levels else None,
        "higher_is_riskier": int(ind.higher_is_riskier),
        "direction_reasoning": ind.direction_reasoning,
        "contested": int(ind.contested),
        "frequency": ind.frequency,
        "max_age_days": ind.max_age_days,
        "half_life_days": ind.half_life_days,
        "weight": ind.weight,
        "normalisation": json.dumps(dict(ind.normalisation)),
        "citations": json.dumps(ind.to_dict()["citations"]),
        "in_catalog": 1,
        "catalog_version": version,
    }


def open_store(path: str | Path, *, create: bool = True, clock: Clock | None = None) -> Store:
    """Open (and migrate) a store; with `create=False` a missing file is an error."""
    path = Path(path)
    if not create and not path.exists():
        raise StoreError(f"{path}: no database here (run `early-warning init` first)")
    if path.parent and not path.parent.exists():
        raise StoreError(f"{path}: folder {path.parent} does not exist")
    return Store(path, clock=clock)
