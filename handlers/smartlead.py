"""SmartLead webhooks: ``POST /api/webhooks/smartlead``.

SmartLead cannot always set headers, so besides the usual client token (``Authorization:
Bearer``, ``X-Leadhook-Token``, ``?token=``) the token may travel as the body's
``secret_key`` (the webhook's secret in SmartLead's settings). SmartLead payloads carry no
workspace id leadhook could check against the client: the token alone identifies the
workspace.

- ``EMAIL_REPLY``: an inbound email keyed by a reply handle in ``email_reply_id``:
  ``smartlead:`` + the reply's RFC Message-ID (``reply_message.message_id``, else the
  deprecated top-level ``message_id``), else ``smartlead:`` + a hash of the payload's own
  fields (campaign, stats id, lead email, the reply's own time and a hash of its body; never
  the receipt time), so two replies to one sent email are two messages and a retry dedupes.
  Job ``SMARTLEAD_INBOUND_POST_PROCESS``.
- ``EMAIL_SENT``: an outbound email keyed by ``scheduled_email_id = smartlead:<stats_id>``.
- ``LEAD_UNSUBSCRIBED``: the lead is blacklisted.
- anything else: ``200 {"success": true, "ignored": true, "eventType": ...}``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException

import db
from db import Client, LeadFields, NewMessage
from handlers._auth import Caller, authenticate, missing_token, token_from
from handlers._payload import Scalar, body_text, first_text, new_message, split_name, text
from handlers._webhook import (
    TOO_DEEP,
    Delivery,
    Ignore,
    StoreMessage,
    Unsubscribe,
    read_body,
    require,
    webhook_route,
)

if TYPE_CHECKING:
    from config import Settings

PATH = "/api/webhooks/smartlead"
REPLY_EVENT = "EMAIL_REPLY"
SENT_EVENT = "EMAIL_SENT"
UNSUBSCRIBED_EVENT = "LEAD_UNSUBSCRIBED"
LEAD_EMAIL = "lead email (sl_lead_email)"


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


async def smartlead_caller(request: Request) -> Caller:
    """The client token from a header or ``?token=``; if there is none, the body's
    ``secret_key`` (the body is read within the size limit, 413 past it; JSON nested too deeply
    is a 400 as on every route). Either way it is resolved like every client token
    (:func:`handlers._auth.authenticate`: hashed, and re-checked in the write's transaction);
    401 otherwise, before anything is stored."""
    token = token_from(request)
    if token is None:
        raw = await read_body(request)  # cached: the route decodes the same bytes
        try:
            secret = msgspec.json.decode(raw, type=_SecretKey).secret_key
        except (msgspec.DecodeError, msgspec.ValidationError):
            secret = None
        except RecursionError:
            raise ClientException(TOO_DEEP) from None
        token = (secret.strip() or None) if isinstance(secret, str) else None
    if token is None:
        raise missing_token(request, also=", or as secret_key in the body")
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
    ``campaign_id|stats_id|lead email|reply time|body hash`` (None without a Message-ID or
    a stats id).

    ``stats_id`` names the *sent* email: two replies to it share it. What tells them apart
    is the reply's own time (``reply_message.time``, else ``time_replied``; raw) and its
    body (SHA-256 of the text, whitespace collapsed). A retry of the same reply has both the
    same, so it still dedupes; ``event_timestamp`` (when the event was sent, which a retry
    may change) is left out.
    """
    reply = payload.reply_message or SmartLeadEmail()
    message_id = first_text(reply.message_id, payload.message_id)
    if message_id:
        return "smartlead:" + message_id
    stats_id = text(payload.stats_id)
    if not stats_id:
        return None
    replied = first_text(reply.time, payload.time_replied)
    body = " ".join(reply_body(payload).split())
    body_hash = hashlib.sha256(body.encode("utf-8")).hexdigest()
    joined = "|".join((text(payload.campaign_id), stats_id, email.lower(), replied, body_hash))
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


def reply_message(
    payload: SmartLeadWebhook, handle: str, client: Client, now: datetime
) -> NewMessage:
    reply = payload.reply_message or SmartLeadEmail()
    return new_message(
        client,
        now,
        channel="email",
        direction="inbound",
        source="smartlead",
        body=reply_body(payload),
        subject=text(payload.subject),
        dedupe=("email_reply_id", handle),
        sent=(reply.time, payload.time_replied, payload.event_timestamp),
        job_type=db.vocab.SMARTLEAD_INBOUND_POST_PROCESS,
    )


def sent_message(
    payload: SmartLeadWebhook, stats_id: str, client: Client, now: datetime
) -> NewMessage:
    sent = payload.sent_message or SmartLeadEmail()
    return new_message(
        client,
        now,
        channel="email",
        direction="outbound",
        source="smartlead",
        body=body_text(sent.text, sent.html) or body_text(None, payload.sent_message_body),
        subject=text(payload.subject),
        dedupe=("scheduled_email_id", "smartlead:" + stats_id),
        sent=(sent.time, payload.time_sent, payload.event_timestamp),
    )


def parse(payload: SmartLeadWebhook, client: Client, now: datetime, settings: Settings) -> Delivery:
    """The delivery of one event (``now``: its receipt time)."""
    event_type = require(text(payload.event_type), "event_type")
    if event_type == REPLY_EVENT:
        email = lead_email(payload)
        handle = require(
            reply_handle(payload, email) or "", "reply_message.message_id (or stats_id)"
        )
        lead = lead_fields(payload, require(email, LEAD_EMAIL))
        return StoreMessage(event_type, reply_message(payload, handle, client, now), lead)
    if event_type == SENT_EVENT:
        stats_id = require(text(payload.stats_id), "stats_id")
        lead = lead_fields(payload, require(lead_email(payload), LEAD_EMAIL))
        return StoreMessage(event_type, sent_message(payload, stats_id, client, now), lead)
    if event_type == UNSUBSCRIBED_EVENT:
        lead = lead_fields(payload, require(lead_email(payload), LEAD_EMAIL))
        return Unsubscribe(event_type, lead)
    return Ignore(event_type)


route = webhook_route(
    PATH,
    SmartLeadWebhook,
    parse,
    summary="SmartLead events (token in a header or as secret_key)",
    authenticate=smartlead_caller,
    token_in_body=True,
)
