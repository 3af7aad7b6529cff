"""What an inbound job and a scoring job do: the store reads and writes around the AI calls.

The job handlers run these inside the job's telemetry source and job context
(``ai.ai_telemetry_source``, ``ai.job_context``), so every AI row they cause is attributed
to the job:

- :func:`post_process_inbound` (``*_INBOUND_POST_PROCESS``): sentiment (fast paths without
  AI, else ``sentiment.classify``), the lead's ``sentiment_tag`` and ``status``, and a reply
  draft (``draft.generate.<channel>``) for Follow Up and the positive tags, at most one per
  (trigger message, channel).
- :func:`score_lead` (``LEAD_SCORING_POST_PROCESS``): fit, intent and overall scores 1–4
  with a reasoning of at most 500 characters (``lead_scoring.score``).

Both raise the AI client's errors (:mod:`ai.errors`; the job runner decides what each means
for the job) and ``db.DatabaseUnavailable`` when a write cannot be committed in time. They are
safe to run again, and a run again never repeats a step that succeeded (no AI call is paid
twice for the same message): the message's classification is kept
(``Store.record_sentiment``, in the same transaction as the lead's sentiment) and reused, and
a draft exists at most once per (message, channel) and is not asked for again.

:data:`OFFLINE_ANSWERS` is what the offline provider answers each of these features with.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import db
from ai import AIClient
from ai.offline import Answer
from db.vocab import BLACKLIST_TAG
from postprocess import drafts, scoring, sentiment

OFFLINE_ANSWERS: Mapping[str, Answer] = MappingProxyType(
    {
        sentiment.FEATURE: sentiment.offline_answer,
        drafts.FEATURE_PREFIX: drafts.offline_answer,
        scoring.FEATURE: scoring.offline_answer,
    }
)


async def _sentiment(
    ai_client: AIClient, message: dict, kept: dict | None, ids: dict
) -> tuple[str, str, bool]:
    """``(tag, classified_by, reused)``: the message's kept classification (an earlier
    attempt's), else by a fast-path rule, else by the model."""
    if kept is not None:
        return kept["sentiment_tag"], kept["classified_by"], True
    tag, by = await _classify(ai_client, message, ids)
    return tag, by, False


async def _classify(ai_client: AIClient, message: dict, ids: dict) -> tuple[str, str]:
    """``(tag, classified_by)``: by a fast-path rule, else by the model."""
    tag = sentiment.fast_path_sentiment(message.get("body"), message.get("subject"))
    if tag is not None:
        return tag, "rule"
    answer = await ai_client.complete_json(
        sentiment.sentiment_prompt(message), validate=sentiment.validate_sentiment, **ids
    )
    return answer.value, "ai"


async def post_process_inbound(
    ai_client: AIClient,
    store: db.Store,
    message: dict,
    lead: dict,
    context: dict | None = None,
) -> dict:
    """:func:`inbound_steps`, then the new draft written: ``draft_id`` and ``draft_created``
    in the result are the insert's."""
    result, draft = await inbound_steps(ai_client, store, message, lead, context)
    if draft is not None:
        *args, now = draft
        draft_id, created = await store.insert_draft(*args, now=now)
        result.update(draft_id=draft_id, draft_created=created)
    return result


