"""Background jobs on Postgres: enqueue-or-heal, the lead-scoring follow-up, and what
operators read and do (as :mod:`db.sqlite.jobs`). The runner's statements are in
:mod:`db.postgres.job_runs`.

Under READ COMMITTED an enqueue that runs while a prune deletes its job may insert a new row
after the prune commits without having seen the prune's ``pruned_jobs`` row (its snapshot
was older): :func:`enqueue_job` checks ``pruned_jobs`` again after creating a job and takes
the row back when the job had succeeded (one job per message and type, ever); that re-check
and clearing the record of a failed job are one statement. Every enqueue that makes a job
due sends the jobs notification.
"""

from __future__ import annotations

from typing import Any

import psycopg

from db.postgres._sql import notify_jobs, one, rows
from db.postgres.leads import bump_rollups
from db.vocab import (
    DEFAULT_MAX_ATTEMPTS,
    JOB_STATUSES,
    LEAD_SCORING_POST_PROCESS,
    MAX_ATTEMPTS,
    job_dedupe_key,
)

_PRUNED_SUCCESS = "SELECT 1 FROM pruned_jobs WHERE dedupe_key = %(key)s AND status = 'SUCCEEDED'"
_CLEAR_FAILED = "DELETE FROM pruned_jobs WHERE dedupe_key = %(key)s AND status = 'FAILED'"
# After creating a job: one round trip takes the job back when a prune of its success
# committed meanwhile, else clears the record of a failed one.
_RECHECK = f"""WITH hit AS (SELECT EXISTS ({_PRUNED_SUCCESS}) AS pruned),
    taken_back AS (
        DELETE FROM background_jobs WHERE id = %(id)s AND (SELECT pruned FROM hit)),
    cleared AS ({_CLEAR_FAILED} AND NOT (SELECT pruned FROM hit))
SELECT pruned FROM hit"""


def enqueue_job(
    conn: psycopg.Connection,
    job_type: str,
    client_id: int,
    lead_id: int | None,
    message_id: int,
    now: str,
    run_at: str | None = None,
) -> tuple[int | None, bool]:
    """See :func:`db.sqlite.jobs.enqueue_job`."""
    key = job_dedupe_key(client_id, message_id, job_type)
    params = {
        "type": job_type,
        "key": key,
        "client_id": client_id,
        "lead_id": lead_id,
        "message_id": message_id,
        "run_at": run_at or now,
        "max_attempts": MAX_ATTEMPTS.get(job_type, DEFAULT_MAX_ATTEMPTS),
        "now": now,
    }
    row = one(
        conn,
        f"""INSERT INTO background_jobs (type, status, dedupe_key, client_id, lead_id, message_id,
                                        run_at, attempts, max_attempts, created_at, updated_at)
           SELECT %(type)s::text, 'PENDING', %(key)s::text, %(client_id)s::bigint,
                  %(lead_id)s::bigint, %(message_id)s::bigint, %(run_at)s::timestamptz, 0,
                  %(max_attempts)s::integer, %(now)s::timestamptz, %(now)s::timestamptz
            WHERE NOT EXISTS ({_PRUNED_SUCCESS})
           ON CONFLICT (dedupe_key) DO UPDATE SET
               status = 'PENDING', run_at = EXCLUDED.run_at, attempts = 0, snoozes = 0,
               locked_at = NULL, locked_by = NULL, started_at = NULL, finished_at = NULL,
               last_error = NULL, updated_at = EXCLUDED.updated_at
           WHERE background_jobs.status = 'FAILED'
           RETURNING id, (xmax = 0) AS created""",
        params,
    )
    if row is not None:
        if row["created"]:
            # The re-check, in a statement of its own (a new snapshot), and what it decides.
            recheck = one(conn, _RECHECK, {**params, "id": row["id"]})
            if recheck is not None and recheck["pruned"]:
                # A prune committed meanwhile: this job succeeded once and was pruned.
                return None, False
        else:
            conn.execute(_CLEAR_FAILED, params)
        notify_jobs(conn)
        return row["id"], True
    existing = one(conn, "SELECT id FROM background_jobs WHERE dedupe_key = %s", (key,))
    return (existing["id"] if existing else None), False


def get_job(conn: psycopg.Connection, job_id: int) -> dict | None:
    return one(conn, "SELECT * FROM background_jobs WHERE id = %s", (job_id,))


