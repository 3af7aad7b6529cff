"""The offline provider: deterministic local stand-ins for the model, no network, no key.

Used when ``LEADHOOK_AI_PROVIDER=offline`` (the default without ``OPENAI_API_KEY``), so the
whole pipeline runs end to end on a laptop. It answers the same JSON a model would, chosen
by the prompt's ``feature_id`` from the prompt's structured ``context``:

- ``sentiment.classify`` → ``{"tag", "reason"}``: keyword rules (:func:`classify_sentiment`),
  first match wins, ``Neutral`` when nothing matches;
- ``draft.generate.<channel>`` → ``{"body"}``: a template per channel and tag, addressed to
  the lead's first name (:func:`write_draft`);
- ``lead_scoring.score`` → ``{"fit", "intent", "overall", "reasoning"}`` (:func:`score`).

Same input, same output. Rows say ``provider = 'offline'``, ``model = 'offline'`` and
``cost_usd = 0.0`` (known to be free, so never "unpriced"). Token counts are estimates, not
measurements: ``ceil(characters / 4)`` of the system and user prompt (input) and of the JSON
answer (output), ``cached_input_tokens = reasoning_tokens = 0``, ``total = input + output``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ai.client import Completion, Prompt, Usage

MODEL = "offline"

# (tag, patterns): the first tag with a matching pattern wins. Matching is case-insensitive
# on the subject and body with curly apostrophes made straight.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Blacklist",
        (
            r"\bunsubscribe\b",
            r"\bopt(ed)?[\s-]?out\b",
            r"\bremove me\b",
            r"\bstop (texting|messaging|emailing|contacting|calling)\b",
            r"\b(do not|don't) (contact|text|email|message|call)\b",
            r"^\W*stop\W*$",
            r"\bundeliverable\b",
            r"\bdelivery status notification\b",
        ),
    ),
    ("Not Interested", (r"\bnot interested\b", r"\bno,? thanks?\b", r"\bno,? thank you\b")),
    (
        "Out of Office",
        (r"\bout of (the )?office\b", r"\bon (vacation|holiday|leave)\b", r"\bOOO\b"),
    ),
    (
        "Automated Reply",
        (
            r"\bauto(matic|mated)?[\s-]?reply\b",
            r"\bthis is an automated\b",
            r"\bdo not reply\b",
            r"\bnot monitored\b",
        ),
    ),
    (
        "Meeting Booked",
        (
            r"\b(just |i've |i have |i )booked\b",
            r"\bbooked (a|the|it|us|in)\b",
            r"\b(meeting|call|time) is (booked|confirmed|scheduled)\b",
            r"\bsee you (on|then|tomorrow|monday|tuesday|wednesday|thursday|friday)\b",
            r"\binvite accepted\b",
        ),
    ),
    (
        "Call Requested",
        (
            r"\bcall me\b",
            r"\bgive me a (call|ring)\b",
            r"\b(hop|jump|get) on a (quick )?call\b",
            r"\bphone call\b",
            r"\bring me\b",
            r"\bcan you call\b",
        ),
    ),
    (
        "Meeting Requested",
        (
            r"\b(set up|schedule|book|arrange) (a |an )?(time|meeting|demo|chat|call)\b",
            r"\bmeet(ing)?\b",
            r"\bdemo\b",
            r"\b(your|my) (calendar|availability)\b",
            r"\bwhen are you (free|available)\b",
        ),
    ),
    (
        "Information Requested",
        (
            r"\bmore (info|information|details)\b",
            r"\bpric(e|es|ing)\b",
            r"\bhow much\b",
            r"\bcost\b",
            r"\bsend (me|over)\b",
            r"\b(brochure|deck|case stud(y|ies))\b",
            r"\bhow does (it|this) work\b",
        ),
    ),
    (
        "Snoozed",
        (
            r"\b(reach out|contact me|check back|try me|ping me) (again )?(in|next|after)\b",
            r"\bnext (month|quarter|year)\b",
        ),
    ),
    (
        "Follow Up",
        (
            r"\bnot (right )?now\b",
            r"\b(circle|get) back\b",
            r"\bfollow[\s-]?up\b",
            r"\blater\b",
            r"\bbusy\b",
        ),
    ),
    (
        "Interested",
        (
            r"\binterested\b",
            r"\bsounds (good|great|interesting)\b",
            r"\btell me more\b",
            r"\b(would|i'd) love to\b",
            r"^\W*(yes|yeah|yep|sure|absolutely|definitely)\b",
        ),
    ),
)
_COMPILED = tuple(
    (tag, tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns))
    for tag, patterns in _RULES
)


def _normalize(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")


def classify_sentiment(body: str, subject: str | None = None) -> tuple[str, str]:
    """``(tag, reason)`` by the first matching keyword rule; ``Neutral`` otherwise."""
    text = _normalize(f"{subject or ''}\n{body or ''}".strip())
    if not text:
        return "New", "empty message"
    for tag, patterns in _COMPILED:
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                return tag, f"matched {match.group(0).strip()!r}"
    return "Neutral", "no rule matched"


_DRAFTS: dict[str, dict[str, str]] = {
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
    templates = _DRAFTS.get(channel, _DRAFTS["email"])
    name = (first_name or "").strip().split(" ")[0] or "there"
    return templates.get(tag or "", templates["*"]).format(name=name)


_INTENT = {
    "Meeting Booked": 4,
    "Meeting Requested": 4,
    "Call Requested": 3,
    "Information Requested": 3,
    "Interested": 3,
    "Follow Up": 2,
    "Snoozed": 2,
    "Neutral": 2,
    "New": 2,
    "Out of Office": 2,
    "Automated Reply": 2,
    "Not Interested": 1,
    "Blacklist": 1,
}


def score(sentiment_tag: str | None, transcript: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Heuristic scores from the lead's sentiment tag and how much they wrote.

    intent: by tag (meeting 4; call, information, interested 3; not interested 1; else 2);
    fit: 2, plus 1 if the lead's inbound messages total 20 words or more, plus 1 if they
    replied more than once (at most 4); overall: ``round((fit + 2 * intent) / 3)``.
    """
    inbound = [m for m in transcript if m.get("direction") == "inbound"]
    words = sum(len(str(m.get("body") or "").split()) for m in inbound)
    intent = _INTENT.get(sentiment_tag or "", 2)
    fit = min(4, 2 + (words >= 20) + (len(inbound) > 1))
    overall = max(1, min(4, math.floor((fit + 2 * intent) / 3 + 0.5)))
    reasoning = (
        f"Offline heuristic: latest sentiment {sentiment_tag or 'unknown'} gives intent "
        f"{intent}; {len(inbound)} inbound message(s), {words} words give fit {fit}."
    )
    return {"fit": fit, "intent": intent, "overall": overall, "reasoning": reasoning}


