"""AI post-processing of inbound messages: sentiment, reply drafts, lead scores.

Entry points for the job handlers, which run them inside the job's telemetry source and
job context (``ai.ai_telemetry_source``, ``ai.job_context``), so every AI row they cause is
attributed to the job:

- :func:`post_process_inbound` (``*_INBOUND_POST_PROCESS``): sentiment (fast paths without
  AI, else ``sentiment.classify``), the lead's ``sentiment_tag`` and ``status``, and a reply
  draft (``draft.generate.<channel>``) for Follow Up and the positive tags, at most one per
  (trigger message, channel).
- :func:`score_lead` (``LEAD_SCORING_POST_PROCESS``): fit, intent and overall scores 1–4
  with a reasoning of at most 500 characters (``lead_scoring.score``).

Both raise the AI client's errors: :class:`~ai.errors.AIRetryableError` (retry the job,
after ``retry_after`` if set), :class:`~ai.errors.AIResponseError` (the model's answer was
unusable; its ``error`` row is recorded) and :class:`~ai.errors.AIRequestError`; and
``db.DatabaseUnavailable`` when a write cannot be committed in time. They are safe to run
again: a retried job re-classifies (one small call) but never pays for a draft twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import db
from ai.client import AIClient, Prompt
from ai.errors import AIResponseError

SENTIMENT_FEATURE = "sentiment.classify"
SCORING_FEATURE = "lead_scoring.score"
SENTIMENT_PROMPT_KEY = "sentiment.classify.v1"
SCORING_PROMPT_KEY = "lead_scoring.score.v1"
TRANSCRIPT_FOR_SCORING = 20
TRANSCRIPT_FOR_DRAFT = 10
MAX_PROMPT_MESSAGE_CHARS = 1500
MAX_REASONING_CHARS = 500

SENTIMENT_TAGS = (
    "New",
    "Meeting Booked",
    "Meeting Requested",
    "Call Requested",
    "Information Requested",
    "Not Interested",
    "Blacklist",
    "Follow Up",
    "Out of Office",
    "Automated Reply",
    "Interested",
    "Neutral",
    "Snoozed",
)
STATUS_BY_TAG = {
    "Meeting Booked": "meeting-booked",
    "Meeting Requested": "meeting-requested",
    "Call Requested": "qualified",
    "Information Requested": "qualified",
    "Interested": "qualified",
    "Not Interested": "not-interested",
    "Blacklist": "blacklisted",
}
DEFAULT_STATUS = "new"
# Tags that get a reply draft: Follow Up and the positive ones.
DRAFT_TAGS = frozenset(
    {"Follow Up", "Meeting Requested", "Call Requested", "Information Requested", "Interested"}
)
CHANNELS = ("sms", "email", "linkedin")
MAX_DRAFT_CHARS = {"sms": 640, "linkedin": 2000, "email": 5000}
_TAG_BY_LOWER = {tag.lower(): tag for tag in SENTIMENT_TAGS}


def status_for(tag: str) -> str:
    """The lead status a sentiment tag implies (the rest → ``new``)."""
    return STATUS_BY_TAG.get(tag, DEFAULT_STATUS)


# -- sentiment fast paths --------------------------------------------------------------------

_FAST_PATHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Blacklist",
        (
            # opt-out
            r"\bunsubscribe\b",
            r"\bopt(ed|ing)?[\s-]?out\b",
            r"\bremove me\b",
            r"\btake me off\b",
            r"\bstop (texting|messaging|emailing|contacting|calling|sending)\b",
            r"\b(do not|don't|dont) (contact|text|email|e-mail|message|call) me\b",
            r"^\W*(please\s+)?(stop|stop all|end|quit|cancel)\W*$",
            # bounce
            r"\bundeliverable\b",
            r"\bdelivery status notification\b",
            r"\bmail delivery (failed|failure|subsystem)\b",
            r"\bdelivery (has )?failed\b",
            r"\b(could not|couldn't|wasn't|was not) (be )?delivered\b",
            r"\baddress not found\b",
            r"\breturned mail\b",
        ),
    ),
    (
        "Not Interested",
        (r"\bnot interested\b", r"\bno,?\s+thanks\b", r"\bno,?\s+thank\s+you\b"),
    ),
    (
        "Out of Office",
        (
            r"\bout of (the )?office\b",
            r"\bOOO\b",
            r"\bon (annual |parental |maternity |paternity |sick )?leave (until|till|through)\b",
            r"\b(currently|i am|i'm) (on vacation|on holiday|away)\b",
            r"\blimited access to (my )?e-?mail\b",
        ),
    ),
)
_FAST = tuple(
    (tag, tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns))
    for tag, patterns in _FAST_PATHS
)


def fast_path_sentiment(body: str | None, subject: str | None = None) -> str | None:
    """The tag a message gets without AI, or None.

    Opt-out (unsubscribe, STOP, remove me, ...) or a bounce → ``Blacklist``; "not
    interested", "no thanks", "no thank you" → ``Not Interested``; an out-of-office notice →
    ``Out of Office``. Checked in that order over the subject and body, case-insensitively.
    """
    text = f"{subject or ''}\n{body or ''}".replace("\u2019", "'").replace("\u2018", "'")
    for tag, patterns in _FAST:
        if any(p.search(text) for p in patterns):
            return tag
    return None


# -- prompts ---------------------------------------------------------------------------------

_TAG_HELP = """\
- New: nothing to classify (empty or unreadable).
- Meeting Booked: a meeting time is confirmed or booked.
- Meeting Requested: wants a meeting or demo; no time confirmed yet.
- Call Requested: asks to be called or to talk by phone.
- Information Requested: asks for details, pricing or material.
- Not Interested: declines.
- Blacklist: asks to stop or unsubscribe, is hostile, or the message is a bounce.
- Follow Up: open to it, but not now; asks to reconnect later without a date.
- Out of Office: an out-of-office or away notice.
- Automated Reply: any other automatic message.
- Interested: positive interest without a concrete request.
- Neutral: no clear intent.
- Snoozed: asks to be contacted again at a specific later time."""

SENTIMENT_SYSTEM = f"""\
You classify the latest reply a prospect sent to a sales outreach message.
Pick exactly one tag:
{_TAG_HELP}
Answer with only a JSON object: {{"tag": "<one tag, spelled exactly as above>", \
"reason": "<at most 20 words>"}}"""

_CHANNEL_STYLE = {
    "sms": "an SMS: at most 300 characters, plain text, no links, no signature",
    "email": "an email body: a greeting, two to four short sentences, a sign-off without a "
    "name; no subject line",
    "linkedin": "a LinkedIn message: friendly, at most 600 characters, no signature",
}

SCORING_SYSTEM = f"""\
You score a sales lead from their conversation with the sales rep.
- fit: how well the lead matches a likely buyer, as far as the conversation shows \
(1 poor, 4 strong);
- intent: how ready they are to meet or buy (1 none, 4 high);
- overall: the combined judgement (1 to 4);
- reasoning: why, in at most {MAX_REASONING_CHARS} characters.
Answer with only a JSON object: {{"fit": <1-4>, "intent": <1-4>, "overall": <1-4>, \
"reasoning": "<text>"}}"""


def _clip(text: str | None, limit: int = MAX_PROMPT_MESSAGE_CHARS) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _transcript_text(transcript: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for m in transcript:
        who = "Prospect" if m.get("direction") == "inbound" else "Rep"
        lines.append(
            f"[{m.get('sent_at', '')} {m.get('channel', '')}] {who}: {_clip(m.get('body'))}"
        )
    return "\n".join(lines) or "(no messages)"


def sentiment_prompt(message: Mapping[str, Any]) -> Prompt:
    subject = message.get("subject")
    user = f"Channel: {message.get('channel')}\n"
    if subject:
        user += f"Subject: {_clip(subject, 300)}\n"
    user += f"Reply:\n<<<\n{_clip(message.get('body'), 4000)}\n>>>"
    return Prompt(
        feature_id=SENTIMENT_FEATURE,
        prompt_key=SENTIMENT_PROMPT_KEY,
        system=SENTIMENT_SYSTEM,
        user=user,
        context={"body": message.get("body") or "", "subject": subject},
    )


def draft_prompt(
    message: Mapping[str, Any],
    lead: Mapping[str, Any],
    tag: str,
    transcript: Sequence[Mapping[str, Any]],
) -> Prompt:
    channel = message["channel"]
    system = (
        "You draft the sales rep's next reply to a prospect; a person reviews it before it "
        f"is sent. Write {_CHANNEL_STYLE[channel]}. Answer what the prospect said, move "
        "toward a call or meeting when they are open to it, and never invent facts, prices, "
        "dates or links: offer to follow up instead. Use the prospect's first name if known. "
        'Answer with only a JSON object: {"body": "<the reply>"}'
    )
    user = (
        f"Prospect first name: {lead.get('first_name') or 'unknown'}\n"
        f"Their latest reply was classified as: {tag}\n"
        f"Conversation (oldest first):\n{_transcript_text(transcript)}\n\n"
        f"Latest reply:\n<<<\n{_clip(message.get('body'), 4000)}\n>>>"
    )
    return Prompt(
        feature_id=f"draft.generate.{channel}",
        prompt_key=f"draft.generate.{channel}.v1",
        system=system,
        user=user,
        context={"channel": channel, "first_name": lead.get("first_name"), "tag": tag},
    )


def scoring_prompt(lead: Mapping[str, Any], transcript: Sequence[Mapping[str, Any]]) -> Prompt:
    name = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    user = (
        f"Lead: {name or 'unknown'}\n"
        f"Latest sentiment tag: {lead.get('sentiment_tag') or 'none'}\n"
        f"Conversation (oldest first, last {TRANSCRIPT_FOR_SCORING} messages):\n"
        f"{_transcript_text(transcript)}"
    )
    return Prompt(
        feature_id=SCORING_FEATURE,
        prompt_key=SCORING_PROMPT_KEY,
        system=SCORING_SYSTEM,
        user=user,
        context={"sentiment_tag": lead.get("sentiment_tag"), "transcript": list(transcript)},
    )


# -- output validation -----------------------------------------------------------------------


def validate_sentiment(data: Mapping[str, Any]) -> str:
    """``{"tag": ...}`` → the canonical tag (case and spacing are forgiven)."""
    raw = data.get("tag")
    if not isinstance(raw, str):
        raise AIResponseError(f"sentiment answer has no string 'tag': {dict(data)!r:.200}")
    tag = _TAG_BY_LOWER.get(" ".join(raw.split()).lower())
    if tag is None:
        raise AIResponseError(f"unknown sentiment tag {raw!r:.100}")
    return tag


def draft_validator(channel: str):
    def validate_draft(data: Mapping[str, Any]) -> str:
        """``{"body": ...}`` → the draft text: non-empty, within the channel's length."""
        body = data.get("body")
        if not isinstance(body, str) or not body.strip():
            raise AIResponseError("draft answer has no non-empty string 'body'")
        body = body.strip()
        if len(body) > MAX_DRAFT_CHARS[channel]:
            raise AIResponseError(
                f"{channel} draft is {len(body)} characters, over {MAX_DRAFT_CHARS[channel]}"
            )
        return body

    return validate_draft


