"""Sentiment: the tag of a lead's reply, the lead status it implies, and how it is found.

The tags and statuses are ``db.vocab.SENTIMENT_TAGS`` and ``db.vocab.LEAD_STATUSES``;
:data:`STATUS_BY_TAG` maps one to the other (the rest → ``new``).

One keyword rule table, :data:`RULES`, first match wins, matched case-insensitively over the
subject and body with curly apostrophes made straight:

- its first rules are the **fast paths** (:func:`fast_path_sentiment`): an opt-out or a bounce
  → ``Blacklist``, a refusal → ``Not Interested``, an away notice → ``Out of Office``. A reply
  they match gets its tag without an AI call;
- the whole table is the **offline classifier** (:func:`classify_offline`), the stand-in for
  the model when the provider is offline: the fast paths, then broader patterns for the same
  three tags (a real model decides those), then the other tags; ``Neutral`` when nothing
  matches, ``New`` for an empty message.

Otherwise the model answers ``{"tag", "reason"}`` to :func:`sentiment_prompt`, and
:func:`validate_sentiment` takes the tag (case and spacing forgiven; an unknown tag is an
:class:`~ai.AIResponseError`). :func:`offline_answer` is that answer made offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ai import AIResponseError, Prompt
from db.vocab import BLACKLIST_TAG, BLACKLISTED, SENTIMENT_TAGS
from postprocess._prompt import clip

FEATURE = "sentiment.classify"
PROMPT_KEY = "sentiment.classify.v1"

STATUS_BY_TAG = {
    "Meeting Booked": "meeting-booked",
    "Meeting Requested": "meeting-requested",
    "Call Requested": "qualified",
    "Information Requested": "qualified",
    "Interested": "qualified",
    "Not Interested": "not-interested",
    BLACKLIST_TAG: BLACKLISTED,
}
DEFAULT_STATUS = "new"
_TAG_BY_LOWER = {tag.lower(): tag for tag in SENTIMENT_TAGS}


def status_for(tag: str) -> str:
    """The lead status a sentiment tag implies (the rest → ``new``)."""
    return STATUS_BY_TAG.get(tag, DEFAULT_STATUS)


# -- the rule table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A tag and the patterns that give it; ``fast``: set without asking the model."""

    tag: str
    patterns: tuple[re.Pattern[str], ...]
    fast: bool = False
    # All the patterns in one: most replies match no rule, and one search per rule is cheaper.
    any_pattern: re.Pattern[str] | None = None


_FLAGS = re.IGNORECASE | re.MULTILINE


def _rule(tag: str, *patterns: str, fast: bool = False) -> Rule:
    compiled = tuple(re.compile(p, _FLAGS) for p in patterns)
    any_pattern = re.compile("|".join(f"(?:{p})" for p in patterns), _FLAGS)
    return Rule(tag, compiled, fast, any_pattern)


RULES: tuple[Rule, ...] = (
    _rule(
        BLACKLIST_TAG,
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
        fast=True,
    ),
    _rule(
        "Not Interested",
        r"\bnot interested\b",
        r"\bno,?\s+thanks\b",
        r"\bno,?\s+thank\s+you\b",
        fast=True,
    ),
    _rule(
        "Out of Office",
        r"\bout of (the )?office\b",
        r"\bOOO\b",
        r"\bon (annual |parental |maternity |paternity |sick )?leave (until|till|through)\b",
        r"\b(currently|i am|i'm) (on vacation|on holiday|away)\b",
        r"\blimited access to (my )?e-?mail\b",
        fast=True,
    ),
    # The offline classifier's rules from here on. These first three are broader than the
    # fast paths above, which must be sure: a real model decides what only these match.
    _rule(BLACKLIST_TAG, r"\b(do not|don't) (contact|text|email|message|call)\b"),
    _rule("Not Interested", r"\bno,? thanks?\b"),
    _rule("Out of Office", r"\bon (vacation|holiday|leave)\b"),
    _rule(
        "Automated Reply",
        r"\bauto(matic|mated)?[\s-]?reply\b",
        r"\bthis is an automated\b",
        r"\bdo not reply\b",
        r"\bnot monitored\b",
    ),
    _rule(
        "Meeting Booked",
        r"\b(just |i've |i have |i )booked\b",
        r"\bbooked (a|the|it|us|in)\b",
        r"\b(meeting|call|time) is (booked|confirmed|scheduled)\b",
        r"\bsee you (on|then|tomorrow|monday|tuesday|wednesday|thursday|friday)\b",
        r"\binvite accepted\b",
    ),
    _rule(
        "Call Requested",
        r"\bcall me\b",
        r"\bgive me a (call|ring)\b",
        r"\b(hop|jump|get) on a (quick )?call\b",
        r"\bphone call\b",
        r"\bring me\b",
        r"\bcan you call\b",
    ),
    _rule(
        "Meeting Requested",
        r"\b(set up|schedule|book|arrange) (a |an )?(time|meeting|demo|chat|call)\b",
        r"\bmeet(ing)?\b",
        r"\bdemo\b",
        r"\b(your|my) (calendar|availability)\b",
        r"\bwhen are you (free|available)\b",
    ),
    _rule(
        "Information Requested",
        r"\bmore (info|information|details)\b",
        r"\bpric(e|es|ing)\b",
        r"\bhow much\b",
        r"\bcost\b",
        r"\bsend (me|over)\b",
        r"\b(brochure|deck|case stud(y|ies))\b",
        r"\bhow does (it|this) work\b",
    ),
    _rule(
        "Snoozed",
        r"\b(reach out|contact me|check back|try me|ping me) (again )?(in|next|after)\b",
        r"\bnext (month|quarter|year)\b",
    ),
    _rule(
        "Follow Up",
        r"\bnot (right )?now\b",
        r"\b(circle|get) back\b",
        r"\bfollow[\s-]?up\b",
        r"\blater\b",
        r"\bbusy\b",
    ),
    _rule(
        "Interested",
        r"\binterested\b",
        r"\bsounds (good|great|interesting)\b",
        r"\btell me more\b",
        r"\b(would|i'd) love to\b",
        r"^\W*(yes|yeah|yep|sure|absolutely|definitely)\b",
    ),
)
FAST_PATHS = tuple(rule for rule in RULES if rule.fast)


