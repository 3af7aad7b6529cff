"""The metrics endpoint's reads (``Store.job_gauges``), as SQLite's: the counts from the
``(status, type)`` index (m010_job_metrics), the oldest due job from ``(status, run_at)``."""

from __future__ import annotations

from typing import Any

import psycopg

from db.postgres._sql import one, rows

COUNTS_SQL = (
    "SELECT status, type, COUNT(*) AS jobs FROM background_jobs "
    "GROUP BY status, type ORDER BY status, type"
)
OLDEST_DUE_SQL = (
    "SELECT MIN(run_at) AS run_at FROM background_jobs "
    "WHERE status = 'PENDING' AND run_at <= %s::timestamptz"
)


def job_gauges(conn: psycopg.Connection, now: str) -> dict[str, Any]:
    counts = [
        {"type": row["type"], "status": row["status"], "jobs": row["jobs"]}
        for row in rows(conn, COUNTS_SQL)
    ]
    oldest = one(conn, OLDEST_DUE_SQL, (now,))
    return {"jobs": counts, "oldest_due_run_at": oldest["run_at"] if oldest else None}
