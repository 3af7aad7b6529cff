"""Instantly webhooks: ``POST /api/webhooks/instantly``.

Instantly payloads carry the Instantly ``workspace`` uuid, which leadhook does not record:
the client token alone identifies the workspace.

- ``reply_received``: an inbound email keyed by a reply handle in ``email_reply_id``:
  ``instantly:`` + the first 32 hex digits of SHA-256 over ``email_id|email_account|timestamp``,
  with the payload's own ``timestamp`` taken raw; without one, a hash of the reply's body
  takes its place (never the receipt time: a retry without a timestamp still dedupes, and
  two replies to one sent email are two messages). Job ``INSTANTLY_INBOUND_POST_PROCESS``.
- ``email_sent``: an outbound email keyed by ``scheduled_email_id = instantly:<email_id>``.
- ``lead_unsubscribed``: the lead is blacklisted.
- anything else: ``200 {"success": true, "ignored": true, "eventType": ...}``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

import db
from db import Client, LeadFields, NewMessage
from handlers._payload import Scalar, body_text, first_text, new_message, raw_text, split_name, text
from handlers._webhook import Delivery, Ignore, StoreMessage, Unsubscribe, require, webhook_route

if TYPE_CHECKING:
    from config import Settings

PATH = "/api/webhooks/instantly"
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


def reply_handle(email_id: str, email_account: str, timestamp: str, body: str = "") -> str:
    """``instantly:`` + 32 hex digits of SHA-256 over ``email_id|email_account|timestamp``;
    without a timestamp, ``email_id|email_account||<SHA-256 of the body>``: ``email_id``
    names the sent email, which two replies share, and the reply's body tells them apart."""
    if timestamp:
        joined = "|".join((email_id, email_account, timestamp))
    else:
        normalized = " ".join(body.split())
        body_hash = hashlib.sha256(normalized.encode("utf-8")).hexdigest()
        joined = "|".join((email_id, email_account, "", body_hash))
    return "instantly:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def lead_fields(payload: InstantlyWebhook, email: str) -> LeadFields:
    first = first_text(payload.first_name, payload.first_name_camel)
    last = first_text(payload.last_name, payload.last_name_camel)
    if not (first or last):
        first, last = (part or "" for part in split_name(text(payload.contact_name)))
    return LeadFields(email=email, first_name=first, last_name=last)


def reply_message(
    payload: InstantlyWebhook, email_id: str, client: Client, now: datetime
) -> NewMessage:
    body = body_text(payload.reply_text, payload.reply_html)
    account, timestamp = text(payload.email_account), raw_text(payload.timestamp)
    handle = reply_handle(email_id, account, timestamp, body)
    return new_message(
        client,
        now,
        channel="email",
        direction="inbound",
        source="instantly",
        body=body,
        subject=text(payload.reply_subject),
        dedupe=("email_reply_id", handle),
        sent=(payload.timestamp,),
        job_type=db.vocab.INSTANTLY_INBOUND_POST_PROCESS,
    )


def sent_message(
    payload: InstantlyWebhook, email_id: str, client: Client, now: datetime
) -> NewMessage:
    return new_message(
        client,
        now,
        channel="email",
        direction="outbound",
        source="instantly",
        body=body_text(payload.email_text, payload.email_html),
        subject=text(payload.email_subject),
        dedupe=("scheduled_email_id", "instantly:" + email_id),
        sent=(payload.timestamp,),
    )


def parse(payload: InstantlyWebhook, client: Client, now: datetime, settings: Settings) -> Delivery:
    """The delivery of one event (``now``: its receipt time)."""
    event_type = require(first_text(payload.event_type, payload.type), "event_type")
    email = first_text(payload.lead_email, payload.contact_email, payload.email)
    if event_type in (REPLY_EVENT, SENT_EVENT):
        email_id = require(text(payload.email_id), "email_id")
        lead = lead_fields(payload, require(email, "lead_email"))
        build = reply_message if event_type == REPLY_EVENT else sent_message
        return StoreMessage(event_type, build(payload, email_id, client, now), lead)
    if event_type in UNSUBSCRIBED_EVENTS:
        return Unsubscribe(event_type, lead_fields(payload, require(email, "lead_email")))
    return Ignore(event_type)


route = webhook_route(PATH, InstantlyWebhook, parse, summary="Instantly events")
