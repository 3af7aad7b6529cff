"""Background jobs: job types, the enqueue-or-heal upsert used by every webhook, and the
runner's claim / complete / retry / recover statements.

Every function here is a *unit of work* ``fn(db, ...)``: it runs inside a transaction the caller
opened (the writer's) and never begins or commits itself.

Fencing: a runner claims jobs with its id in ``locked_by``; ``attempts`` is incremented by
every claim, so ``(locked_by, attempts)`` names one claim exactly. Every write that ends a
claim is ``... WHERE id = ? AND status = 'RUNNING' AND locked_by = ? AND attempts = ?`` and
reports whether it changed the row: a runner whose claim was taken away (its lease expired
and the job was recovered, and perhaps claimed again) writes nothing.

Counting: ``attempts`` is the attempt number (every claim adds one); ``snoozes`` counts the
claims that ended without being a failure (a retry the handler asked for, e.g. after a rate
limit, or a graceful shutdown). failures = attempts - snoozes decides FAILED.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from db.records import JobResult
from db.sqlite._connection import one, rows
from db.sqlite.leads import bump_rollups
from db.vocab import (
    DEFAULT_MAX_ATTEMPTS,
    FAILED,
    JOB_STATUSES,
    LEAD_SCORING_POST_PROCESS,
    MAX_ATTEMPTS,
    PENDING,
    SUCCEEDED,
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
    PENDING, RUNNING, SUCCEEDED → unchanged. Returns ``(job_id, enqueued)`` where
    ``enqueued`` is true exactly when a job was created or reset.
    """
    key = job_dedupe_key(client_id, message_id, job_type)
    row = one(
        db,
        """INSERT INTO background_jobs (type, status, dedupe_key, client_id, lead_id, message_id,
                                        run_at, attempts, max_attempts, created_at, updated_at)
           VALUES (:type, 'PENDING', :key, :client_id, :lead_id, :message_id,
                   :run_at, 0, :max_attempts, :now, :now)
           ON CONFLICT (dedupe_key) DO UPDATE SET
               status = 'PENDING', run_at = excluded.run_at, attempts = 0, snoozes = 0,
               locked_at = NULL, locked_by = NULL, started_at = NULL, finished_at = NULL,
               last_error = NULL, updated_at = excluded.updated_at
           WHERE background_jobs.status = 'FAILED'
           RETURNING id""",
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


# -- running jobs ----------------------------------------------------------------------------

MAX_ERROR_CHARS = 10_000


def _error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def claim_jobs(db: Database, runner_id: str, now: str, limit: int) -> list[dict]:
    """Claim up to ``limit`` due PENDING jobs, oldest ``run_at`` first, in one statement.

    Each claimed row becomes RUNNING with ``locked_by = runner_id``, ``locked_at`` and
    ``started_at = now`` and ``attempts + 1``. Returns the claimed rows in claim order.
    """
    if limit <= 0:
        return []
    claimed = rows(
        db,
        """UPDATE background_jobs
              SET status = 'RUNNING', locked_at = :now, locked_by = :runner, started_at = :now,
                  finished_at = NULL, attempts = attempts + 1, updated_at = :now
            WHERE id IN (SELECT id FROM background_jobs
                          WHERE status = 'PENDING' AND run_at <= :now
                          ORDER BY run_at, id LIMIT :limit)
           RETURNING *""",
        {"now": now, "runner": runner_id, "limit": limit},
    )
    return sorted(claimed, key=lambda job: (job["run_at"], job["id"]))


_FENCE = "id = :id AND status = 'RUNNING' AND locked_by = :runner AND attempts = :attempts"


def _fence(job: dict, runner_id: str) -> dict[str, Any]:
    return {"id": job["id"], "runner": runner_id, "attempts": job["attempts"]}


def _mark_succeeded(db: Database, job: dict, runner_id: str, now: str) -> bool:
    """RUNNING → SUCCEEDED for this claim; False (nothing written) if the claim was lost."""
    found = one(
        db,
        f"""UPDATE background_jobs
               SET status = 'SUCCEEDED', finished_at = :now, locked_at = NULL, locked_by = NULL,
                   last_error = NULL, updated_at = :now
             WHERE {_FENCE} RETURNING id""",
        {**_fence(job, runner_id), "now": now},
    )
    return found is not None


def _mark_failed(db: Database, job: dict, runner_id: str, now: str, error: str) -> bool:
    """RUNNING → FAILED (no more attempts) for this claim; False if the claim was lost."""
    found = one(
        db,
        f"""UPDATE background_jobs
               SET status = 'FAILED', finished_at = :now, locked_at = NULL, locked_by = NULL,
                   last_error = :error, updated_at = :now
             WHERE {_FENCE} RETURNING id""",
        {**_fence(job, runner_id), "now": now, "error": _error(error)},
    )
    return found is not None


def _reschedule(
    db: Database,
    job: dict,
    *,
    runner_id: str,
    now: str,
    run_at: str,
    error: str,
    snooze: bool,
) -> bool:
    """RUNNING → PENDING at ``run_at`` with ``last_error`` for this claim.

    ``snooze=True`` adds one to ``snoozes``: this attempt is not a failure (a retry the handler
    asked for, or a graceful shutdown). False if the claim was lost.
    """
    found = one(
        db,
        f"""UPDATE background_jobs
               SET status = 'PENDING', run_at = :run_at, locked_at = NULL, locked_by = NULL,
                   finished_at = NULL, last_error = :error, snoozes = snoozes + :snooze,
                   updated_at = :now
             WHERE {_FENCE} RETURNING id""",
        {
            **_fence(job, runner_id),
            "now": now,
            "run_at": run_at,
            "error": _error(error),
            "snooze": 1 if snooze else 0,
        },
    )
    return found is not None


def finish_job(
    db: Database, job: dict, result: JobResult, runner_id: str, now: str, claim_limit: int = 0
) -> tuple[bool, list[dict]]:
    """Write how this claim ended (fenced), then claim up to ``claim_limit`` successors."""
    if result.status == SUCCEEDED:
        written = _mark_succeeded(db, job, runner_id, now)
    elif result.status == FAILED:
        written = _mark_failed(db, job, runner_id, now, result.error or "failed")
    elif result.status == PENDING:
        written = _reschedule(
            db,
            job,
            runner_id=runner_id,
            now=now,
            run_at=result.run_at or now,
            error=result.error or "",
            snooze=result.snooze,
        )
    else:
        raise ValueError(f"a job cannot end as {result.status!r}")
    claimed = claim_jobs(db, runner_id, now, claim_limit) if claim_limit > 0 else []
    return written, claimed


def release_jobs(db: Database, jobs: list[dict], runner_id: str, now: str, reason: str) -> int:
    """Put these claims back to PENDING now; a snooze, not a failure. Returns how many."""
    released = 0
    for job in jobs:
        released += _reschedule(
            db, job, runner_id=runner_id, now=now, run_at=now, error=reason, snooze=True
        )
    return released


def renew_leases(db: Database, runner_id: str, job_ids: list[int], now: str) -> list[int]:
    """Move ``locked_at`` of this runner's RUNNING jobs to ``now``; return the ids renewed."""
    ids = list(job_ids)
    if not ids:
        return []
    renewed = rows(
        db,
        """UPDATE background_jobs SET locked_at = :now
            WHERE status = 'RUNNING' AND locked_by = :runner
              AND id IN (SELECT value FROM json_each(:ids))
           RETURNING id""",
        {"now": now, "runner": runner_id, "ids": json.dumps(ids)},
    )
    return [r["id"] for r in renewed]


def running_lockers(db: Database) -> list[str]:
    """The distinct ``locked_by`` of RUNNING jobs (the runners that hold claims)."""
    found = rows(
        db,
        "SELECT DISTINCT locked_by FROM background_jobs "
        "WHERE status = 'RUNNING' AND locked_by IS NOT NULL",
    )
    return [r["locked_by"] for r in found]


def recover_jobs(
    db: Database,
    now: str,
    dead_runners: list[str],
    locked_before: str | None,
    keep_ids: list[int],
) -> dict[str, list[int]]:
    """Take back RUNNING jobs whose runner is gone: those locked by ``dead_runners``, and
    those whose lease expired (``locked_at < locked_before``), except ``keep_ids``.

    A recovered job goes back to PENDING now (its interrupted attempt is not a failure of
    its own), unless it has used all its attempts (attempts - snoozes >= max_attempts: a job
    that keeps killing its process must stop), in which case it is FAILED with a clear
    ``last_error``. Returns ``{"released": [ids], "failed": [ids]}``.
    """
    dead = list(dead_runners)
    if not dead and locked_before is None:
        return {"released": [], "failed": []}
    changed = rows(
        db,
        """UPDATE background_jobs
              SET status = CASE WHEN attempts - snoozes >= max_attempts
                                THEN 'FAILED' ELSE 'PENDING' END,
                  run_at = :now,
                  finished_at = CASE WHEN attempts - snoozes >= max_attempts
                                     THEN :now ELSE NULL END,
                  last_error = CASE WHEN attempts - snoozes >= max_attempts
                       THEN 'abandoned: the runner ' || locked_by || ' stopped during attempt '
                            || attempts || ' of ' || max_attempts || '; no attempts left'
                       ELSE 'recovered: the runner ' || locked_by || ' stopped during attempt '
                            || attempts END,
                  locked_at = NULL, locked_by = NULL, updated_at = :now
            WHERE status = 'RUNNING'
              AND id NOT IN (SELECT value FROM json_each(:keep))
              AND (locked_by IN (SELECT value FROM json_each(:dead))
                   OR (:before IS NOT NULL AND (locked_at IS NULL OR locked_at < :before)))
           RETURNING id, status""",
        {
            "now": now,
            "dead": json.dumps(dead),
            "before": locked_before,
            "keep": json.dumps(list(keep_ids)),
        },
    )
    return {
        "released": sorted(r["id"] for r in changed if r["status"] == "PENDING"),
        "failed": sorted(r["id"] for r in changed if r["status"] == "FAILED"),
    }


def count_due(db: Database, now: str) -> int:
    """PENDING jobs whose ``run_at`` has come."""
    found = one(
        db,
        "SELECT COUNT(*) AS n FROM background_jobs WHERE status = 'PENDING' AND run_at <= ?",
        (now,),
    )
    return found["n"] if found else 0


def has_due(db: Database, now: str) -> bool:
    """Whether any PENDING job is due (one index probe)."""
    found = one(
        db,
        "SELECT EXISTS (SELECT 1 FROM background_jobs WHERE status = 'PENDING' AND run_at <= ?)"
        " AS due",
        (now,),
    )
    return bool(found and found["due"])


def job_stats(db: Database, now: str) -> dict[str, Any]:
    """Counts by type and status, and the oldest due PENDING job (for ``jobs stats``)."""
    counts = rows(
        db,
        "SELECT type, status, COUNT(*) AS jobs FROM background_jobs "
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
    """Jobs, newest first, optionally of one status and/or type."""
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
        f"SELECT * FROM background_jobs {clause} ORDER BY id DESC LIMIT ?",
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


def prune_jobs(db: Database, before: str, batch: int = 5000) -> int:
    """Delete at most ``batch`` SUCCEEDED/FAILED jobs that finished before ``before``.

    PENDING and RUNNING jobs are never pruned. Call again while it returns ``batch`` (each
    call is a short transaction). Returns the number deleted.
    """
    deleted = rows(
        db,
        """DELETE FROM background_jobs
            WHERE id IN (SELECT id FROM background_jobs
                          WHERE status IN ('SUCCEEDED', 'FAILED')
                            AND COALESCE(finished_at, updated_at) < :before
                          LIMIT :batch)
           RETURNING id""",
        {"before": before, "batch": batch},
    )
    return len(deleted)
