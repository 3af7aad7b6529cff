"""Helpers of the post-processing tests (sentiment, drafts, scoring): run a step as its job
handler does, inside the job's telemetry source and job context, and look at what it stored."""

from __future__ import annotations

import ai
import postprocess

SMS_SOURCE = "background_job:SMS_INBOUND_POST_PROCESS"
SCORING_SOURCE = "background_job:LEAD_SCORING_POST_PROCESS"


def job_for(database, message: dict, attempt: int = 1) -> ai.JobContext:
    row = database.execute(
        "SELECT id, type FROM background_jobs WHERE message_id = ?", (message["id"],)
    ).fetchone()
    return ai.JobContext(
        job_id=row[0],
        job_type=row[1],
        attempt=attempt,
        client_id=message["client_id"],
        lead_id=message["lead_id"],
        message_id=message["id"],
    )


async def run_inbound(client, store, database, message, lead, attempt: int = 1) -> dict:
    """As the job handler runs it: inside the job's source and job context."""
    job = job_for(database, message, attempt)
    with ai.ai_telemetry_source(f"background_job:{job.job_type}"), ai.job_context(job):
        return await postprocess.post_process_inbound(client, store, message, lead)


async def run_scoring(client, store, lead_id: int) -> dict:
    """As the scoring job's handler runs it: the lead row read once, then scored."""
    lead = await store.get_lead(lead_id)
    with ai.ai_telemetry_source(SCORING_SOURCE):
        return await postprocess.score_lead(client, store, lead)


async def rows(client, database) -> list[dict]:
    await client.flush()
    return await client.store.list_interactions()


def lead_row(database, lead_id: int) -> dict:
    return dict(database.execute_returning_dicts("SELECT * FROM leads WHERE id = ?", [lead_id])[0])


def drafts(database) -> list[dict]:
    return [dict(r) for r in database.query("SELECT * FROM ai_drafts ORDER BY id")]
