"""m010_job_metrics: an index for the metrics endpoint's job counts (``leadhook_jobs``).

``(status, type)`` lets ``Store.job_gauges`` count jobs by status and type from the index
alone, in order, at every scrape. Adds an index; changes no row.
"""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations


@migrations()
def m010_job_metrics(db: Database) -> None:
    db.execute("CREATE INDEX background_jobs_status_type ON background_jobs (status, type)")
