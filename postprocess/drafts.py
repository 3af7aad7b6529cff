"""Reply drafts: which replies get one, how it is asked for, and what is accepted.

Follow Up and the positive tags (:data:`DRAFT_TAGS`) get a draft of the rep's next reply, on
the reply's channel (``db.vocab.CHANNELS``), for a person to review before it is sent. The
model answers ``{"body"}`` to :func:`draft_prompt` (feature ``draft.generate.<channel>``);
:func:`draft_validator` accepts a non-empty body within the channel's limit
(:data:`MAX_DRAFT_CHARS`), else :class:`~ai.AIResponseError`. Offline, :func:`offline_answer`
fills a template per channel and tag, addressed to the lead's first name (:func:`write_draft`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ai import AIResponseError, Prompt
from db.vocab import CHANNELS
from postprocess._prompt import clip, transcript_text

FEATURE_PREFIX = "draft.generate."
TRANSCRIPT_FOR_DRAFT = 10

# Tags that get a reply draft: Follow Up and the positive ones.
DRAFT_TAGS = frozenset(
    {"Follow Up", "Meeting Requested", "Call Requested", "Information Requested", "Interested"}
)
MAX_DRAFT_CHARS = {"sms": 640, "linkedin": 2000, "email": 5000}
_CHANNEL_STYLE = {
    "sms": "an SMS: at most 300 characters, plain text, no links, no signature",
    "email": "an email body: a greeting, two to four short sentences, a sign-off without a "
    "name; no subject line",
    "linkedin": "a LinkedIn message: friendly, at most 600 characters, no signature",
}


def wants_draft(tag: str, channel: str) -> bool:
    """Whether a reply with this tag on this channel gets a draft."""
    return tag in DRAFT_TAGS and channel in CHANNELS


def draft_prompt(
    message: Mapping[str, Any],
    lead: Mapping[str, Any],
    tag: str,
    transcript: Sequence[Mapping[str, Any]],
) -> Prompt:
    """The draft request for a reply; ``context``: channel, first name, tag."""
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
        f"Conversation (oldest first):\n{transcript_text(transcript)}\n\n"
        f"Latest reply:\n<<<\n{clip(message.get('body'), 4000)}\n>>>"
    )
    return Prompt(
        feature_id=f"{FEATURE_PREFIX}{channel}",
        prompt_key=f"{FEATURE_PREFIX}{channel}.v1",
        system=system,
        user=user,
        context={"channel": channel, "first_name": lead.get("first_name"), "tag": tag},
    )


def draft_validator(channel: str) -> Callable[[Mapping[str, Any]], str]:
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


# -- offline ---------------------------------------------------------------------------------

_TEMPLATES: dict[str, dict[str, str]] = {
    "sms": {
        "Meeting Requested": "Hi {name}, great to hear from you! What day and time work best "
        "for a quick meeting this week?",
        "Call Requested": "Hi {name}, happy to call. What number and time suit you best?",
        "Information Requested": "Hi {name}, thanks for asking! I'll send the details over "
        "shortly. Anything specific you'd like covered?",
        "Interested": "Hi {name}, glad this caught your interest! Would a quick 15-minute "
        "call this week work?",
        "Follow Up": "Hi {name}, no problem at all. When would be a better time to reconnect?",
        "*": "Hi {name}, thanks for your reply! How can I help?",
    },
    "linkedin": {
        "Meeting Requested": "Hi {name}, thanks for getting back to me! I'd be glad to set up "
        "a meeting. Which days work best for you next week?",
        "Call Requested": "Hi {name}, happy to jump on a call. What time suits you, and "
        "which number should I use?",
        "Information Requested": "Hi {name}, thanks for your interest! I'll share the details "
        "here shortly. Is there anything in particular you'd like to know?",
        "Interested": "Hi {name}, great to hear this resonates! Would you be open to a short "
        "call to see whether it's a fit?",
        "Follow Up": "Hi {name}, understood, thanks for letting me know. When would be a good "
        "time to reconnect?",
        "*": "Hi {name}, thanks for your reply! How can I help?",
    },
    "email": {
        "Meeting Requested": "Hi {name},\n\nThanks for getting back to me. I'd be glad to set "
        "up a meeting. Which days and times work best for you next week?\n\nBest regards",
        "Call Requested": "Hi {name},\n\nHappy to have a call. What time suits you, and which "
        "number is best to reach you on?\n\nBest regards",
        "Information Requested": "Hi {name},\n\nThanks for your interest. I'll send over the "
        "details shortly; is there anything in particular you'd like me to cover?\n\n"
        "Best regards",
        "Interested": "Hi {name},\n\nGreat to hear this caught your interest. Would you be "
        "open to a short call this week to see whether it's a fit?\n\nBest regards",
        "Follow Up": "Hi {name},\n\nUnderstood, thanks for letting me know. When would be a "
        "better time to reconnect?\n\nBest regards",
        "*": "Hi {name},\n\nThanks for your reply. How can I help?\n\nBest regards",
    },
}


def write_draft(channel: str, first_name: str | None, tag: str | None) -> str:
    """The template for ``channel`` and ``tag`` addressed to ``first_name`` (else "there")."""
    templates = _TEMPLATES.get(channel, _TEMPLATES["email"])
    name = (first_name or "").strip().split(" ")[0] or "there"
    return templates.get(tag or "", templates["*"]).format(name=name)


def offline_answer(prompt: Prompt) -> dict[str, Any]:
    """What the offline provider answers :func:`draft_prompt` (:func:`write_draft`)."""
    context = prompt.context
    channel = str(context.get("channel") or prompt.feature_id.rsplit(".", 1)[-1])
    return {"body": write_draft(channel, context.get("first_name"), context.get("tag"))}
