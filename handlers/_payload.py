"""Reading provider payloads: scalars as text, lenient timestamps, names, HTML bodies, and
:func:`new_message`, which every route's message goes through (with the one timestamp rule).

Providers send ids as numbers or strings and times in many spellings; these helpers never
raise on a strange value, they give "" or None and the route decides (usually a 400 through
:func:`handlers._webhook.require`, or the receipt time).

Two readings of a scalar, because dedupe keys depend on the exact text: :func:`raw_text` is
the value as sent (GoHighLevel's content key, Instantly's timestamp), :func:`text` is trimmed
with integral floats as integers (ids: ``12345``, ``"12345"`` and ``12345.0`` are one id).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

import db
from db import Client, NewMessage

Scalar = str | int | float | None
"""A payload field that providers send as a number or a string (booleans are rejected)."""

# A number above this is an epoch in milliseconds, below it in seconds (year 2001 in ms).
_EPOCH_MS_THRESHOLD = 1e12
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def raw_text(value: Any) -> str:
    """A payload scalar as sent, untouched ("" for missing, booleans and containers)."""
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value)


def text(value: Any) -> str:
    """A payload scalar as a trimmed string ("" for missing, booleans and containers).

    Ids arrive as numbers or strings depending on the provider; both give the same text
    (``12345`` and ``"12345"`` are ``"12345"``; an integral float ``12345.0`` too).
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return raw_text(value).strip()


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


def parse_when(value: Any, formats: Sequence[str] = ()) -> datetime | None:
    """A lenient parse of a provider's timestamp, as an aware UTC datetime, or None.

    Always ISO-8601 (``Z``, offsets, date only); naive times are UTC. Then, without
    ``formats``: RFC 2822 dates, and epoch numbers or numeric strings (above 1e12
    milliseconds, else seconds). With ``formats`` (a provider that writes its own layouts,
    e.g. GoHighLevel's ``1/18/2026 3:04 PM``): those ``strptime`` formats in order, runs of
    whitespace read as one space, and nothing else.
    """
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, str):
        value = " ".join(value.split()) if formats else value.strip()
        if value == "":
            return None
    try:
        parsed = _from_layouts(value, formats) if formats else _from_common(value)
    except (ValueError, TypeError, OverflowError, OSError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _from_common(value: str | int | float) -> datetime:
    if isinstance(value, int | float) or _NUMBER.fullmatch(value):
        number = float(value)
        if number > _EPOCH_MS_THRESHOLD:
            number /= 1000
        return datetime.fromtimestamp(number, UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return parsedate_to_datetime(value)


def _from_layouts(value: str, formats: Sequence[str]) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


# The provider's timestamp is the message's ``sent_at`` only within these bounds of the
# receipt time (DESIGN "Lead state rules"): a clock ahead of ours, or a replay of an old
# event, must not reorder a lead's messages nor move its roll-ups into the future.
MAX_AHEAD = timedelta(minutes=5)
MAX_BEHIND = timedelta(days=30)

ProviderTime = tuple[datetime | None, str | None]
"""A provider's timestamp as parsed (None: unreadable or absent) and as sent (None: absent)."""


def provider_time(*candidates: Any) -> ProviderTime:
    """The first candidate that parses (:func:`parse_when`) with its raw text; else None
    and the raw text of the first non-blank candidate (None if every one is blank)."""
    first_raw = None
    for candidate in candidates:
        raw = raw_text(candidate).strip()
        if not raw:
            continue
        parsed = parse_when(candidate)
        if parsed is not None:
            return parsed, raw
        first_raw = first_raw or raw
    return None, first_raw


def clamp_sent_at(received_at: datetime, provider: ProviderTime) -> tuple[str, str | None]:
    """``(sent_at, provider_sent_at)``: the provider's time when it lies within 5 minutes
    ahead of and 30 days behind ``received_at``, and None; else the receipt time and the
    provider's raw value (None when it sent none)."""
    parsed, raw = provider
    if parsed is not None and received_at - MAX_BEHIND <= parsed <= received_at + MAX_AHEAD:
        return db.iso(parsed), None
    return db.iso(received_at), raw


def new_message(
    client: Client,
    received_at: datetime,
    *,
    channel: str,
    direction: str,
    source: str,
    body: str,
    dedupe: tuple[str, str],
    subject: str | None = None,
    sent: Sequence[Any] = (),
    sent_at: ProviderTime | None = None,
    job_type: str | None = None,
    repeat_window_seconds: int | None = None,
    sentiment_hint: str | None = None,
) -> NewMessage:
    """The message a delivery stores, received at ``received_at``. The provider's time is
    the first of ``sent`` that parses, or ``sent_at`` when the route resolved its own
    (GoHighLevel); either way it is clamped (:func:`clamp_sent_at`), the one rule for every
    channel. ``dedupe`` is ``(column, value)``."""
    column, value = dedupe
    stored_sent_at, provider_sent_at = clamp_sent_at(
        received_at, sent_at if sent_at is not None else provider_time(*sent)
    )
    return NewMessage(
        client_id=client.id,
        channel=channel,
        direction=direction,
        body=body,
        subject=subject or None,
        sent_at=stored_sent_at,
        received_at=db.iso(received_at),
        source=source,
        dedupe_column=column,
        dedupe_value=value,
        job_type=job_type,
        repeat_window_seconds=repeat_window_seconds,
        provider_sent_at=provider_sent_at,
        sentiment_hint=sentiment_hint,
    )


def sent_at_iso(received_at: datetime, *candidates: Any) -> str:
    """The ``sent_at`` of :func:`new_message` for these candidates."""
    return clamp_sent_at(received_at, provider_time(*candidates))[0]


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
