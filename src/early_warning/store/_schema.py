"""Schema and migrations: every table, index and view, in the order they were made.

Each migration runs once, in order, inside a transaction, and is recorded in the
`migrations` table. Never edit a released migration: add a new one (an existing
database is brought forward by exactly the ones it has not seen).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import StoreError
from ._connection import Connected

if TYPE_CHECKING:
    import sqlite_utils  # loaded by `_connection`, which keeps pandas out of it

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


def _m013_one_audit_vocabulary(db: sqlite_utils.Database) -> None:
    # `weights set` wrote "set", the workbench "saved" and "updated": one vocabulary
    # now, "created" for a profile's first file and "changed" for every later one.
    db.execute("UPDATE weight_profiles SET action = 'created' WHERE action = 'saved'")
    db.execute("UPDATE weight_profiles SET action = 'changed' WHERE action = 'updated'")
    db.execute(
        "UPDATE weight_profiles SET action = CASE WHEN EXISTS (SELECT 1 FROM weight_profiles "
        "AS earlier WHERE earlier.name = weight_profiles.name AND earlier.id < weight_profiles.id "
        "AND earlier.action IN ('created', 'changed', 'set')) THEN 'changed' ELSE 'created' END "
        "WHERE action = 'set'"
    )


def _m014_warnings_and_lapses(db: sqlite_utils.Database) -> None:
    # The one warning level of a week (alerts/warning.py), kept when the pipeline or
    # `score --record` computes it, so `status` can show it without recomputing; and
    # why an alert ended: its condition cleared, or its evidence went stale (lapsed).
    db["warnings"].create(
        {
            "id": int,
            "subject": str,
            "week": str,
            "as_of": str,
            "profile_hash": str,
            "level": str,
            "record": str,
            "computed_at": str,
        },
        pk="id",
        not_null={"subject", "week", "as_of", "profile_hash", "level", "record", "computed_at"},
    )
    db["warnings"].create_index(["subject", "as_of", "profile_hash", "record"], unique=True)
    db["alerts"].add_column("resolution", str)


def _m015_source_runs(db: sqlite_utils.Database) -> None:
    # How many rows a source's run brought (NULL for other jobs), so that `status` can
    # tell a source that answers from one that brings data (a feed can fall silent).
    db["job_runs"].add_column("rows_loaded", int)


def _m016_country_years(db: sqlite_utils.Database) -> None:
    # The structural model's inputs for every country (forecast/structural.py): one row
    # per published country-year value (GDP, military spending), a revision a new row
    # known from its file, as observations are; and its recorded forecasts, one row per
    # country, year and outcome, which the weekly forecast reads as its prior.
    db["country_years"].create(
        {
            "id": int,
            "subject": str,
            "year": int,
            "indicator": str,
            "value": float,
            "source": str,
            "citation": str,
            "note": str,
            "known_from": str,
            "recorded_at": str,
            "run_id": int,
        },
        pk="id",
        not_null={"subject", "year", "indicator", "value", "source", "known_from"},
    )
    db["country_years"].create_index(
        ["indicator", "subject", "year", "source", "value"], unique=True
    )
    db["structural_forecasts"].create(
        {
            "id": int,
            "subject": str,
            "as_of": str,
            "year": int,
            "outcome": str,
            "probability": float,
            "rank": int,
            "ranked": int,
            "status": str,
            "data_year": int,
            "drivers": str,
            "spec_hash": str,
            "data_vintage": str,
            "computed_at": str,
        },
        pk="id",
        not_null={"subject", "as_of", "year", "outcome", "probability", "computed_at"},
    )
    db["structural_forecasts"].create_index(
        ["subject", "year", "outcome", "as_of", "spec_hash", "data_vintage"], unique=True
    )


def _m017_rule_scores(db: sqlite_utils.Database) -> None:
    # Every rule's track record: a point-in-time replay scored against the event
    # record (alerts/skill.py), kept by `alerts replay --score --record` and the demo,
    # read by the weekly report. `rules` maps each rule to the hash of its definition,
    # so a score is shown only for the rules it was computed for.
    db["rule_scores"].create(
        {
            "id": int,
            "subject": str,
            "start": str,
            "end": str,
            "severity": int,
            "horizons": str,
            "profile": str,
            "profile_hash": str,
            "rules": str,
            "record": str,
            "computed_at": str,
        },
        pk="id",
        not_null={"subject", "start", "end", "profile_hash", "rules", "record", "computed_at"},
    )
    db["rule_scores"].create_index(["subject", "profile_hash"])


def _m018_feed_items(db: sqlite_utils.Database) -> None:
    # What each live feed ([sources.NAME] feed = ...) has fetched and ingested, one row
    # per publication (a GDELT 15-minute export, by its URL): a restart fetches none of
    # them again, and the newest stamp is where a catch-up from the master list starts;
    # one that failed (a wrong MD5, a cut download) is tried again, five times at most.
    db["feed_items"].create(
        {
            "feed": str,  # the source's name
            "item": str,  # the URL of the publication
            "stamp": str,  # its publication time as the publisher names it, sortable
            "md5": str,  # as the publisher's index gave it (checked)
            "size": int,
            "run_id": int,  # the ingest run that read it
            "outcome": str,  # ok | failed (tried again) | given up (after 5 attempts)
            "attempts": int,
            "detail": str,
            "fetched_at": str,
        },
        pk=("feed", "item"),
        not_null={"feed", "item", "stamp", "fetched_at"},
    )
    db["feed_items"].create_index(["feed", "stamp"])


def _m021_event_mentions(db: sqlite_utils.Database) -> None:
    # The mentions behind each file's sums (GDELT's NumMentions), and the Goldstein
    # scale summed weighted by them, for the mention-weighted Goldstein mean. Rows
    # recorded before this migration keep NULL (not 0: their mentions are unknown),
    # and a week that adds up such a row gets no weighted mean until its file is
    # ingested again.
    db.execute("ALTER TABLE event_counts ADD COLUMN mentions INTEGER")
    db.execute("ALTER TABLE event_counts ADD COLUMN goldstein_mentions_sum FLOAT")


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
    ("013_one_audit_vocabulary", _m013_one_audit_vocabulary),
    ("014_warnings_and_lapses", _m014_warnings_and_lapses),
    ("015_source_runs", _m015_source_runs),
    ("016_country_years", _m016_country_years),
    ("017_rule_scores", _m017_rule_scores),
    ("018_feed_items", _m018_feed_items),
    ("021_event_mentions", _m021_event_mentions),
)


class SchemaMixin(Connected):
    """Bringing a database to the current schema, and saying where it stands."""

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
