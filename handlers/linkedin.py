"""LinkedIn messages through Unipile: ``POST /api/webhooks/linkedin``.

Unipile's documented flat shape: ``event``, ``account_id``, ``message_id``, ``message``,
``sender{attendee_provider_id, attendee_name, attendee_profile_url}``, ``attendees``,
``account_info.user_id``, ``timestamp``. ``account_id`` must be the token's
``unipile_account_id``.

- ``message_received``: a message keyed by ``unipile_message_id``. Sent by the lead: inbound,
  job ``LINKEDIN_INBOUND_POST_PROCESS``. Sent by the account itself (from another device;
  ``sender.attendee_provider_id == account_info.user_id``): outbound, no job, filed under the
  other attendee.
  An own message whose other person cannot be told (no single other attendee) is ignored.
- anything else (reactions, read receipts, ...): ``200 {"success": true, "ignored": true}``.

Unipile redelivers when it has no 200 within 30 s: the route does one committed write
(bounded by the write timeout, 8 s) and nothing else slow.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import ClientException

import db
from ai import ai_telemetry_source
from db import LeadFields, NewMessage
from handlers._common import authenticate, ingest, read_json_object, require_workspace
from handlers._email_common import sent_at_iso, split_name, text

PATH = "/api/webhooks/linkedin"
Scalar = str | int | float | None
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


class LinkedInWebhookController(Controller):
    path = PATH

    @post(status_code=200, summary="LinkedIn messages through Unipile")
    async def receive(self, request: Request) -> dict[str, Any]:
        with ai_telemetry_source(PATH):
            return await self._receive(request)

    async def _receive(self, request: Request) -> dict[str, Any]:
        client = await authenticate(request)
        payload = await read_json_object(request, UnipileWebhook)
        event = event_name(payload.event)
        if not event:
            raise ClientException("Missing event")
        account_id = text(payload.account_id)
        if not account_id:
            raise ClientException("Missing account_id")
        if event != MESSAGE_EVENT:
            require_workspace(client.unipile_account_id, account_id, "account_id")
            return {"success": True, "ignored": True, "eventType": event}

        message_id = text(payload.message_id)
        if not message_id:
            raise ClientException("Missing message_id")
        sender = payload.sender or Attendee()
        own_id = text(payload.account_info.user_id) if payload.account_info else ""
        outbound = bool(own_id) and text(sender.attendee_provider_id) == own_id
        person = counterpart(payload, own_id) if outbound else sender
        lead = lead_fields(person) if person is not None else None
        if lead is not None and not (lead.linkedin_id or lead.linkedin_url):
            raise ClientException("Missing sender.attendee_provider_id")
        require_workspace(client.unipile_account_id, account_id, "account_id")
        if lead is None:
            # Sent by the account in a chat whose other person we cannot tell (a group chat,
            # no attendees): nothing to file it under, and a retry would not help.
            return {"success": True, "ignored": True, "eventType": event, "reason": "no_lead"}

        received_at = request.app.state.clock()
        message = NewMessage(
            client_id=client.id,
            channel="linkedin",
            direction="outbound" if outbound else "inbound",
            body=message_text(payload.message),
            sent_at=sent_at_iso(received_at, payload.timestamp),
            received_at=db.iso(received_at),
            source="unipile",
            dedupe_column="unipile_message_id",
            dedupe_value=message_id,
            job_type=None if outbound else db.vocab.LINKEDIN_INBOUND_POST_PROCESS,
        )
        return await ingest(request, PATH, event, message, lead)
