"""What the operator console and the day-two commands read and do, on Postgres (as
:mod:`db.sqlite.console`, whose docstrings say what each returns)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

from db.postgres._sql import notify_jobs, one, rows
from db.time import iso, parse_iso
from db.vocab import BLACKLISTED, DISCARDED, JOB_STATUSES

MAX_PAGE = 500
TIMELINE_LIMIT = 200
_JOB_FILTERS = ("status", "type", "client_id", "error", "lead_id")
_NOT_DISCARDED = " AND (last_error IS NULL OR NOT starts_with(last_error, %(discarded)s::text))"


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def _job_where(
    filters: dict[str, Any], before_id: int | None = None, table: str = "background_jobs"
) -> tuple[str, dict]:
    unknown = set(filters) - set(_JOB_FILTERS)
    if unknown:
        raise ValueError(f"not job filters: {sorted(unknown)}")
    where, params = [], {}
    for name in ("status", "type", "client_id", "lead_id"):
        if filters.get(name) not in (None, ""):
            where.append(f"{table}.{name} = %({name})s")
            params[name] = filters[name]
    if filters.get("error"):
        where.append(
            f"{table}.last_error IS NOT NULL"
            f" AND strpos(lower({table}.last_error), lower(%(error)s::text)) > 0"
        )
        params["error"] = filters["error"]
    if before_id is not None:
        where.append(f"{table}.id < %(before_id)s")
        params["before_id"] = before_id
    return (" WHERE " + " AND ".join(where)) if where else "", params


def console_overview(conn: psycopg.Connection, now: str) -> dict[str, Any]:
    by_status = dict.fromkeys(JOB_STATUSES, 0)
    for row in rows(conn, "SELECT status, COUNT(*) AS n FROM background_jobs GROUP BY status"):
        by_status[row["status"]] = row["n"]
    oldest = one(
        conn,
        """SELECT id, type, run_at FROM background_jobs
            WHERE status = 'PENDING' AND run_at <= %s ORDER BY run_at, id LIMIT 1""",
        (now,),
    )
    day_ago = iso(parse_iso(now) - timedelta(days=1))
    failed = one(
        conn,
        "SELECT COUNT(*) AS n FROM background_jobs WHERE status = 'FAILED'"
        f" AND finished_at >= %(since)s{_NOT_DISCARDED}",
        {"since": day_ago, "discarded": DISCARDED},
    )
    counts = one(
        conn,
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


def find_jobs(
    conn: psycopg.Connection, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    where, params = _job_where(filters, before_id)
    params["limit"] = _limit(limit)
    return rows(
        conn,
        f"""SELECT background_jobs.*, clients.name AS client_name FROM background_jobs
              LEFT JOIN clients ON clients.id = background_jobs.client_id
            {where}
            ORDER BY background_jobs.id DESC LIMIT %(limit)s""",
        params,
    )


def _retryable(filters: dict[str, Any]) -> tuple[str, dict]:
    where, params = _job_where({**filters, "status": "FAILED"})
    return where + _NOT_DISCARDED, {**params, "discarded": DISCARDED}


def count_retryable(conn: psycopg.Connection, filters: dict[str, Any]) -> dict[str, Any]:
    where, params = _retryable(filters)
    sql = f"SELECT COUNT(*) AS count, MAX(id) AS upto_id FROM background_jobs{where}"
    found = one(conn, sql, params)
    assert found is not None
    return found


def retry_failed_jobs(
    conn: psycopg.Connection, filters: dict[str, Any], upto_id: int, now: str, batch: int
) -> int:
    where, params = _retryable(filters)
    params.update(upto_id=upto_id, now=now, batch=batch)
    reset = rows(
        conn,
        f"""UPDATE background_jobs
               SET status = 'PENDING', run_at = %(now)s, attempts = 0, snoozes = 0,
                   locked_at = NULL, locked_by = NULL, started_at = NULL, finished_at = NULL,
                   last_error = NULL, updated_at = %(now)s
             WHERE id IN (SELECT id FROM background_jobs{where} AND id <= %(upto_id)s
                          ORDER BY id LIMIT %(batch)s FOR UPDATE)
               AND status = 'FAILED'
            RETURNING id""",
        params,
    )
    if reset:
        notify_jobs(conn)
    return len(reset)


_DISCARD_REFUSALS = {
    "RUNNING": "it is RUNNING now; wait until it ends (a running job cannot be stopped)",
    "SUCCEEDED": "it SUCCEEDED; there is nothing left to discard",
}


def discard_job(conn: psycopg.Connection, job_id: int, now: str) -> tuple[dict | None, str | None]:
    job = one(
        conn,
        f"""UPDATE background_jobs
              SET last_error = %(discarded)s::text || CASE
                      WHEN status = 'FAILED' AND last_error IS NOT NULL
                      THEN ' (it had failed: ' || last_error || ')' ELSE '' END,
                  status = 'FAILED', finished_at = %(now)s,
                  locked_at = NULL, locked_by = NULL, updated_at = %(now)s
            WHERE id = %(id)s AND status IN ('PENDING', 'FAILED'){_NOT_DISCARDED}
           RETURNING *""",
        {"id": job_id, "now": now, "discarded": DISCARDED},
    )
    if job is not None:
        return job, None
    job = one(conn, "SELECT * FROM background_jobs WHERE id = %s", (job_id,))
    if job is None:
        return None, f"no job {job_id}"
    if job["status"] == "FAILED":
        return job, "it is already discarded"
    return job, _DISCARD_REFUSALS.get(job["status"], f"its status is {job['status']}")


def job_detail(conn: psycopg.Connection, job_id: int) -> dict[str, Any] | None:
    job = one(
        conn,
        """SELECT background_jobs.*, clients.name AS client_name FROM background_jobs
             LEFT JOIN clients ON clients.id = background_jobs.client_id
            WHERE background_jobs.id = %s""",
        (job_id,),
    )
    if job is None:
        return None
    message = one(conn, "SELECT * FROM messages WHERE id = %s", (job["message_id"],))
    lead = one(conn, "SELECT * FROM leads WHERE id = %s", (job["lead_id"],))
    interactions = rows(
        conn,
        "SELECT * FROM ai_interactions WHERE background_job_id = %s ORDER BY id LIMIT 500",
        (job_id,),
    )
    return {"job": job, "message": message, "lead": lead, "interactions": interactions}


def list_leads(
    conn: psycopg.Connection, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    where, params = [], {"limit": _limit(limit)}
    for name in ("client_id", "status"):
        if filters.get(name) not in (None, ""):
            where.append(f"leads.{name} = %({name})s")
            params[name] = filters[name]
    if before_id is not None:
        where.append("leads.id < %(before_id)s")
        params["before_id"] = before_id
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return rows(
        conn,
        f"""SELECT leads.*, clients.name AS client_name FROM leads
              JOIN clients ON clients.id = leads.client_id{clause}
            ORDER BY leads.id DESC LIMIT %(limit)s""",
        params,
    )


def lead_timeline(conn: psycopg.Connection, lead_id: int) -> dict[str, Any] | None:
    lead = one(
        conn,
        """SELECT leads.*, clients.name AS client_name FROM leads
             JOIN clients ON clients.id = leads.client_id WHERE leads.id = %s""",
        (lead_id,),
    )
    if lead is None:
        return None
    args = (lead_id, TIMELINE_LIMIT)
    messages = rows(
        conn,
        "SELECT * FROM messages WHERE lead_id = %s ORDER BY sent_at DESC, id DESC LIMIT %s",
        args,
    )
    changes = rows(
        conn, "SELECT * FROM lead_changes WHERE lead_id = %s ORDER BY id DESC LIMIT %s", args
    )
    drafts = rows(
        conn, "SELECT * FROM ai_drafts WHERE lead_id = %s ORDER BY id DESC LIMIT %s", args
    )
    spend = rows(
        conn,
        """SELECT feature_id, COUNT(*) AS calls, COUNT(*) FILTER (WHERE status = 'error') AS errors,
                  COALESCE(SUM(total_tokens), 0) AS total_tokens,
                  round(COALESCE(SUM(cost_usd), 0)::numeric, 9)::double precision AS cost_usd,
                  COUNT(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls,
                  MAX(created_at) AS last_call_at
             FROM ai_interactions WHERE lead_id = %s GROUP BY feature_id ORDER BY feature_id""",
        (lead_id,),
    )
    return {"lead": lead, "messages": messages, "changes": changes, "drafts": drafts,
            "spend": spend}  # fmt: skip


_DRAFT_SELECT = """SELECT ai_drafts.*, leads.status AS lead_status, clients.name AS client_name
                     FROM ai_drafts JOIN leads ON leads.id = ai_drafts.lead_id
                     JOIN clients ON clients.id = ai_drafts.client_id"""


def list_drafts(
    conn: psycopg.Connection, filters: dict[str, Any], before_id: int | None, limit: int
) -> list[dict]:
    where, params = [], {"limit": _limit(limit)}
    for name in ("status", "client_id", "lead_id"):
        if filters.get(name) not in (None, ""):
            where.append(f"ai_drafts.{name} = %({name})s")
            params[name] = filters[name]
    if before_id is not None:
        where.append("ai_drafts.id < %(before_id)s")
        params["before_id"] = before_id
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return rows(conn, f"{_DRAFT_SELECT}{clause} ORDER BY ai_drafts.id DESC LIMIT %(limit)s", params)


def get_draft_by_id(conn: psycopg.Connection, draft_id: int) -> dict | None:
    return one(conn, f"{_DRAFT_SELECT} WHERE ai_drafts.id = %s", (draft_id,))


def approve_draft(
    conn: psycopg.Connection, draft_id: int, now: str
) -> tuple[dict | None, str | None]:
    changed = one(
        conn,
        """UPDATE ai_drafts SET status = 'approved', updated_at = %(now)s
            WHERE id = %(id)s AND status = 'pending'
              AND (SELECT status <> %(blacklisted)s AND opted_out_at IS NULL FROM leads
                    WHERE leads.id = ai_drafts.lead_id FOR SHARE)
           RETURNING id""",
        {"id": draft_id, "now": now, "blacklisted": BLACKLISTED},
    )
    return _draft_result(conn, draft_id, changed is not None)


def reject_draft(
    conn: psycopg.Connection, draft_id: int, now: str
) -> tuple[dict | None, str | None]:
    changed = one(
        conn,
        """UPDATE ai_drafts SET status = 'rejected', updated_at = %(now)s
            WHERE id = %(id)s AND status = 'pending' RETURNING id""",
        {"id": draft_id, "now": now},
    )
    return _draft_result(conn, draft_id, changed is not None)


def _draft_result(
    conn: psycopg.Connection, draft_id: int, changed: bool
) -> tuple[dict | None, str | None]:
    draft = get_draft_by_id(conn, draft_id)
    if draft is None:
        return None, f"no draft {draft_id}"
    if changed:
        return draft, None
    if draft["status"] != "pending":
        return draft, f"it is already {draft['status']} (only pending drafts change)"
    return draft, "the lead opted out (blacklisted): its drafts are never sent"


def database_about(conn: psycopg.Connection) -> dict[str, Any]:
    """The backend, the server, the database's size and the migrations applied."""
    migrations = rows(conn, "SELECT name, applied_at FROM _leadhook_migrations ORDER BY id")
    facts = one(
        conn,
        """SELECT current_database() AS database, current_setting('server_version') AS version,
                  pg_database_size(current_database()) AS size_bytes""",
    )
    assert facts is not None
    info = conn.info
    return {
        "backend": "postgres",
        "path": f"postgresql://{info.user}@{info.host}:{info.port}/{facts['database']}",
        "server_version": f"PostgreSQL {facts['version']}",
        "size_bytes": facts["size_bytes"],
        "free_bytes": 0,
        "wal_bytes": 0,
        "journal_mode": "PostgreSQL write-ahead log",
        "migrations": migrations,
    }