def _reply_text(body: str | None, subject: str | None) -> str:
    text = f"{subject or ''}\n{body or ''}"
    return text.replace("\u2019", "'").replace("\u2018", "'")


def _first_match(text: str, rules: tuple[Rule, ...]) -> tuple[str, re.Match[str]] | None:
    for rule in rules:
        if rule.any_pattern is not None and rule.any_pattern.search(text) is None:
            continue
        for pattern in rule.patterns:
            match = pattern.search(text)
            if match:
                return rule.tag, match
    return None


def fast_path_sentiment(body: str | None, subject: str | None = None) -> str | None:
    """The tag a reply gets without AI (the fast-path rules), or None."""
    found = _first_match(_reply_text(body, subject), FAST_PATHS)
    return found[0] if found else None


def classify_offline(body: str | None, subject: str | None = None) -> tuple[str, str]:
    """``(tag, reason)`` by the first matching rule of the whole table; ``Neutral`` otherwise."""
    text = _reply_text(body, subject).strip()
    if not text:
        return "New", "empty message"
    found = _first_match(text, RULES)
    if found is None:
        return "Neutral", "no rule matched"
    tag, match = found
    return tag, f"matched {match.group(0).strip()!r}"


# -- the model -------------------------------------------------------------------------------

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

SYSTEM = f"""\
You classify the latest reply a prospect sent to a sales outreach message.
Pick exactly one tag:
{_TAG_HELP}
Answer with only a JSON object: {{"tag": "<one tag, spelled exactly as above>", \
"reason": "<at most 20 words>"}}"""


def sentiment_prompt(message: Mapping[str, Any]) -> Prompt:
    """The classification request for a ``messages`` row; ``context``: body and subject."""
    subject = message.get("subject")
    user = f"Channel: {message.get('channel')}\n"
    if subject:
        user += f"Subject: {clip(subject, 300)}\n"
    user += f"Reply:\n<<<\n{clip(message.get('body'), 4000)}\n>>>"
    return Prompt(
        feature_id=FEATURE,
        prompt_key=PROMPT_KEY,
        system=SYSTEM,
        user=user,
        context={"body": message.get("body") or "", "subject": subject},
    )


def validate_sentiment(data: Mapping[str, Any]) -> str:
    """``{"tag": ...}`` → the canonical tag (case and spacing are forgiven)."""
    raw = data.get("tag")
    if not isinstance(raw, str):
        raise AIResponseError(f"sentiment answer has no string 'tag': {dict(data)!r:.200}")
    tag = _TAG_BY_LOWER.get(" ".join(raw.split()).lower())
    if tag is None:
        raise AIResponseError(f"unknown sentiment tag {raw!r:.100}")
    return tag


def offline_answer(prompt: Prompt) -> dict[str, Any]:
    """What the offline provider answers :func:`sentiment_prompt` (:func:`classify_offline`)."""
    tag, reason = classify_offline(
        str(prompt.context.get("body") or ""), prompt.context.get("subject")
    )
    return {"tag": tag, "reason": reason}
