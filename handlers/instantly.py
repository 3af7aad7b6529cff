"""Instantly webhooks: ``POST /api/webhooks/instantly``.

Instantly payloads carry the Instantly ``workspace`` uuid, which leadhook does not record:
the client token alone identifies the workspace.

- ``reply_received``: an inbound email keyed by a reply handle in ``email_reply_id``:
  ``instantly:`` + the first 32 hex digits of SHA-256 over ``email_id|email_account|timestamp``,
  with the payload's own ``timestamp`` taken raw (missing: the empty string, never the receipt
  time, so a retry without one still dedupes). Job ``INSTANTLY_INBOUND_POST_PROCESS``.
- ``email_sent``: an outbound email keyed by ``scheduled_email_id = instantly:<email_id>``.
- ``lead_unsubscribed``: the lead is blacklisted.
- anything else: ``200 {"success": true, "ignored": true, "eventType": ...}``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import ClientException

import db
from ai import ai_telemetry_source
from db import LeadFields, NewMessage
from handlers._common import authenticate, ingest, read_json_object
from handlers._email_common import (
    body_text,
    first_text,
    ignored,
    sent_at_iso,
    split_name,
    text,
    unsubscribe,
)

PATH = "/api/webhooks/instantly"
Scalar = str | int | float | None
REPLY_EVENT = "reply_received"
SENT_EVENT = "email_sent"
UNSUBSCRIBED_EVENTS = frozenset(("lead_unsubscribed", "unsubscribed"))


class InstantlyWebhook(msgspec.Struct, kw_only=True):
    """The fields of an Instantly event that leadhook reads; others are ignored."""

    event_type: Scalar = None
    type: Scalar = None  # older payloads
    timestamp: Scalar = None
    lead_email: Scalar = None
    contact_email: Scalar = None
    email: Scalar = None
    first_name: Scalar = None
    last_name: Scalar = None
    first_name_camel: Scalar = msgspec.field(name="firstName", default=None)
    last_name_camel: Scalar = msgspec.field(name="lastName", default=None)
    contact_name: Scalar = None
    email_account: Scalar = None
    email_id: Scalar = None
    email_subject: Scalar = None
    email_text: Any = None
    email_html: Any = None
    reply_subject: Scalar = None
    reply_text: Any = None
    reply_html: Any = None


def raw_text(value: Scalar) -> str:
    """A scalar as sent (not trimmed, not parsed); "" when missing."""
    return "" if value is None else str(value)


def reply_handle(email_id: str, email_account: str, timestamp: str) -> str:
    joined = "|".join((email_id, email_account, timestamp))
    return "instantly:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def lead_fields(payload: InstantlyWebhook, email: str) -> LeadFields:
    first = first_text(payload.first_name, payload.first_name_camel)
    last = first_text(payload.last_name, payload.last_name_camel)
    if not (first or last):
        first, last = (part or "" for part in split_name(text(payload.contact_name)))
    return LeadFields(email=email, first_name=first, last_name=last)


class InstantlyWebhookController(Controller):
    path = PATH

    @post(status_code=200, summary="Instantly events")
    async def receive(self, request: Request) -> dict[str, Any]:
        with ai_telemetry_source(PATH):
            return await self._receive(request)

    async def _receive(self, request: Request) -> dict[str, Any]:
        client = await authenticate(request)
        payload = await read_json_object(request, InstantlyWebhook)
        event_type = first_text(payload.event_type, payload.type)
        if not event_type:
            raise ClientException("Missing event_type")
        email = first_text(payload.lead_email, payload.contact_email, payload.email)
        received_at = request.app.state.clock()

        if event_type == REPLY_EVENT:
            email_id = text(payload.email_id)
            if not email_id:
                raise ClientException("Missing email_id")
            if not email:
                raise ClientException("Missing lead_email")
            handle = reply_handle(
                email_id, text(payload.email_account), raw_text(payload.timestamp)
            )
            message = NewMessage(
                client_id=client.id,
                channel="email",
                direction="inbound",
                body=body_text(payload.reply_text, payload.reply_html),
                subject=text(payload.reply_subject) or None,
                sent_at=sent_at_iso(received_at, payload.timestamp),
                received_at=db.iso(received_at),
                source="instantly",
                dedupe_column="email_reply_id",
                dedupe_value=handle,
                job_type=db.vocab.INSTANTLY_INBOUND_POST_PROCESS,
            )
            return await ingest(request, PATH, event_type, message, lead_fields(payload, email))

        if event_type == SENT_EVENT:
            email_id = text(payload.email_id)
            if not email_id:
                raise ClientException("Missing email_id")
            if not email:
                raise ClientException("Missing lead_email")
            message = NewMessage(
                client_id=client.id,
                channel="email",
                direction="outbound",
                body=body_text(payload.email_text, payload.email_html),
                subject=text(payload.email_subject) or None,
                sent_at=sent_at_iso(received_at, payload.timestamp),
                received_at=db.iso(received_at),
                source="instantly",
                dedupe_column="scheduled_email_id",
                dedupe_value="instantly:" + email_id,
                job_type=None,
            )
            return await ingest(request, PATH, event_type, message, lead_fields(payload, email))

        if event_type in UNSUBSCRIBED_EVENTS:
            if not email:
                raise ClientException("Missing lead_email")
            lead = lead_fields(payload, email)
            return await unsubscribe(request, PATH, event_type, client, lead)

        return ignored(event_type)
