"""The handlers of the job types in DESIGN.md.

Inbound post-processing (SMS, email, LinkedIn, SmartLead, Instantly): load the message, its
lead and what an earlier attempt kept, in one read (``Store.inbound_context``); skip (succeed
without work) when the message vanished or is outbound; run the AI steps
(:func:`postprocess.inbound_steps`); then, in the transaction that marks the job SUCCEEDED
(:class:`~scheduler.FinishWith`), insert the new draft, bump the lead's roll-ups (idempotent:
they only move forward) and enqueue ``LEAD_SCORING_POST_PROCESS`` for the message. Lead
scoring loads the lead and its latest messages in one read (``Store.scoring_context``),
scores it (:func:`postprocess.lead_scores`) and stores the scores with its SUCCEEDED.

Both run with the job's telemetry source and context already set, so every AI call is
recorded as ``background_job:<TYPE>`` with this job's id and attempt. What they found
(sentiment, scores, the follow-up job) is logged at DEBUG: at INFO an attempt is one line, the
runner's (``scheduler._attempt``).
"""

from __future__ import annotations

import logging
from typing import Any

import postprocess
from db.vocab import INBOUND_JOB_TYPES, LEAD_SCORING_POST_PROCESS
from postprocess import drafts, scoring
from scheduler._registry import FinishWith, JobRunContext, Skipped, job_handler

log = logging.getLogger("leadhook.jobs")


def _ai_client(ctx: JobRunContext) -> Any:
    if ctx.ai is None:
        raise RuntimeError("no AI client is configured for this runner (app.state.ai)")
    return ctx.ai


@job_handler(*INBOUND_JOB_TYPES)
async def inbound_post_process(ctx: JobRunContext) -> Skipped | FinishWith:
    job = ctx.job
    if job["message_id"] is None:
        return ctx.skip("the job names no message")
    context = await ctx.store.inbound_context(job["message_id"], drafts.TRANSCRIPT_FOR_DRAFT)
    message = context["message"]
    if message is None:
        return ctx.skip(f"message {job['message_id']} no longer exists")
    if message["client_id"] != job["client_id"]:
        return ctx.skip(f"message {message['id']} belongs to another client")
    if message["direction"] != "inbound":
        return ctx.skip(f"message {message['id']} is {message['direction']}")
    lead = context["lead"]
    if lead is None:
        return ctx.skip(f"lead {message['lead_id']} no longer exists")

    result, draft = await postprocess.inbound_steps(
        _ai_client(ctx), ctx.store, message, lead, context
    )
    log.debug(
        "job %s: message %s sentiment %s (%s), lead status %s, draft %s",
        job["id"],
        message["id"],
        result.get("sentiment_tag"),
        result.get("classified_by"),
        result.get("status"),
        "new" if draft else result.get("draft_id") or "-",
    )
    # The new draft, the roll-ups and the scoring job commit with the job's SUCCEEDED: each
    # commit a job waits for is a turn in the writer's queue. A draft lost with a failed
    # commit is asked for again, as it was when it had a commit of its own.
    finish = ("finish_inbound", (message, ctx.now_iso()))
    return ctx.finish_with(*([("insert_draft", draft)] if draft else []), finish)


@job_handler(LEAD_SCORING_POST_PROCESS)
async def lead_scoring_post_process(ctx: JobRunContext) -> Skipped | FinishWith:
    job = ctx.job
    if job["lead_id"] is None:
        return ctx.skip("the job names no lead")
    context = await ctx.store.scoring_context(job["lead_id"], scoring.TRANSCRIPT_FOR_SCORING)
    lead = context["lead"]
    if lead is None:
        return ctx.skip(f"lead {job['lead_id']} no longer exists")
    if lead["client_id"] != job["client_id"]:
        return ctx.skip(f"lead {lead['id']} belongs to another client")
    scores = await postprocess.lead_scores(_ai_client(ctx), lead, context["transcript"])
    log.debug(
        "job %s: lead %s scored fit %s intent %s overall %s%s",
        job["id"],
        lead["id"],
        scores["fit"],
        scores["intent"],
        scores["overall"],
        " (disqualified)" if scores["disqualified"] else "",
    )
    # Stored with the job's SUCCEEDED; an opt-out meanwhile still wins (the write decides).
    fit, intent, overall, reasoning = (scores[k] for k in ("fit", "intent", "overall", "reasoning"))
    args = (lead["id"], fit, intent, overall, reasoning, ctx.now_iso())
    return ctx.finish_with(("set_lead_score", args))
