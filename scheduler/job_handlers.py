"""The handlers of the job types in DESIGN.md.

Inbound post-processing (SMS, email, LinkedIn, SmartLead, Instantly): load the message and its
lead, skip (succeed without work) when the message vanished or is outbound, run the AI steps,
bump the lead's roll-ups (idempotent: they only move forward) and enqueue
``LEAD_SCORING_POST_PROCESS`` for the message. Lead scoring loads the lead and its latest
messages and scores it.

The AI steps each have one call site: :func:`post_process_inbound` and :func:`score_lead`.
"""

from __future__ import annotations

import logging
from typing import Any

import ai
from db.vocab import INBOUND_JOB_TYPES, LEAD_SCORING_POST_PROCESS
from scheduler._registry import JobRunContext, Skipped, job_handler

log = logging.getLogger("leadhook.jobs")


async def post_process_inbound(ctx: JobRunContext, message: dict, lead: dict) -> None:
    """The AI steps of an inbound message: sentiment (and lead status), then a reply draft.

    Called with the job's telemetry source and context already set, so every AI call is
    recorded as ``background_job:<TYPE>`` with this job's id and attempt.
    """
    result = await ai.post_process_inbound(_ai_client(ctx), ctx.store, message, lead)
    log.info(
        "job %s: message %s sentiment %s (%s), lead status %s, draft %s",
        ctx.job["id"],
        message["id"],
        result.get("sentiment_tag"),
        result.get("classified_by"),
        result.get("status"),
        result.get("draft_id") or "-",
    )


async def score_lead(ctx: JobRunContext, lead: dict) -> None:
    """The AI step of lead scoring (reads the lead's recent transcript itself)."""
    result = await ai.score_lead(_ai_client(ctx), ctx.store, lead["id"])
    log.info(
        "job %s: lead %s scored fit %s intent %s overall %s%s",
        ctx.job["id"],
        lead["id"],
        result.get("fit_score"),
        result.get("intent_score"),
        result.get("overall_score"),
        " (disqualified)" if result.get("disqualified") else "",
    )


def _ai_client(ctx: JobRunContext) -> Any:
    if ctx.ai is None:
        raise RuntimeError("no AI client is configured for this runner (app.state.ai)")
    return ctx.ai


@job_handler(*INBOUND_JOB_TYPES)
async def inbound_post_process(ctx: JobRunContext) -> Skipped | None:
    job = ctx.job
    if job["message_id"] is None:
        return ctx.skip("the job names no message")
    message = await ctx.store.get_message(job["message_id"])
    if message is None:
        return ctx.skip(f"message {job['message_id']} no longer exists")
    if message["client_id"] != job["client_id"]:
        return ctx.skip(f"message {message['id']} belongs to another client")
    if message["direction"] != "inbound":
        return ctx.skip(f"message {message['id']} is {message['direction']}")
    lead = await ctx.store.get_lead(message["lead_id"])
    if lead is None:
        return ctx.skip(f"lead {message['lead_id']} no longer exists")

    await post_process_inbound(ctx, message, lead)

    scoring_job, enqueued = await ctx.store.finish_inbound(message, now=ctx.now_iso())
    log.info(
        "job %s %s: message %s lead %s done; scoring job %s%s",
        job["id"],
        job["type"],
        message["id"],
        lead["id"],
        scoring_job,
        " enqueued" if enqueued else " already there",
    )
    return None


@job_handler(LEAD_SCORING_POST_PROCESS)
async def lead_scoring_post_process(ctx: JobRunContext) -> Skipped | None:
    job = ctx.job
    if job["lead_id"] is None:
        return ctx.skip("the job names no lead")
    lead = await ctx.store.get_lead(job["lead_id"])
    if lead is None:
        return ctx.skip(f"lead {job['lead_id']} no longer exists")
    if lead["client_id"] != job["client_id"]:
        return ctx.skip(f"lead {lead['id']} belongs to another client")
    await score_lead(ctx, lead)
    return None
