"""Background jobs: the enqueue-or-heal upsert every webhook uses, the lead-scoring follow-up,
and what operators read and do (stats, listing, retry, pruning). The runner's statements are
in :mod:`db.sqlite.job_runs`.

Every function here is a *unit of work* ``fn(db, ...)``: it runs inside a transaction the caller
opened (the writer's) and never begins or commits itself.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from db.sqlite._connection import one, rows
from db.sqlite.leads import bump_rollups
from db.vocab import (
    DEFAULT_MAX_ATTEMPTS,
    JOB_STATUSES,
    LEAD_SCORING_POST_PROCESS,
    MAX_ATTEMPTS,
    job_dedupe_key,
)


def enqueue_job(
    db: Database,
    job_type: str,
    client_id: int,
    lead_id: int | None,
    message_id: int,
    now: str,
    run_at: str | None = None,
) -> tuple[int | None, bool]:
    """Create the message's job of this type, or heal it (DESIGN.md state table).

    none → created PENDING; FAILED → back to PENDING now, attempts reset, locks cleared;
    PENDING, RUNNING, SUCCEEDED → unchanged. A job pruned after success (its key in
    ``pruned_jobs`` as SUCCEEDED) counts as SUCCEEDED: never created again (one job per
    message and type, ever), checked by the insert itself; one pruned after failure is
    created again, like a FAILED one is reset. Returns ``(job_id, enqueued)`` where
    ``enqueued`` is true exactly when a job was created or reset (``job_id`` is None for a
    pruned job).
    """
    key = job_dedupe_key(client_id, message_id, job_type)
    row = one(
        db,
        """INSERT INTO background_jobs (type, status, dedupe_key, client_id, lead_id, message_id,
                                        run_at, attempts, max_attempts, created_at, updated_at)
           SELECT :type, 'PENDING', :key, :client_id, :lead_id, :message_id,
                  :run_at, 0, :max_attempts, :now, :now
            WHERE NOT EXISTS (SELECT 1 FROM pruned_jobs
                               WHERE dedupe_key = :key AND status = 'SUCCEEDED')
           ON CONFLICT (dedupe_key) DO UPDATE SET
               status = 'PENDING', run_at = excluded.run_at, attempts = 0, snoozes = 0,
               locked_at = NULL, locked_by = NULL, started_at = NULL, finished_at = NULL,
               last_error = NULL, updated_at = excluded.updated_at
           WHERE background_jobs.status = 'FAILED'
           RETURNING id, EXISTS (SELECT 1 FROM pruned_jobs
                                  WHERE dedupe_key = :key AND status = 'FAILED') AS revived""",
        {
            "type": job_type,
            "key": key,
            "client_id": client_id,
            "lead_id": lead_id,
            "message_id": message_id,
            "run_at": run_at or now,
            "max_attempts": MAX_ATTEMPTS.get(job_type, DEFAULT_MAX_ATTEMPTS),
            "now": now,
        },
    )
    if row is not None:
        # A job pruned after failure lives again: its key is a job's again, not a pruned one.
        # (Asked in the insert's RETURNING: the DELETE runs only when there is one.)
        if row["revived"]:
            db.execute("DELETE FROM pruned_jobs WHERE dedupe_key = ? AND status = 'FAILED'", (key,))
        return row["id"], True
    existing = one(db, "SELECT id FROM background_jobs WHERE dedupe_key = ?", (key,))
    return (existing["id"] if existing else None), False


def get_job(db: Database, job_id: int) -> dict | None:
    return one(db, "SELECT * FROM background_jobs WHERE id = ?", (job_id,))


def finish_inbound(db: Database, message: dict, now: str) -> tuple[int | None, bool]:
    """After an inbound message's post-processing: advance the lead's roll-ups (idempotent:
    they only move forward) and enqueue its lead-scoring job."""
    bump_rollups(db, message["lead_id"], direction="inbound", at=message["sent_at"], now=now)
    return enqueue_job(
        db,
        LEAD_SCORING_POST_PROCESS,
        message["client_id"],
        message["lead_id"],
        message["id"],
        now,
    )


# The attempts of a job that failed (and count toward max_attempts): every claim but the
# snoozes (rate limits, shutdowns) and, for a SUCCEEDED or RUNNING job, its last claim.
FAILURES_SQL = (
    "MAX(0, attempts - snoozes - CASE WHEN status IN ('SUCCEEDED', 'RUNNING') THEN 1 ELSE 0 END)"
)


def job_stats(db: Database, now: str) -> dict[str, Any]:
    """Counts by type and status, with the failed attempts and the snoozes of those jobs
    (``failures``, ``snoozes``), and the oldest due PENDING job (for ``jobs stats``)."""
    counts = rows(
        db,
        f"SELECT type, status, COUNT(*) AS jobs, SUM({FAILURES_SQL}) AS failures, "
        "SUM(snoozes) AS snoozes FROM background_jobs "
        "GROUP BY type, status ORDER BY type, status",
    )
    oldest = one(
        db,
        """SELECT id, type, run_at FROM background_jobs
            WHERE status = 'PENDING' AND run_at <= ? ORDER BY run_at, id LIMIT 1""",
        (now,),
    )
    by_status = dict.fromkeys(JOB_STATUSES, 0)
    for row in counts:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["jobs"]
    return {"counts": counts, "by_status": by_status, "oldest_due": oldest}


def list_jobs(
    db: Database,
    status: str | None = None,
    job_type: str | None = None,
    limit: int = 50,
) -> list[dict]:
    """Jobs, newest first, optionally of one status and/or type; each row also has
    ``failures``: its failed attempts (see :data:`FAILURES_SQL`)."""
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if job_type:
        where.append("type = ?")
        params.append(job_type)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return rows(
        db,
        f"SELECT *, {FAILURES_SQL} AS failures FROM background_jobs {clause} "
        "ORDER BY id DESC LIMIT ?",
        (*params, max(0, limit)),
    )


def retry_job(db: Database, job_id: int, now: str) -> tuple[dict | None, bool]:
    """FAILED → PENDING now, attempts and snoozes reset, locks and error cleared.

    Returns ``(job, retried)``: the job as it is after the call (None if there is no such
    job) and whether it was reset. Only FAILED jobs are reset: a PENDING one is already
    queued, a RUNNING one would run twice at once, a SUCCEEDED one would spend twice.
    """
    reset = one(
        db,
        """UPDATE background_jobs
              SET status = 'PENDING', run_at = :now, attempts = 0, snoozes = 0,
                  locked_at = NULL, locked_by = NULL, started_at = NULL, finished_at = NULL,
                  last_error = NULL, updated_at = :now
            WHERE id = :id AND status = 'FAILED'
           RETURNING *""",
        {"id": job_id, "now": now},
    )
    if reset is not None:
        return reset, True
    return get_job(db, job_id), False


def prune_jobs(db: Database, before: str, batch: int = 5000, now: str | None = None) -> int:
    """Delete at most ``batch`` SUCCEEDED/FAILED jobs that finished before ``before``.

    PENDING and RUNNING jobs are never pruned. A pruned job of a message leaves its dedupe
    key, final status, attempts, last error and finish time in ``pruned_jobs``, in the same
    transaction, so :func:`enqueue_job` never creates a job again that succeeded. Call again
    while it returns ``batch`` (each call is a short transaction). Returns the number deleted.
    """
    ids = [
        row["id"]
        for row in rows(
            db,
            """SELECT id FROM background_jobs
                WHERE status IN ('SUCCEEDED', 'FAILED')
                  AND COALESCE(finished_at, updated_at) < :before
                LIMIT :batch""",
            {"before": before, "batch": batch},
        )
    ]
    if not ids:
        return 0
    marks = ", ".join("?" for _ in ids)
    db.execute(
        f"""INSERT INTO pruned_jobs (dedupe_key, type, status, client_id, message_id, attempts,
                                     last_error, finished_at, pruned_at)
            SELECT dedupe_key, type, status, client_id, message_id, attempts, last_error,
                   COALESCE(finished_at, updated_at), ?
              FROM background_jobs
             WHERE id IN ({marks}) AND message_id IS NOT NULL
            ON CONFLICT (dedupe_key) DO UPDATE SET
                status = excluded.status, attempts = excluded.attempts,
                last_error = excluded.last_error, finished_at = excluded.finished_at,
                pruned_at = excluded.pruned_at""",
        (now or before, *ids),
    )
    deleted = rows(db, f"DELETE FROM background_jobs WHERE id IN ({marks}) RETURNING id", ids)
    return len(deleted)
