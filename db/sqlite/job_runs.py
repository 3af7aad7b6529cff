"""Running background jobs: the runner's claim / finish / release / lease / recover statements.

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
from db.sqlite.drafts import insert_draft
from db.sqlite.jobs import finish_inbound
from db.sqlite.leads import set_lead_score
from db.vocab import FAILED, PENDING, SUCCEEDED

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


# The writes a handler may hand to its job's finish (``JobResult.writes``), by name.
FINISH_WRITES = {
    "finish_inbound": finish_inbound,
    "insert_draft": insert_draft,
    "set_lead_score": set_lead_score,
}


def _finish_writes(db: Database, writes: tuple[tuple[str, tuple], ...]) -> None:
    """The handler's last writes (``JobResult.writes``), in the finish's transaction."""
    for name, args in writes:
        FINISH_WRITES[name](db, *args)


def finish_job(
    db: Database, job: dict, result: JobResult, runner_id: str, now: str, claim_limit: int = 0
) -> tuple[bool, list[dict]]:
    """Write the handler's last writes (``result.writes``) and how this claim ended (fenced),
    then claim up to ``claim_limit`` successors."""
    _finish_writes(db, result.writes)
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
