"""Running background jobs on Postgres: claim, finish, release, renew, recover (as
:mod:`db.sqlite.job_runs`, whose docstring explains the fencing and the counting).

A claim locks its rows ``FOR UPDATE SKIP LOCKED``: runners in other processes skip the rows
being claimed instead of waiting for them or claiming them twice. Leases are ``locked_at``,
renewed by the live runner; :func:`recover_jobs` takes back the jobs of dead runners and of
expired leases from any host. A release or a recovery that makes jobs due again wakes every
process's runner (NOTIFY).
"""

from __future__ import annotations

from typing import Any

import psycopg

from db.postgres._sql import notify_jobs, one, rows
from db.postgres.drafts import insert_draft
from db.postgres.jobs import finish_inbound
from db.postgres.leads import set_lead_score
from db.records import JobResult
from db.vocab import FAILED, PENDING, SUCCEEDED

MAX_ERROR_CHARS = 10_000


def _error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def claim_jobs(conn: psycopg.Connection, runner_id: str, now: str, limit: int) -> list[dict]:
    if limit <= 0:
        return []
    claimed = rows(
        conn,
        """WITH due AS (
               SELECT id FROM background_jobs
                WHERE status = 'PENDING' AND run_at <= %(now)s
                ORDER BY run_at, id LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED)
           UPDATE background_jobs AS j
              SET status = 'RUNNING', locked_at = %(now)s, locked_by = %(runner)s,
                  started_at = %(now)s, finished_at = NULL, attempts = j.attempts + 1,
                  updated_at = %(now)s
             FROM due WHERE j.id = due.id
           RETURNING j.*""",
        {"now": now, "runner": runner_id, "limit": limit},
    )
    return sorted(claimed, key=lambda job: (job["run_at"], job["id"]))


_FENCE = "id = %(id)s AND status = 'RUNNING' AND locked_by = %(runner)s AND attempts = %(attempts)s"


def _fence(job: dict, runner_id: str) -> dict[str, Any]:
    return {"id": job["id"], "runner": runner_id, "attempts": job["attempts"]}


def _end(conn: psycopg.Connection, job: dict, runner_id: str, sets: str, **values: Any) -> bool:
    found = one(
        conn,
        f"UPDATE background_jobs SET {sets} WHERE {_FENCE} RETURNING id",
        {**_fence(job, runner_id), **values},
    )
    return found is not None


def _reschedule(
    conn: psycopg.Connection,
    job: dict,
    *,
    runner_id: str,
    now: str,
    run_at: str,
    error: str,
    snooze: bool,
) -> bool:
    return _end(
        conn,
        job,
        runner_id,
        """status = 'PENDING', run_at = %(run_at)s, locked_at = NULL, locked_by = NULL,
           finished_at = NULL, last_error = %(error)s, snoozes = snoozes + %(snooze)s,
           updated_at = %(now)s""",
        now=now,
        run_at=run_at,
        error=_error(error),
        snooze=1 if snooze else 0,
    )


# The writes a handler may hand to its job's finish (``JobResult.writes``), by name.
FINISH_WRITES = {
    "finish_inbound": finish_inbound,
    "insert_draft": insert_draft,
    "set_lead_score": set_lead_score,
}


def _finish_writes(conn: psycopg.Connection, writes: tuple[tuple[str, tuple], ...]) -> None:
    """The handler's last writes (``JobResult.writes``), in the finish's transaction."""
    for name, args in writes:
        FINISH_WRITES[name](conn, *args)


def finish_job(
    conn: psycopg.Connection,
    job: dict,
    result: JobResult,
    runner_id: str,
    now: str,
    claim_limit: int = 0,
) -> tuple[bool, list[dict]]:
    _finish_writes(conn, result.writes)
    if result.status == SUCCEEDED:
        written = _end(
            conn,
            job,
            runner_id,
            """status = 'SUCCEEDED', finished_at = %(now)s, locked_at = NULL, locked_by = NULL,
               last_error = NULL, updated_at = %(now)s""",
            now=now,
        )
    elif result.status == FAILED:
        written = _end(
            conn,
            job,
            runner_id,
            """status = 'FAILED', finished_at = %(now)s, locked_at = NULL, locked_by = NULL,
               last_error = %(error)s, updated_at = %(now)s""",
            now=now,
            error=_error(result.error or "failed"),
        )
    elif result.status == PENDING:
        written = _reschedule(
            conn,
            job,
            runner_id=runner_id,
            now=now,
            run_at=result.run_at or now,
            error=result.error or "",
            snooze=result.snooze,
        )
    else:
        raise ValueError(f"a job cannot end as {result.status!r}")
    claimed = claim_jobs(conn, runner_id, now, claim_limit) if claim_limit > 0 else []
    return written, claimed


