"""The metrics endpoint's reads (``Store.job_gauges``): indexed, never a scan of the rows.

``background_jobs_status_type`` (m010_job_metrics) covers the counts: SQLite walks that index
in order, grouping as it goes, without reading a row of the table or sorting. The oldest due job
is the first entry of ``background_jobs_status_run_at`` past ``status = 'PENDING'``.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from db.sqlite._connection import one, rows

COUNTS_SQL = (
    "SELECT status, type, COUNT(*) AS jobs FROM background_jobs "
    "GROUP BY status, type ORDER BY status, type"
)
OLDEST_DUE_SQL = (
    "SELECT MIN(run_at) AS run_at FROM background_jobs WHERE status = 'PENDING' AND run_at <= ?"
)


def job_gauges(db: Database, now: str) -> dict[str, Any]:
    counts = [
        {"type": row["type"], "status": row["status"], "jobs": row["jobs"]}
        for row in rows(db, COUNTS_SQL)
    ]
    oldest = one(db, OLDEST_DUE_SQL, (now,))
    return {"jobs": counts, "oldest_due_run_at": oldest["run_at"] if oldest else None}