async def inbound_steps(
    ai_client: AIClient,
    store: db.Store,
    message: dict,
    lead: dict,
    context: dict | None = None,
) -> tuple[dict, tuple | None]:
    """Sentiment, lead status and (for Follow Up and the positive tags) a reply draft, which
    is returned to be written, not written: ``(result, draft)``, ``draft`` the arguments of
    ``Store.insert_draft`` (client, lead, message, channel, body, now) or None when no new
    draft was made. The job handler writes it with the job's SUCCEEDED;
    :func:`post_process_inbound` writes it at once.

    ``message`` and ``lead`` are their table rows (``Store.get_message``,
    ``Store.get_lead``); ``context``: the message's ``Store.inbound_context`` (read here when
    not given; the job handler has it already) for its kept classification, its draft and the
    transcript. Returns ``{"message_id", "lead_id", "sentiment_tag", "status",
    "classified_by": "rule"|"ai"|None, "sentiment_reused", "lead_updated", "draft_id",
    "draft_created", "skipped"}`` (``draft_id``: an existing draft's; ``draft_created`` is
    False here); ``sentiment_tag`` and ``status`` are this message's;
    ``sentiment_reused``: the classification was an earlier attempt's (no call made).

    Nothing is done for an outbound message or a lead already blacklisted (an opt-out is
    never undone by a later message; its drafts stay rejected). The lead keeps its tag and
    status when it has a newer inbound message (``lead_updated`` is then False; see
    ``Store.set_lead_sentiment``); the message still gets its draft. The draft is skipped
    without an AI call when one exists for (message, channel), and inserted with ON
    CONFLICT DO NOTHING, so retries and concurrent runs never make or pay for a second one.
    """
    message_id, lead_id, client_id = message["id"], lead["id"], message["client_id"]
    result: dict[str, Any] = {
        "message_id": message_id,
        "lead_id": lead_id,
        "sentiment_tag": lead.get("sentiment_tag"),
        "status": lead.get("status"),
        "classified_by": None,
        "sentiment_reused": False,
        "lead_updated": False,
        "draft_id": None,
        "draft_created": False,
        "skipped": None,
    }
    if message.get("direction") != "inbound":
        result["skipped"] = "not an inbound message"
        return result, None
    if scoring.disqualification(lead):
        result["skipped"] = "lead is blacklisted"
        return result, None
    ids = {"client_id": client_id, "lead_id": lead_id, "message_id": message_id}
    if context is None:
        context = await store.inbound_context(message_id, drafts.TRANSCRIPT_FOR_DRAFT)

    tag, classified_by, reused = await _sentiment(ai_client, message, context["sentiment"], ids)
    result.update(classified_by=classified_by, sentiment_reused=reused)
    status = sentiment.status_for(tag)
    updated = await store.record_sentiment(
        message_id, lead_id, tag, status, classified_by=classified_by, now=ai_client.now()
    )
    result.update(sentiment_tag=tag, status=status, lead_updated=updated)
    if not updated and tag != BLACKLIST_TAG:
        # Blacklisted meanwhile (never drafted to), or a newer reply set the lead's tag.
        lead = await store.get_lead(lead_id) or lead
        if scoring.disqualification(lead):
            result["skipped"] = "lead is blacklisted"
            return result, None

    channel = message["channel"]
    if not drafts.wants_draft(tag, channel):
        return result, None
    existing = context["draft"]
    if existing is not None:
        result["draft_id"] = existing["id"]
        return result, None
    answer = await ai_client.complete_json(
        drafts.draft_prompt(message, lead, tag, context["transcript"]),
        validate=drafts.draft_validator(channel),
        **ids,
    )
    return result, (client_id, lead_id, message_id, channel, answer.value, ai_client.now())


async def lead_scores(ai_client: AIClient, lead: dict, transcript: list[dict]) -> dict:
    """The lead's scores from its last messages (``transcript``, oldest first), written
    nowhere: ``{"fit", "intent", "overall", "reasoning", "disqualified"}``.

    A Blacklist lead (tagged Blacklist, or blacklisted by an unsubscribe or bounce) gets
    1/1/1 and "Disqualified: Blacklist" without an AI call.
    """
    reason = scoring.disqualification(lead)
    if reason is not None:
        return {**scoring.disqualified_scores(reason), "disqualified": True}
    answer = await ai_client.complete_json(
        scoring.scoring_prompt(lead, transcript),
        validate=scoring.validate_score,
        client_id=lead["client_id"],
        lead_id=lead["id"],
    )
    return {**answer.value, "disqualified": False}


async def score_lead(
    ai_client: AIClient, store: db.Store, lead: dict, transcript: list[dict] | None = None
) -> dict:
    """Score the lead (its ``leads`` row) from its last 20 messages (:func:`lead_scores`;
    ``transcript`` is read here when not given); store and return the scores: ``{"lead_id",
    "fit_score", "intent_score", "overall_score", "score_reasoning", "scored_at",
    "disqualified", "skipped"}`` (``skipped`` is always None: the caller has the row). The
    scoring job's handler stores them with its SUCCEEDED instead (``set_lead_score`` in
    ``ctx.finish_with``).
    """
    lead_id = lead["id"]
    if transcript is None:
        transcript = await store.recent_transcript(lead_id, scoring.TRANSCRIPT_FOR_SCORING)
    scores = await lead_scores(ai_client, lead, transcript)
    now = ai_client.now()
    await store.set_lead_score(
        lead_id, scores["fit"], scores["intent"], scores["overall"], scores["reasoning"], now=now
    )
    return {
        "lead_id": lead_id,
        "fit_score": scores["fit"],
        "intent_score": scores["intent"],
        "overall_score": scores["overall"],
        "score_reasoning": scores["reasoning"],
        "scored_at": now,
        "disqualified": scores["disqualified"],
        "skipped": None,
    }