def release_jobs(
    conn: psycopg.Connection, jobs: list[dict], runner_id: str, now: str, reason: str
) -> int:
    released = 0
    for job in jobs:
        released += _reschedule(
            conn, job, runner_id=runner_id, now=now, run_at=now, error=reason, snooze=True
        )
    if released:
        notify_jobs(conn)
    return released


def renew_leases(
    conn: psycopg.Connection, runner_id: str, job_ids: list[int], now: str
) -> list[int]:
    ids = list(job_ids)
    if not ids:
        return []
    renewed = rows(
        conn,
        """UPDATE background_jobs SET locked_at = %(now)s
            WHERE status = 'RUNNING' AND locked_by = %(runner)s AND id = ANY(%(ids)s)
           RETURNING id""",
        {"now": now, "runner": runner_id, "ids": ids},
    )
    return [r["id"] for r in renewed]


def running_lockers(conn: psycopg.Connection) -> list[str]:
    found = rows(
        conn,
        "SELECT DISTINCT locked_by FROM background_jobs "
        "WHERE status = 'RUNNING' AND locked_by IS NOT NULL",
    )
    return [r["locked_by"] for r in found]


def recover_jobs(
    conn: psycopg.Connection,
    now: str,
    dead_runners: list[str],
    locked_before: str | None,
    keep_ids: list[int],
) -> dict[str, list[int]]:
    dead = list(dead_runners)
    if not dead and locked_before is None:
        return {"released": [], "failed": []}
    changed = rows(
        conn,
        """UPDATE background_jobs
              SET status = CASE WHEN attempts - snoozes >= max_attempts
                                THEN 'FAILED' ELSE 'PENDING' END,
                  run_at = %(now)s,
                  finished_at = CASE WHEN attempts - snoozes >= max_attempts
                                     THEN %(now)s::timestamptz ELSE NULL END,
                  last_error = CASE WHEN attempts - snoozes >= max_attempts
                       THEN 'abandoned: the runner ' || locked_by || ' stopped during attempt '
                            || attempts || ' of ' || max_attempts || '; no attempts left'
                       ELSE 'recovered: the runner ' || locked_by || ' stopped during attempt '
                            || attempts END,
                  locked_at = NULL, locked_by = NULL, updated_at = %(now)s
            WHERE status = 'RUNNING'
              AND NOT (id = ANY(%(keep)s::bigint[]))
              AND (locked_by = ANY(%(dead)s::text[])
                   OR (%(before)s::timestamptz IS NOT NULL
                       AND (locked_at IS NULL OR locked_at < %(before)s::timestamptz)))
           RETURNING id, status""",
        {"now": now, "dead": dead, "before": locked_before, "keep": list(keep_ids)},
    )
    released = sorted(r["id"] for r in changed if r["status"] == "PENDING")
    if released:
        notify_jobs(conn)
    return {
        "released": released,
        "failed": sorted(r["id"] for r in changed if r["status"] == "FAILED"),
    }


def count_due(conn: psycopg.Connection, now: str) -> int:
    found = one(
        conn,
        "SELECT COUNT(*) AS n FROM background_jobs WHERE status = 'PENDING' AND run_at <= %s",
        (now,),
    )
    return found["n"] if found else 0


def has_due(conn: psycopg.Connection, now: str) -> bool:
    found = one(
        conn,
        "SELECT EXISTS (SELECT 1 FROM background_jobs WHERE status = 'PENDING' "
        "AND run_at <= %s) AS due",
        (now,),
    )
    return bool(found and found["due"])
