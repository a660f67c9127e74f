"""Daemon job runs (what ran, when, how it ended), and the next run times the
scheduler keeps in its own job store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ._connection import Connected


class JobsRepository(Connected):
    """The `job_runs` table."""

    def start_job_run(self, job: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO job_runs (job, started_at, outcome) VALUES (?, ?, 'running')",
            [job, self.now()],
        )
        return int(cursor.lastrowid or 0)

    def finish_job_run(
        self,
        run_id: int,
        outcome: str,
        detail: str = "",
        error: str = "",
        rows_loaded: int | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE job_runs SET finished_at = ?, outcome = ?, detail = ?, error = ?, "
            "rows_loaded = ? WHERE id = ?",
            [self.now(), outcome, detail[:2000], error[:2000] or None, rows_loaded, run_id],
        )

    def source_runs(self, job: str) -> dict[str, dict[str, Any] | None]:
        """A source's first run, its last run, its last run without failure, its last
        run that brought data (`rows_loaded` > 0), and its last run that read a file or
        fetched something: what its health is judged by and what `status` names."""
        found: dict[str, dict[str, Any] | None] = {}
        for key, where, order in (
            ("first", "1 = 1", "ASC"),
            ("last", "outcome != 'running'", "DESC"),
            ("answered", "outcome = 'ok'", "DESC"),
            ("data", "outcome IN ('ok', 'partial') AND rows_loaded > 0", "DESC"),
            ("clean_data", "outcome = 'ok' AND rows_loaded > 0", "DESC"),
            ("failure", "outcome IN ('failed', 'partial', 'interrupted')", "DESC"),
            (
                "file",
                "outcome != 'running' AND detail IS NOT NULL AND detail != '' "
                "AND detail != 'nothing new'",
                "DESC",
            ),
        ):
            rows = self.db.query(
                f"SELECT * FROM job_runs WHERE job = ? AND {where} ORDER BY id {order} LIMIT 1",
                [job],
            )
            found[key] = next(iter(rows), None)
        return found

    def ever_ran(self) -> bool:
        """Whether any daemon job has run on this database before."""
        return next(iter(self.db.query("SELECT 1 FROM job_runs LIMIT 1")), None) is not None

    def job_runs(self, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM job_runs", []
        if job:
            sql += " WHERE job = ?"
            params.append(job)
        return list(self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]))

    def interrupt_running_jobs(self) -> None:
        """Mark every run still `running` as interrupted: called by a daemon that holds
        the daemon lock, so such a run died with an earlier daemon."""
        self.db.execute(
            "UPDATE job_runs SET outcome = 'interrupted', finished_at = ?, error = "
            "'the daemon stopped during this run (killed or crashed)' "
            "WHERE outcome = 'running'",
            [self.now()],
        )


def scheduled_jobs(jobstore: Path) -> dict[str, float | None]:
    """Job id -> next run time (a POSIX timestamp, None when paused), read from the
    APScheduler job store's own SQLite file, read-only and without a scheduler; empty
    when the file or its table is not there yet."""
    scheduled: dict[str, float | None] = {}
    if jobstore.exists():
        with sqlite3.connect(f"file:{jobstore}?mode=ro", uri=True) as db:
            try:
                scheduled = dict(db.execute("SELECT id, next_run_time FROM apscheduler_jobs"))
            except sqlite3.OperationalError:
                scheduled = {}
    return scheduled