def finish_inbound(conn: psycopg.Connection, message: dict, now: str) -> tuple[int | None, bool]:
    bump_rollups(conn, message["lead_id"], direction="inbound", at=message["sent_at"], now=now)
    return enqueue_job(
        conn,
        LEAD_SCORING_POST_PROCESS,
        message["client_id"],
        message["lead_id"],
        message["id"],
        now,
    )


FAILURES_SQL = (
    "GREATEST(0, attempts - snoozes"
    " - CASE WHEN status IN ('SUCCEEDED', 'RUNNING') THEN 1 ELSE 0 END)"
)


def job_stats(conn: psycopg.Connection, now: str) -> dict[str, Any]:
    counts = rows(
        conn,
        f"SELECT type, status, COUNT(*) AS jobs, SUM({FAILURES_SQL}) AS failures, "
        "SUM(snoozes) AS snoozes FROM background_jobs "
        "GROUP BY type, status ORDER BY type, status",
    )
    oldest = one(
        conn,
        """SELECT id, type, run_at FROM background_jobs
            WHERE status = 'PENDING' AND run_at <= %s ORDER BY run_at, id LIMIT 1""",
        (now,),
    )
    by_status = dict.fromkeys(JOB_STATUSES, 0)
    for row in counts:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["jobs"]
    return {"counts": counts, "by_status": by_status, "oldest_due": oldest}


def list_jobs(
    conn: psycopg.Connection,
    status: str | None = None,
    job_type: str | None = None,
    limit: int = 50,
) -> list[dict]:
    where, params = [], []
    if status:
        where.append("status = %s")
        params.append(status)
    if job_type:
        where.append("type = %s")
        params.append(job_type)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return rows(
        conn,
        f"SELECT *, {FAILURES_SQL} AS failures FROM background_jobs {clause} "
        "ORDER BY id DESC LIMIT %s",
        (*params, max(0, limit)),
    )


def retry_job(conn: psycopg.Connection, job_id: int, now: str) -> tuple[dict | None, bool]:
    reset = one(
        conn,
        """UPDATE background_jobs
              SET status = 'PENDING', run_at = %(now)s, attempts = 0, snoozes = 0,
                  locked_at = NULL, locked_by = NULL, started_at = NULL, finished_at = NULL,
                  last_error = NULL, updated_at = %(now)s
            WHERE id = %(id)s AND status = 'FAILED'
           RETURNING *""",
        {"id": job_id, "now": now},
    )
    if reset is not None:
        notify_jobs(conn)
        return reset, True
    return get_job(conn, job_id), False


def prune_jobs(
    conn: psycopg.Connection, before: str, batch: int = 5000, now: str | None = None
) -> int:
    """See :func:`db.sqlite.jobs.prune_jobs`. The rows are locked (``FOR UPDATE SKIP
    LOCKED``) and their status checked again by each statement, so a job reset meanwhile by
    a redelivery is neither recorded as pruned nor deleted."""
    ids = [
        row["id"]
        for row in rows(
            conn,
            """SELECT id FROM background_jobs
                WHERE status IN ('SUCCEEDED', 'FAILED')
                  AND COALESCE(finished_at, updated_at) < %(before)s
                LIMIT %(batch)s FOR UPDATE SKIP LOCKED""",
            {"before": before, "batch": batch},
        )
    ]
    if not ids:
        return 0
    conn.execute(
        """INSERT INTO pruned_jobs (dedupe_key, type, status, client_id, message_id, attempts,
                                    last_error, finished_at, pruned_at)
           SELECT dedupe_key, type, status, client_id, message_id, attempts, last_error,
                  COALESCE(finished_at, updated_at), %(now)s::timestamptz
             FROM background_jobs
            WHERE id = ANY(%(ids)s) AND message_id IS NOT NULL
              AND status IN ('SUCCEEDED', 'FAILED')
           ON CONFLICT (dedupe_key) DO UPDATE SET
               status = EXCLUDED.status, attempts = EXCLUDED.attempts,
               last_error = EXCLUDED.last_error, finished_at = EXCLUDED.finished_at,
               pruned_at = EXCLUDED.pruned_at""",
        {"now": now or before, "ids": ids},
    )
    deleted = rows(
        conn,
        "DELETE FROM background_jobs WHERE id = ANY(%s) AND status IN ('SUCCEEDED', 'FAILED') "
        "RETURNING id",
        (ids,),
    )
    return len(deleted)
