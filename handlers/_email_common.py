"""What the email-platform, LinkedIn, SmartLead and Instantly routes share.

Payload helpers (scalars to text, lenient timestamps, HTML to text, names) and two of the
endings of a route: mark a lead unsubscribed, or ignore an event type (the third, storing a
message, is :func:`handlers._common.ingest`). The routes themselves only validate and map.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from litestar import Request

import db
from db import Client, LeadFields
from handlers._common import write

log = logging.getLogger("leadhook.webhooks")

# A number above this is an epoch in milliseconds, below it in seconds (year 2001 in ms).
_EPOCH_MS_THRESHOLD = 1e12
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def text(value: Any) -> str:
    """A payload scalar as a trimmed string ("" for missing, booleans and containers).

    Ids arrive as numbers or strings depending on the provider; both give the same text
    (``12345`` and ``"12345"`` are ``"12345"``; an integral float ``12345.0`` too).
    """
    if value is None or isinstance(value, dict | list | bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def first_text(*values: Any) -> str:
    """The first of ``values`` that is a non-blank scalar, as text ("" if none)."""
    for value in values:
        found = text(value)
        if found:
            return found
    return ""


def split_name(full_name: str) -> tuple[str | None, str | None]:
    """``"Alex van Lee"`` → ``("Alex", "van Lee")``; one word is a first name only."""
    parts = full_name.split()
    if not parts:
        return None, None
    return parts[0], " ".join(parts[1:]) or None


def parse_when(value: Any) -> datetime | None:
    """A lenient parse of a provider's timestamp, as an aware UTC datetime, or None.

    Accepts ISO-8601 (``Z``, offsets, date only; naive means UTC), RFC 2822 dates, and epoch
    numbers or numeric strings (above 1e12 milliseconds, else seconds).
    """
    if value is None or isinstance(value, bool | dict | list):
        return None
    raw = value.strip() if isinstance(value, str) else value
    if raw == "":
        return None
    try:
        if isinstance(raw, int | float) or _NUMBER.fullmatch(raw):
            number = float(raw)
            if number > _EPOCH_MS_THRESHOLD:
                number /= 1000
            return datetime.fromtimestamp(number, UTC)
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            parsed = parsedate_to_datetime(raw)
    except (ValueError, TypeError, OverflowError, OSError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def sent_at_iso(received_at: datetime, *candidates: Any) -> str:
    """The first candidate that parses, normalised with :func:`db.iso`; else the receipt time."""
    for candidate in candidates:
        parsed = parse_when(candidate)
        if parsed is not None:
            return db.iso(parsed)
    return db.iso(received_at)


# Elements that start or end a line of text.
_BLOCK_TAGS = (
    "address article aside blockquote br dd div dl dt figcaption footer form h1 h2 h3 h4 h5 h6 "
    "header hr li ol p pre section table td th tr ul"
)


class _TextExtractor(HTMLParser):
    _BLOCK = frozenset(_BLOCK_TAGS.split())
    _SKIP = frozenset(("head", "script", "style", "title", "template"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML email body: tags, styles and scripts dropped, entities
    decoded, block elements and ``<br>`` as line breaks, spaces collapsed within lines, blank
    lines dropped (mail clients render ``<div>`` lines and ``<p>`` paragraphs alike here)."""
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def body_text(plain: Any, html: Any = None) -> str:
    """The plain-text body if there is one, else the HTML body as text; trimmed."""
    found = text(plain) if isinstance(plain, str) else ""
    if found:
        return found
    return html_to_text(html) if isinstance(html, str) else ""


def ignored(event_type: str) -> dict[str, Any]:
    return {"success": True, "ignored": True, "eventType": event_type}


async def unsubscribe(
    request: Request, route: str, event_type: str, client: Client, lead: LeadFields
) -> dict[str, Any]:
    """Blacklist the lead (created if unknown); idempotent."""
    now = db.iso(request.app.state.clock())
    lead_id = await write(request, "unsubscribe", lead, now)
    log.info("%s event=%s client=%s lead=%s blacklisted", route, event_type, client.id, lead_id)
    return {"success": True, "leadId": lead_id, "status": db.vocab.BLACKLISTED}