def _score_value(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise AIResponseError(f"score {key!r} must be an integer from 1 to 4, got {value!r:.50}")
    return value


def clip_reasoning(text: str) -> str:
    """Trimmed to at most 500 characters (the last one an ellipsis when cut)."""
    text = " ".join(text.split())
    if len(text) <= MAX_REASONING_CHARS:
        return text
    return text[: MAX_REASONING_CHARS - 1].rstrip() + "…"


def validate_score(data: Mapping[str, Any]) -> dict[str, Any]:
    """``{"fit", "intent", "overall": 1–4, "reasoning": str}``; reasoning clipped to 500."""
    scores = {key: _score_value(data, key) for key in ("fit", "intent", "overall")}
    reasoning = data.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise AIResponseError("score answer has no non-empty string 'reasoning'")
    scores["reasoning"] = clip_reasoning(reasoning)
    return scores


# -- entry points ----------------------------------------------------------------------------


def disqualification(lead: Mapping[str, Any]) -> str | None:
    """Why a lead is out without asking the model: its tag when Blacklist or blacklisted."""
    if lead.get("sentiment_tag") == "Blacklist" or lead.get("status") == "blacklisted":
        return "Blacklist"
    return None


async def post_process_inbound(
    ai_client: AIClient, store: db.Store, message: dict, lead: dict
) -> dict:
    """Sentiment, lead status and (for Follow Up and the positive tags) a reply draft.

    ``message`` and ``lead`` are their table rows (``Store.get_message``,
    ``Store.get_lead``). Returns ``{"message_id", "lead_id", "sentiment_tag", "status",
    "classified_by": "rule"|"ai"|None, "lead_updated", "draft_id", "draft_created",
    "skipped"}``; ``sentiment_tag`` and ``status`` are this message's.

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
        "lead_updated": False,
        "draft_id": None,
        "draft_created": False,
        "skipped": None,
    }
    if message.get("direction") != "inbound":
        result["skipped"] = "not an inbound message"
        return result
    if disqualification(lead):
        result["skipped"] = "lead is blacklisted"
        return result
    ids = {"client_id": client_id, "lead_id": lead_id, "message_id": message_id}

    tag = fast_path_sentiment(message.get("body"), message.get("subject"))
    if tag is not None:
        result["classified_by"] = "rule"
    else:
        answer = await ai_client.complete_json(
            sentiment_prompt(message), validate=validate_sentiment, **ids
        )
        tag = answer.value
        result["classified_by"] = "ai"
    status = status_for(tag)
    updated = await store.set_lead_sentiment(
        lead_id, tag, status, now=ai_client.now(), message_id=message_id
    )
    result.update(sentiment_tag=tag, status=status, lead_updated=updated)
    if not updated and tag != "Blacklist":
        # Blacklisted meanwhile (never drafted to), or a newer reply set the lead's tag.
        lead = await store.get_lead(lead_id) or lead
        if disqualification(lead):
            result["skipped"] = "lead is blacklisted"
            return result

    channel = message["channel"]
    if tag not in DRAFT_TAGS or channel not in CHANNELS:
        return result
    existing = await store.get_draft(message_id, channel)
    if existing is not None:
        result["draft_id"] = existing["id"]
        return result
    transcript = await store.recent_transcript(lead_id, TRANSCRIPT_FOR_DRAFT)
    answer = await ai_client.complete_json(
        draft_prompt(message, lead, tag, transcript), validate=draft_validator(channel), **ids
    )
    draft_id, created = await store.insert_draft(
        client_id, lead_id, message_id, channel, answer.value, now=ai_client.now()
    )
    result.update(draft_id=draft_id, draft_created=created)
    return result


async def score_lead(ai_client: AIClient, store: db.Store, lead_id: int) -> dict:
    """Score the lead from its last 20 messages; store and return the scores.

    A Blacklist lead (tagged Blacklist, or blacklisted by an unsubscribe or bounce) gets
    1/1/1 and "Disqualified: Blacklist" without an AI call. Returns ``{"lead_id",
    "fit_score", "intent_score", "overall_score", "score_reasoning", "scored_at",
    "disqualified", "skipped"}``; ``skipped`` is set (and nothing written) when the lead
    does not exist.
    """
    result: dict[str, Any] = {
        "lead_id": lead_id,
        "fit_score": None,
        "intent_score": None,
        "overall_score": None,
        "score_reasoning": None,
        "scored_at": None,
        "disqualified": False,
        "skipped": None,
    }
    lead = await store.get_lead(lead_id)
    if lead is None:
        result["skipped"] = "no such lead"
        return result
    reason = disqualification(lead)
    if reason is not None:
        scores = {"fit": 1, "intent": 1, "overall": 1, "reasoning": f"Disqualified: {reason}"}
        result["disqualified"] = True
    else:
        transcript = await store.recent_transcript(lead_id, TRANSCRIPT_FOR_SCORING)
        answer = await ai_client.complete_json(
            scoring_prompt(lead, transcript),
            validate=validate_score,
            client_id=lead["client_id"],
            lead_id=lead_id,
        )
        scores = answer.value
    now = ai_client.now()
    await store.set_lead_score(
        lead_id, scores["fit"], scores["intent"], scores["overall"], scores["reasoning"], now=now
    )
    result.update(
        fit_score=scores["fit"],
        intent_score=scores["intent"],
        overall_score=scores["overall"],
        score_reasoning=scores["reasoning"],
        scored_at=now,
    )
    return result
