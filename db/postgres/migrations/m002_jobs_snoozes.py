"""``background_jobs.snoozes`` and the view ``background_job_summary`` (as SQLite's m002)."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import migration


@migration
def m002_jobs_snoozes(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        ALTER TABLE background_jobs
            ADD COLUMN snoozes integer NOT NULL DEFAULT 0 CHECK (snoozes >= 0);
        CREATE INDEX background_jobs_status_finished_at ON background_jobs (status, finished_at);
        CREATE VIEW background_job_summary AS
            SELECT type, status, COUNT(*) AS jobs, MIN(run_at) AS oldest_run_at,
                   MAX(attempts) AS max_attempts_used
            FROM background_jobs GROUP BY type, status;
        """
    )
