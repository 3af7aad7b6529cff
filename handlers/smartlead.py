"""SmartLead webhooks: ``POST /api/webhooks/smartlead``.

SmartLead cannot always set headers, so besides the usual client token (``Authorization:
Bearer``, ``X-Leadhook-Token``, ``?token=``) the token may travel as the body's
``secret_key`` (the webhook's secret in SmartLead's settings). SmartLead payloads carry no
workspace id leadhook could check against the client: the token alone identifies the
workspace.

- ``EMAIL_REPLY``: an inbound email keyed by a reply handle in ``email_reply_id``:
  ``smartlead:`` + the reply's RFC Message-ID (``reply_message.message_id``, else the
  deprecated top-level ``message_id``), else ``smartlead:`` + a hash of stable fields only
  (campaign, stats id, lead email; never the receipt time). Job
  ``SMARTLEAD_INBOUND_POST_PROCESS``.
- ``EMAIL_SENT``: an outbound email keyed by ``scheduled_email_id = smartlead:<stats_id>``.
- ``LEAD_UNSUBSCRIBED``: the lead is blacklisted.
- anything else: ``200 {"success": true, "ignored": true, "eventType": ...}``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import ClientException, NotAuthorizedException

import db
from ai import ai_telemetry_source
from db import Client, LeadFields, NewMessage
from handlers._common import authenticate, ingest, read_json_object, token_from
from handlers._email_common import (
    body_text,
    first_text,
    ignored,
    sent_at_iso,
    split_name,
    text,
    unsubscribe,
)

PATH = "/api/webhooks/smartlead"
Scalar = str | int | float | None
REPLY_EVENT = "EMAIL_REPLY"
SENT_EVENT = "EMAIL_SENT"
UNSUBSCRIBED_EVENT = "LEAD_UNSUBSCRIBED"


class SmartLeadEmail(msgspec.Struct, kw_only=True):
    message_id: Scalar = None
    text: Any = None
    html: Any = None
    time: Any = None


class LeadCorrespondence(msgspec.Struct, kw_only=True):
    target_lead_email: Scalar = msgspec.field(name="targetLeadEmail", default=None)


class SmartLeadWebhook(msgspec.Struct, kw_only=True):
    """The fields of a SmartLead event that leadhook reads; others are ignored."""

    event_type: Scalar = None
    campaign_id: Scalar = None
    stats_id: Scalar = None
    sl_lead_email: Scalar = None
    sl_lead_name: Scalar = None
    to_email: Scalar = None
    to_name: Scalar = None
    lead_email: Scalar = None
    subject: Scalar = None
    event_timestamp: Any = None
    time_replied: Any = None
    time_sent: Any = None
    message_id: Scalar = None
    reply_message: SmartLeadEmail | None = None
    sent_message: SmartLeadEmail | None = None
    preview_text: Any = None
    reply_body: Any = None
    sent_message_body: Any = None
    lead_correspondence: LeadCorrespondence | None = None


class _SecretKey(msgspec.Struct):
    secret_key: Any = None


async def smartlead_client(request: Request) -> Client:
    """The client token from a header or ``?token=``; if there is none, the body's
    ``secret_key`` (the body is read within the size limit, 413 past it). Either way it is
    resolved like every client token (:func:`handlers._common.authenticate`: hashed, and
    re-checked in the write's transaction); 401 otherwise, before anything is stored."""
    token = token_from(request)
    if token is None:
        raw = await request.body()  # cached: the handler reads the same bytes
        try:
            secret = msgspec.json.decode(raw, type=_SecretKey).secret_key
        except (msgspec.DecodeError, msgspec.ValidationError):
            secret = None
        token = (secret.strip() or None) if isinstance(secret, str) else None
    if token is None:
        raise NotAuthorizedException("Missing client token")
    return await authenticate(request, token)


def lead_email(payload: SmartLeadWebhook) -> str:
    correspondence = payload.lead_correspondence
    return first_text(
        correspondence.target_lead_email if correspondence else None,
        payload.sl_lead_email,
        payload.lead_email,
        payload.to_email,
    )


def lead_fields(payload: SmartLeadWebhook, email: str) -> LeadFields:
    first, last = split_name(first_text(payload.sl_lead_name, payload.to_name))
    return LeadFields(email=email, first_name=first, last_name=last)


def reply_handle(payload: SmartLeadWebhook, email: str) -> str | None:
    """``smartlead:<Message-ID>``, else ``smartlead:`` + 32 hex digits of SHA-256 over
    ``campaign_id|stats_id|lead email`` (None without a Message-ID or a stats id)."""
    reply = payload.reply_message or SmartLeadEmail()
    message_id = first_text(reply.message_id, payload.message_id)
    if message_id:
        return "smartlead:" + message_id
    stats_id = text(payload.stats_id)
    if not stats_id:
        return None
    joined = "|".join((text(payload.campaign_id), stats_id, email.lower()))
    return "smartlead:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def reply_body(payload: SmartLeadWebhook) -> str:
    """``reply_message.text``, else ``preview_text``, else ``reply_body`` / the reply's HTML
    as text."""
    reply = payload.reply_message or SmartLeadEmail()
    return (
        body_text(reply.text)
        or body_text(payload.preview_text)
        or body_text(None, payload.reply_body)
        or body_text(None, reply.html)
    )


class SmartLeadWebhookController(Controller):
    path = PATH

    @post(status_code=200, summary="SmartLead events (token in a header or as secret_key)")
    async def receive(self, request: Request) -> dict[str, Any]:
        with ai_telemetry_source(PATH):
            return await self._receive(request)

    async def _receive(self, request: Request) -> dict[str, Any]:
        client = await smartlead_client(request)
        payload = await read_json_object(request, SmartLeadWebhook)
        event_type = text(payload.event_type)
        if not event_type:
            raise ClientException("Missing event_type")
        received_at = request.app.state.clock()

        if event_type == REPLY_EVENT:
            email = lead_email(payload)
            handle = reply_handle(payload, email)
            if handle is None:
                raise ClientException("Missing reply_message.message_id (or stats_id)")
            if not email:
                raise ClientException("Missing lead email (sl_lead_email)")
            reply = payload.reply_message or SmartLeadEmail()
            message = NewMessage(
                client_id=client.id,
                channel="email",
                direction="inbound",
                body=reply_body(payload),
                subject=text(payload.subject) or None,
                sent_at=sent_at_iso(
                    received_at, reply.time, payload.time_replied, payload.event_timestamp
                ),
                received_at=db.iso(received_at),
                source="smartlead",
                dedupe_column="email_reply_id",
                dedupe_value=handle,
                job_type=db.vocab.SMARTLEAD_INBOUND_POST_PROCESS,
            )
            return await ingest(request, PATH, event_type, message, lead_fields(payload, email))

        if event_type == SENT_EVENT:
            stats_id = text(payload.stats_id)
            if not stats_id:
                raise ClientException("Missing stats_id")
            email = lead_email(payload)
            if not email:
                raise ClientException("Missing lead email (sl_lead_email)")
            sent = payload.sent_message or SmartLeadEmail()
            message = NewMessage(
                client_id=client.id,
                channel="email",
                direction="outbound",
                body=body_text(sent.text, sent.html) or body_text(None, payload.sent_message_body),
                subject=text(payload.subject) or None,
                sent_at=sent_at_iso(
                    received_at, sent.time, payload.time_sent, payload.event_timestamp
                ),
                received_at=db.iso(received_at),
                source="smartlead",
                dedupe_column="scheduled_email_id",
                dedupe_value="smartlead:" + stats_id,
                job_type=None,
            )
            return await ingest(request, PATH, event_type, message, lead_fields(payload, email))

        if event_type == UNSUBSCRIBED_EVENT:
            email = lead_email(payload)
            if not email:
                raise ClientException("Missing lead email (sl_lead_email)")
            lead = lead_fields(payload, email)
            return await unsubscribe(request, PATH, event_type, client, lead)

        return ignored(event_type)
