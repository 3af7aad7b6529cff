"""What the operator console and the day-two commands read and do: the overview's figures,
jobs found by filter (retry-all, discard), one job with its message and AI rows, leads and
their timeline, drafts approved or rejected, and facts about the database file.

Lists are read newest first by keyset (``id < before_id``, never OFFSET) through the indexes
of migration ``m009_console``. Write functions are units of work for the writer (they never
BEGIN or COMMIT). A refused action returns its reason instead of raising: ``(row, reason)``.
The AI spend figures are in :mod:`db.sqlite.spend`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from sqlite_utils import Database

from db.sqlite._connection import one, rows
from db.time import iso, parse_iso
from db.vocab import BLACKLISTED, DISCARDED, JOB_STATUSES

MAX_PAGE = 500
TIMELINE_LIMIT = 200
_JOB_FILTERS = ("status", "type", "client_id", "error", "lead_id")


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def _job_where(
    filters: dict[str, Any], before_id: int | None = None, table: str = "background_jobs"
) -> tuple[str, dict]:
    """The WHERE clause of a job filter: ``status``, ``type``, ``client_id``, ``lead_id``
    (equalities) and ``error`` (a case-insensitive substring of ``last_error``)."""
    unknown = set(filters) - set(_JOB_FILTERS)
    if unknown:
        raise ValueError(f"not job filters: {sorted(unknown)}")
    where, params = [], {}
    for name in ("status", "type", "client_id", "lead_id"):
        if filters.get(name) not in (None, ""):
            where.append(f"{table}.{name} = :{name}")
            params[name] = filters[name]
    if filters.get("error"):
        where.append(
            f"{table}.last_error IS NOT NULL"
            f" AND instr(lower({table}.last_error), lower(:error)) > 0"
        )
        params["error"] = filters["error"]
    if before_id is not None:
        where.append(f"{table}.id < :before_id")
        params["before_id"] = before_id
    return (" WHERE " + " AND ".join(where)) if where else "", params


_NOT_DISCARDED = (
    " AND (last_error IS NULL OR substr(last_error, 1, length(:discarded)) != :discarded)"
)


# -- the overview ------------------------------------------------------------------------------


def console_overview(database: Database, now: str) -> dict[str, Any]:
    """Jobs by status, the oldest due one, jobs that failed in the last 24 hours (discarded
    ones are not failures), the number of messages, clients and leads."""
    by_status = dict.fromkeys(JOB_STATUSES, 0)
    for status in JOB_STATUSES:  # one index range each: no scan of the whole table
        found = one(
            database, "SELECT COUNT(*) AS n FROM background_jobs WHERE status = ?", (status,)
        )
        by_status[status] = found["n"] if found else 0
    oldest = one(
        database,
        """SELECT id, type, run_at FROM background_jobs
            WHERE status = 'PENDING' AND run_at <= ? ORDER BY run_at, id LIMIT 1""",
        (now,),
    )
    day_ago = iso(parse_iso(now) - timedelta(days=1))
    failed = one(
        database,
        "SELECT COUNT(*) AS n FROM background_jobs WHERE status = 'FAILED'"
        f" AND finished_at >= :since{_NOT_DISCARDED}",
        {"since": day_ago, "discarded": DISCARDED},
    )
    counts = one(
        database,
        """SELECT (SELECT COUNT(*) FROM messages) AS messages,
                  (SELECT COUNT(*) FROM clients) AS clients,
                  (SELECT COUNT(*) FROM clients WHERE disabled_at IS NOT NULL) AS disabled,
                  (SELECT COUNT(*) FROM leads) AS leads""",
    )
    assert counts is not None and failed is not None
    return {
        "by_status": by_status,
        "oldest_due": oldest,
        "failed_24h": failed["n"],
        "messages_total": counts["messages"],
        "clients": counts["clients"],
        "disabled_clients": counts["disabled"],
        "leads_total": counts["leads"],
    }


# -- jobs --------------------------------------------------------------------------------------


def find_jobs(
    database: Database, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    """Jobs matching ``filters`` (see :func:`_job_where`), newest first, ``id < before_id``."""
    where, params = _job_where(filters, before_id)
    params["limit"] = _limit(limit)
    return rows(
        database,
        f"""SELECT background_jobs.*, clients.name AS client_name FROM background_jobs
              LEFT JOIN clients ON clients.id = background_jobs.client_id
            {where}
            ORDER BY background_jobs.id DESC LIMIT :limit""",
        params,
    )


def _retryable(filters: dict[str, Any]) -> tuple[str, dict]:
    where, params = _job_where({**filters, "status": "FAILED"})
    return where + _NOT_DISCARDED, {**params, "discarded": DISCARDED}


def count_retryable(database: Database, filters: dict[str, Any]) -> dict[str, Any]:
    """How many FAILED jobs match ``filters`` (discarded ones left out) and the highest id
    among them: retry-all confirms this count and retries up to that id."""
    where, params = _retryable(filters)
    sql = f"SELECT COUNT(*) AS count, MAX(id) AS upto_id FROM background_jobs{where}"
    found = one(database, sql, params)
    assert found is not None
    return found


def retry_failed_jobs(
    database: Database, filters: dict[str, Any], upto_id: int, now: str, batch: int
) -> int:
    """One batch of retry-all: at most ``batch`` FAILED jobs matching ``filters`` with
    ``id <= upto_id`` (discarded ones left out) back to PENDING now, as ``retry_job`` does.
    Returns how many; the caller repeats while a full batch was retried."""
    where, params = _retryable(filters)
    params.update(upto_id=upto_id, now=now, batch=batch)
    reset = rows(
        database,
        f"""UPDATE background_jobs
               SET status = 'PENDING', run_at = :now, attempts = 0, snoozes = 0,
                   locked_at = NULL, locked_by = NULL, started_at = NULL, finished_at = NULL,
                   last_error = NULL, updated_at = :now
             WHERE id IN (SELECT id FROM background_jobs{where} AND id <= :upto_id
                          ORDER BY id LIMIT :batch)
            RETURNING id""",
        params,
    )
    return len(reset)


_DISCARD_REFUSALS = {
    "RUNNING": "it is RUNNING now; wait until it ends (a running job cannot be stopped)",
    "SUCCEEDED": "it SUCCEEDED; there is nothing left to discard",
}


def discard_job(database: Database, job_id: int, now: str) -> tuple[dict | None, str | None]:
    """A PENDING or FAILED job becomes FAILED with ``last_error`` starting ``discarded by
    operator`` (a FAILED job's own error follows in parentheses). The runner never claims
    it, retry-all leaves it alone; ``retry_job`` or a redelivery of its message still can
    bring it back. ``(job, None)`` when discarded, ``(job, reason)`` when refused,
    ``(None, reason)`` when there is no such job."""
    job = one(
        database,
        f"""UPDATE background_jobs
              SET last_error = :discarded || CASE
                      WHEN status = 'FAILED' AND last_error IS NOT NULL
                      THEN ' (it had failed: ' || last_error || ')' ELSE '' END,
                  status = 'FAILED', finished_at = :now,
                  locked_at = NULL, locked_by = NULL, updated_at = :now
            WHERE id = :id AND status IN ('PENDING', 'FAILED'){_NOT_DISCARDED}
           RETURNING *""",
        {"id": job_id, "now": now, "discarded": DISCARDED},
    )
    if job is not None:
        return job, None
    job = one(database, "SELECT * FROM background_jobs WHERE id = ?", (job_id,))
    if job is None:
        return None, f"no job {job_id}"
    if job["status"] == "FAILED":
        return job, "it is already discarded"
    return job, _DISCARD_REFUSALS.get(job["status"], f"its status is {job['status']}")


def job_detail(database: Database, job_id: int) -> dict[str, Any] | None:
    """The job, its client's name, its message and lead, and its AI rows (oldest first)."""
    job = one(
        database,
        """SELECT background_jobs.*, clients.name AS client_name FROM background_jobs
             LEFT JOIN clients ON clients.id = background_jobs.client_id
            WHERE background_jobs.id = ?""",
        (job_id,),
    )
    if job is None:
        return None
    message = one(database, "SELECT * FROM messages WHERE id = ?", (job["message_id"],))
    lead = one(database, "SELECT * FROM leads WHERE id = ?", (job["lead_id"],))
    interactions = rows(
        database,
        "SELECT * FROM ai_interactions WHERE background_job_id = ? ORDER BY id LIMIT 500",
        (job_id,),
    )
    return {"job": job, "message": message, "lead": lead, "interactions": interactions}


# -- leads -------------------------------------------------------------------------------------


def list_leads(
    database: Database, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    """Leads newest first, by ``client_id`` and/or ``status``."""
    where, params = [], {"limit": _limit(limit)}
    for name in ("client_id", "status"):
        if filters.get(name) not in (None, ""):
            where.append(f"leads.{name} = :{name}")
            params[name] = filters[name]
    if before_id is not None:
        where.append("leads.id < :before_id")
        params["before_id"] = before_id
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return rows(
        database,
        f"""SELECT leads.*, clients.name AS client_name FROM leads
              JOIN clients ON clients.id = leads.client_id{clause}
            ORDER BY leads.id DESC LIMIT :limit""",
        params,
    )


def lead_timeline(database: Database, lead_id: int) -> dict[str, Any] | None:
    """The lead, its client's name, its newest messages, changes (status, sentiment,
    scores) and drafts (up to 200 each, newest first), and its AI spend by feature."""
    lead = one(
        database,
        """SELECT leads.*, clients.name AS client_name FROM leads
             JOIN clients ON clients.id = leads.client_id WHERE leads.id = ?""",
        (lead_id,),
    )
    if lead is None:
        return None
    args = (lead_id, TIMELINE_LIMIT)
    messages = rows(
        database,
        "SELECT * FROM messages WHERE lead_id = ? ORDER BY sent_at DESC, id DESC LIMIT ?",
        args,
    )
    changes = rows(
        database, "SELECT * FROM lead_changes WHERE lead_id = ? ORDER BY id DESC LIMIT ?", args
    )
    drafts = rows(
        database, "SELECT * FROM ai_drafts WHERE lead_id = ? ORDER BY id DESC LIMIT ?", args
    )
    spend = rows(
        database,
        """SELECT feature_id, COUNT(*) AS calls, SUM(status = 'error') AS errors,
                  COALESCE(SUM(total_tokens), 0) AS total_tokens,
                  ROUND(COALESCE(SUM(cost_usd), 0), 9) AS cost_usd,
                  SUM(cost_usd IS NULL) AS unpriced_calls, MAX(created_at) AS last_call_at
             FROM ai_interactions WHERE lead_id = ? GROUP BY feature_id ORDER BY feature_id""",
        (lead_id,),
    )
    return {"lead": lead, "messages": messages, "changes": changes, "drafts": drafts,
            "spend": spend}  # fmt: skip


# -- drafts ------------------------------------------------------------------------------------

_DRAFT_SELECT = """SELECT ai_drafts.*, leads.status AS lead_status, clients.name AS client_name
                     FROM ai_drafts JOIN leads ON leads.id = ai_drafts.lead_id
                     JOIN clients ON clients.id = ai_drafts.client_id"""


def list_drafts(
    database: Database, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    """Drafts newest first, by ``status``, ``client_id`` and/or ``lead_id``."""
    where, params = [], {"limit": _limit(limit)}
    for name in ("status", "client_id", "lead_id"):
        if filters.get(name) not in (None, ""):
            where.append(f"ai_drafts.{name} = :{name}")
            params[name] = filters[name]
    if before_id is not None:
        where.append("ai_drafts.id < :before_id")
        params["before_id"] = before_id
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return rows(
        database, f"{_DRAFT_SELECT}{clause} ORDER BY ai_drafts.id DESC LIMIT :limit", params
    )


def get_draft_by_id(database: Database, draft_id: int) -> dict | None:
    return one(database, f"{_DRAFT_SELECT} WHERE ai_drafts.id = ?", (draft_id,))


def approve_draft(database: Database, draft_id: int, now: str) -> tuple[dict | None, str | None]:
    """A pending draft becomes approved, unless its lead is blacklisted (opted out): checked
    in the same statement. ``(draft, None)`` or ``(draft or None, reason)``."""
    changed = one(
        database,
        """UPDATE ai_drafts SET status = 'approved', updated_at = :now
            WHERE id = :id AND status = 'pending'
              AND (SELECT status != :blacklisted AND opted_out_at IS NULL FROM leads
                    WHERE leads.id = ai_drafts.lead_id)
           RETURNING id""",
        {"id": draft_id, "now": now, "blacklisted": BLACKLISTED},
    )
    return _draft_result(database, draft_id, changed is not None)


def reject_draft(database: Database, draft_id: int, now: str) -> tuple[dict | None, str | None]:
    """A pending draft becomes rejected. ``(draft, None)`` or ``(draft or None, reason)``."""
    changed = one(
        database,
        """UPDATE ai_drafts SET status = 'rejected', updated_at = :now
            WHERE id = :id AND status = 'pending' RETURNING id""",
        {"id": draft_id, "now": now},
    )
    return _draft_result(database, draft_id, changed is not None)


def _draft_result(
    database: Database, draft_id: int, changed: bool
) -> tuple[dict | None, str | None]:
    draft = get_draft_by_id(database, draft_id)
    if draft is None:
        return None, f"no draft {draft_id}"
    if changed:
        return draft, None
    if draft["status"] != "pending":
        return draft, f"it is already {draft['status']} (only pending drafts change)"
    return draft, "the lead opted out (blacklisted): its drafts are never sent"


# -- the database ------------------------------------------------------------------------------


def database_about(database: Database) -> dict[str, Any]:
    """The migrations applied (oldest first), the file's size and SQLite's version."""
    migrations = rows(database, "SELECT name, applied_at FROM _sqlite_migrations ORDER BY id", ())
    page_size = database.execute("PRAGMA page_size").fetchone()[0]
    pages = database.execute("PRAGMA page_count").fetchone()[0]
    free = database.execute("PRAGMA freelist_count").fetchone()[0]
    path = next((r[2] for r in database.execute("PRAGMA database_list") if r[1] == "main"), "")
    wal = path + "-wal"
    return {
        "backend": "sqlite",
        "path": path,
        "sqlite_version": database.execute("SELECT sqlite_version()").fetchone()[0],
        "size_bytes": page_size * pages,
        "free_bytes": page_size * free,
        "wal_bytes": os.path.getsize(wal) if path and os.path.exists(wal) else 0,
        "journal_mode": database.execute("PRAGMA journal_mode").fetchone()[0],
        "migrations": migrations,
    }
