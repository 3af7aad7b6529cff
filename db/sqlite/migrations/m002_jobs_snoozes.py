"""``background_jobs.snoozes`` and the view ``background_job_summary``."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations


@migrations()
def m002_jobs_snoozes(db: Database) -> None:
    """``snoozes``: retries a handler asked for (rate limits) that are not failures.

    ``attempts`` still counts every claim; failures = attempts - snoozes. The view
    ``background_job_summary`` is what ``leadhook jobs stats`` shows, for the sqlite3 shell.
    """
    db.executescript(
        """
        ALTER TABLE background_jobs ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0 CHECK (snoozes >= 0);
        CREATE INDEX background_jobs_status_finished_at ON background_jobs (status, finished_at);
        CREATE VIEW background_job_summary AS
            SELECT type, status, COUNT(*) AS jobs, MIN(run_at) AS oldest_run_at,
                   MAX(attempts) AS max_attempts_used
            FROM background_jobs GROUP BY type, status;
        """
    )