def estimate_tokens(text: str) -> int:
    """About four characters a token (OpenAI's rule of thumb for English)."""
    return math.ceil(len(text) / 4)


class OfflineProvider:
    """The :class:`ai.client.Provider` that answers locally (see the module doc)."""

    name = "offline"
    model = MODEL
    free = True

    def answer(self, prompt: Prompt) -> dict[str, Any]:
        context = prompt.context
        feature = prompt.feature_id
        if feature == "sentiment.classify":
            tag, reason = classify_sentiment(str(context.get("body") or ""), context.get("subject"))
            return {"tag": tag, "reason": reason}
        if feature.startswith("draft.generate."):
            channel = str(context.get("channel") or feature.rsplit(".", 1)[-1])
            return {"body": write_draft(channel, context.get("first_name"), context.get("tag"))}
        if feature == "lead_scoring.score":
            return score(context.get("sentiment_tag"), context.get("transcript") or ())
        raise ValueError(f"the offline provider does not know feature {feature!r}")

    async def complete(self, prompt: Prompt) -> Completion:
        content = json.dumps(self.answer(prompt), ensure_ascii=False)
        input_tokens = estimate_tokens(prompt.system) + estimate_tokens(prompt.user)
        output_tokens = estimate_tokens(content)
        usage = Usage(
            input_tokens=input_tokens,
            cached_input_tokens=0,
            output_tokens=output_tokens,
            reasoning_tokens=0,
            total_tokens=input_tokens + output_tokens,
        )
        return Completion(content=content, response_model=MODEL, usage=usage)

    async def close(self) -> None:
        return None
