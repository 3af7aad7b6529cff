"""Lead scoring: fit, intent and overall scores 1–4 and a reasoning of at most 500 characters.

A Blacklist lead (tagged ``Blacklist`` or with status ``blacklisted``) is disqualified
without asking the model (:func:`disqualification`, :data:`DISQUALIFIED`: 1/1/1 and
"Disqualified: Blacklist"). Otherwise the model answers ``{"fit", "intent", "overall",
"reasoning"}`` to :func:`scoring_prompt` (the lead's last 20 messages);
:func:`validate_score` takes integers 1–4 (``"4"`` and ``4.0`` forgiven) and a non-empty
reasoning, clipped to 500 characters, else :class:`~ai.AIResponseError`. Offline,
:func:`offline_answer` is a heuristic from the lead's tag and how much they wrote
(:func:`score`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ai import AIResponseError, Prompt
from db.vocab import BLACKLIST_TAG, BLACKLISTED
from postprocess._prompt import transcript_text

FEATURE = "lead_scoring.score"
PROMPT_KEY = "lead_scoring.score.v1"
TRANSCRIPT_FOR_SCORING = 20
MAX_REASONING_CHARS = 500


def disqualification(lead: Mapping[str, Any]) -> str | None:
    """Why a lead is out without asking the model: its tag when Blacklist or blacklisted."""
    if lead.get("sentiment_tag") == BLACKLIST_TAG or lead.get("status") == BLACKLISTED:
        return BLACKLIST_TAG
    return None


def disqualified_scores(reason: str) -> dict[str, Any]:
    """The scores of a disqualified lead: 1/1/1, "Disqualified: <reason>"."""
    return {"fit": 1, "intent": 1, "overall": 1, "reasoning": f"Disqualified: {reason}"}


SYSTEM = f"""\
You score a sales lead from their conversation with the sales rep.
- fit: how well the lead matches a likely buyer, as far as the conversation shows \
(1 poor, 4 strong);
- intent: how ready they are to meet or buy (1 none, 4 high);
- overall: the combined judgement (1 to 4);
- reasoning: why, in at most {MAX_REASONING_CHARS} characters.
Answer with only a JSON object: {{"fit": <1-4>, "intent": <1-4>, "overall": <1-4>, \
"reasoning": "<text>"}}"""


def scoring_prompt(lead: Mapping[str, Any], transcript: Sequence[Mapping[str, Any]]) -> Prompt:
    """The scoring request for a ``leads`` row; ``context``: sentiment tag and transcript."""
    name = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    user = (
        f"Lead: {name or 'unknown'}\n"
        f"Latest sentiment tag: {lead.get('sentiment_tag') or 'none'}\n"
        f"Conversation (oldest first, last {TRANSCRIPT_FOR_SCORING} messages):\n"
        f"{transcript_text(transcript)}"
    )
    return Prompt(
        feature_id=FEATURE,
        prompt_key=PROMPT_KEY,
        system=SYSTEM,
        user=user,
        context={"sentiment_tag": lead.get("sentiment_tag"), "transcript": list(transcript)},
    )


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
    scores: dict[str, Any] = {key: _score_value(data, key) for key in ("fit", "intent", "overall")}
    reasoning = data.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise AIResponseError("score answer has no non-empty string 'reasoning'")
    scores["reasoning"] = clip_reasoning(reasoning)
    return scores


# -- offline ---------------------------------------------------------------------------------

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
    BLACKLIST_TAG: 1,
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


def offline_answer(prompt: Prompt) -> dict[str, Any]:
    """What the offline provider answers :func:`scoring_prompt` (:func:`score`)."""
    return score(prompt.context.get("sentiment_tag"), prompt.context.get("transcript") or ())
