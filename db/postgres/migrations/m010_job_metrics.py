"""m010_job_metrics (as SQLite's): an index for the metrics endpoint's job counts
(``leadhook_jobs``). ``(status, type)`` lets ``Store.job_gauges`` count jobs by status and type
from the index (an index-only scan once the table is vacuumed). Adds an index; changes no row."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import migration


@migration
def m010_job_metrics(conn: psycopg.Connection) -> None:
    conn.execute("CREATE INDEX background_jobs_status_type ON background_jobs (status, type)")
