"""Background jobs: job types and the enqueue-or-heal upsert used by every webhook.

The runner's claim/complete functions live here too (added with the runner).
"""

from __future__ import annotations

from sqlite_utils import Database

from db._connection import one

SMS_INBOUND_POST_PROCESS = "SMS_INBOUND_POST_PROCESS"
EMAIL_INBOUND_POST_PROCESS = "EMAIL_INBOUND_POST_PROCESS"
LINKEDIN_INBOUND_POST_PROCESS = "LINKEDIN_INBOUND_POST_PROCESS"
SMARTLEAD_INBOUND_POST_PROCESS = "SMARTLEAD_INBOUND_POST_PROCESS"
INSTANTLY_INBOUND_POST_PROCESS = "INSTANTLY_INBOUND_POST_PROCESS"
LEAD_SCORING_POST_PROCESS = "LEAD_SCORING_POST_PROCESS"

JOB_TYPES = (
    SMS_INBOUND_POST_PROCESS,
    EMAIL_INBOUND_POST_PROCESS,
    LINKEDIN_INBOUND_POST_PROCESS,
    SMARTLEAD_INBOUND_POST_PROCESS,
    INSTANTLY_INBOUND_POST_PROCESS,
    LEAD_SCORING_POST_PROCESS,
)
DEFAULT_MAX_ATTEMPTS = 5
MAX_ATTEMPTS = {LEAD_SCORING_POST_PROCESS: 3}


def job_dedupe_key(client_id: int, message_id: int, job_type: str) -> str:
    return f"{client_id}:{message_id}:{job_type}"


def enqueue_job(
    db: Database,
    *,
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
               status = 'PENDING', run_at = excluded.run_at, attempts = 0,
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
