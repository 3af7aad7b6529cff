"""LinkedIn messages through Unipile: ``POST /api/webhooks/linkedin``.

Unipile's documented flat shape: ``event``, ``account_id``, ``message_id``, ``message``,
``sender{attendee_provider_id, attendee_name, attendee_profile_url}``, ``attendees``,
``account_info.user_id``, ``timestamp``. ``account_id`` must be the token's
``unipile_account_id``.

- ``message_received``: a message keyed by ``unipile_message_id``. Sent by the lead: inbound,
  job ``LINKEDIN_INBOUND_POST_PROCESS``. Sent by the account itself (from another device;
  ``sender.attendee_provider_id == account_info.user_id``): outbound, no job, filed under the
  other attendee. An own message whose other person cannot be told (no single other
  attendee) is ignored, with ``"reason": "no_lead"``.
- anything else (reactions, read receipts, ...): ``200 {"success": true, "ignored": true,
  "eventType": ...}``.

Unipile redelivers when it has no 200 within 30 s: the route does one committed write
(bounded by the write timeout, 8 s) and nothing else slow.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import msgspec

import db
from db import Client, LeadFields
from handlers._payload import Scalar, new_message, split_name, text
from handlers._webhook import (
    Delivery,
    Ignore,
    StoreMessage,
    require,
    require_workspace,
    webhook_route,
)

if TYPE_CHECKING:
    from config import Settings

PATH = "/api/webhooks/linkedin"
MESSAGE_EVENT = "message_received"


class Attendee(msgspec.Struct, kw_only=True):
    attendee_id: Scalar = None
    attendee_name: Scalar = None
    attendee_provider_id: Scalar = None
    attendee_profile_url: Scalar = None


class AccountInfo(msgspec.Struct, kw_only=True):
    user_id: Scalar = None


class UnipileWebhook(msgspec.Struct, kw_only=True):
    """The fields of a Unipile messaging event that leadhook reads; others are ignored."""

    event: Any = None
    account_id: Scalar = None
    account_info: AccountInfo | None = None
    message_id: Scalar = None
    message: Any = None
    timestamp: Any = None
    sender: Attendee | None = None
    attendees: list[Attendee] | None = None


def normalize_linkedin_url(url: str) -> str | None:
    """A person's profile URL as ``https://linkedin.com/in/<user>``, or None.

    The host is lowercased and loses ``www.`` (and country prefixes such as ``uk.``); the
    query, fragment and trailing slash go. The user part keeps its case (Unipile uses
    provider ids such as ``ACoAA...`` there). Company and other pages give None.
    """
    url = url.strip()
    if not url:
        return None
    if "://" not in url:
        url = "https://" + url.lstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[0].lower() != "in":
        return None
    user = unquote(segments[1]).strip()
    return f"https://linkedin.com/in/{user}" if user else None


def event_name(event: Any) -> str:
    """``event`` is a string in Unipile's v1 shape; tolerate an object with a ``type``."""
    if isinstance(event, dict):
        return text(event.get("type"))
    return text(event)


def message_text(message: Any) -> str:
    if isinstance(message, dict):
        return text(message.get("text"))
    return text(message)


def lead_fields(person: Attendee) -> LeadFields:
    first, last = split_name(text(person.attendee_name))
    return LeadFields(
        linkedin_id=text(person.attendee_provider_id),
        linkedin_url=normalize_linkedin_url(text(person.attendee_profile_url)),
        first_name=first,
        last_name=last,
    )


def counterpart(payload: UnipileWebhook, own_id: str) -> Attendee | None:
    """For a message the account sent: the one other attendee of the chat, if known."""
    others = [
        a
        for a in payload.attendees or []
        if text(a.attendee_provider_id) != own_id
        and (text(a.attendee_provider_id) or text(a.attendee_profile_url))
    ]
    return others[0] if len(others) == 1 else None


def parse(payload: UnipileWebhook, client: Client, now: datetime, settings: Settings) -> Delivery:
    """The delivery of one event (``now``: its receipt time)."""
    event = require(event_name(payload.event), "event")
    account_id = require(text(payload.account_id), "account_id")

    def check_workspace() -> None:
        require_workspace(client.unipile_account_id, account_id, "account_id")

    if event != MESSAGE_EVENT:
        check_workspace()
        return Ignore(event)

    message_id = require(text(payload.message_id), "message_id")
    sender = payload.sender or Attendee()
    own_id = text(payload.account_info.user_id) if payload.account_info else ""
    outbound = bool(own_id) and text(sender.attendee_provider_id) == own_id
    person = counterpart(payload, own_id) if outbound else sender
    lead = lead_fields(person) if person is not None else None
    if lead is not None:
        require(lead.linkedin_id or lead.linkedin_url or "", "sender.attendee_provider_id")
    check_workspace()
    if lead is None:
        # Sent by the account in a chat whose other person we cannot tell (a group chat,
        # no attendees): nothing to file it under, and a retry would not help.
        return Ignore(event, "no_lead")

    message = new_message(
        client,
        now,
        channel="linkedin",
        direction="outbound" if outbound else "inbound",
        source="unipile",
        body=message_text(payload.message),
        dedupe=("unipile_message_id", message_id),
        sent=(payload.timestamp,),
        job_type=None if outbound else db.vocab.LINKEDIN_INBOUND_POST_PROCESS,
    )
    return StoreMessage(event, message, lead)


route = webhook_route(
    PATH,
    UnipileWebhook,
    parse,
    summary="LinkedIn messages through Unipile",
    workspace_field="account_id",
)
