"""Email platform (EmailBison / Inboxxia) events: ``POST /api/webhooks/email``.

``event.workspace_id`` (a number or a string) must be the token's ``email_workspace_id``
(403, checked after the event's own fields are present).

- ``LEAD_REPLIED``, ``LEAD_INTERESTED``, ``UNTRACKED_REPLY_RECEIVED``: an inbound email keyed by
  ``email_reply_id = data.reply.id``, job ``EMAIL_INBOUND_POST_PROCESS``. ``LEAD_INTERESTED``
  also sets the lead's sentiment to ``Interested`` (status ``qualified``) in the delivery's
  transaction, also for a reply already stored (the answer is then still ``deduped: true``),
  under the lead state rules: never for a lead that opted out, never over a newer reply.
- ``EMAIL_SENT``: an outbound email keyed by ``scheduled_email_id = data.scheduled_email.id``,
  no job.
- ``LEAD_UNSUBSCRIBED``: the lead is blacklisted.
- anything else: ``200 {"success": true, "ignored": true, "eventType": ...}``.

Reply and scheduled-email ids are used raw; they are each workspace's own (UNIQUE per client):
the same id in two workspaces is two messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

import db
from db import Client, LeadFields, NewMessage
from handlers._payload import Scalar, body_text, first_text, new_message, split_name, text
from handlers._webhook import (
    Delivery,
    Ignore,
    StoreMessage,
    Unsubscribe,
    require,
    require_workspace,
    webhook_route,
)

if TYPE_CHECKING:
    from config import Settings

PATH = "/api/webhooks/email"
INTERESTED_EVENT = "LEAD_INTERESTED"
REPLY_EVENTS = frozenset(("LEAD_REPLIED", INTERESTED_EVENT, "UNTRACKED_REPLY_RECEIVED"))
SENT_EVENT = "EMAIL_SENT"
UNSUBSCRIBED_EVENT = "LEAD_UNSUBSCRIBED"
LEAD_EMAIL = "lead email (data.lead.email)"


class EmailEvent(msgspec.Struct, kw_only=True):
    type: Scalar = None
    workspace_id: Scalar = None


class EmailLead(msgspec.Struct, kw_only=True):
    email: Scalar = None
    first_name: Scalar = None
    last_name: Scalar = None


class EmailReply(msgspec.Struct, kw_only=True):
    id: Scalar = None
    email_subject: Scalar = None
    from_email_address: Scalar = None
    from_name: Scalar = None
    text_body: Any = None
    html_body: Any = None
    date_received: Any = None
    created_at: Any = None


class ScheduledEmail(msgspec.Struct, kw_only=True):
    id: Scalar = None
    email_subject: Scalar = None
    email_body: Any = None
    sent_at: Any = None


class EmailData(msgspec.Struct, kw_only=True):
    lead: EmailLead | None = None
    reply: EmailReply | None = None
    scheduled_email: ScheduledEmail | None = None


class EmailWebhook(msgspec.Struct, kw_only=True):
    """The fields of an email platform event that leadhook reads; others are ignored."""

    event: EmailEvent | None = None
    data: EmailData | None = None


def lead_fields(data: EmailData, fallback_email: str = "", full_name: str = "") -> LeadFields:
    """``data.lead`` (400 without an email), its name else ``full_name``."""
    lead = data.lead or EmailLead()
    first, last = text(lead.first_name), text(lead.last_name)
    if not (first or last):
        first, last = (part or "" for part in split_name(full_name))
    email = require(text(lead.email) or fallback_email, LEAD_EMAIL)
    return LeadFields(email=email, first_name=first, last_name=last)


def reply_message(
    reply: EmailReply,
    reply_id: str,
    client: Client,
    now: datetime,
    sentiment_hint: str | None = None,
) -> NewMessage:
    return new_message(
        client,
        now,
        channel="email",
        direction="inbound",
        source="emailbison",
        body=body_text(reply.text_body, reply.html_body),
        subject=text(reply.email_subject),
        dedupe=("email_reply_id", reply_id),
        sent=(reply.date_received, reply.created_at),
        job_type=db.vocab.EMAIL_INBOUND_POST_PROCESS,
        sentiment_hint=sentiment_hint,
    )


def sent_message(
    scheduled: ScheduledEmail, scheduled_id: str, client: Client, now: datetime
) -> NewMessage:
    return new_message(
        client,
        now,
        channel="email",
        direction="outbound",
        source="emailbison",
        body=body_text(None, scheduled.email_body),
        subject=text(scheduled.email_subject),
        dedupe=("scheduled_email_id", scheduled_id),
        sent=(scheduled.sent_at,),
    )


def parse(payload: EmailWebhook, client: Client, now: datetime, settings: Settings) -> Delivery:
    """The delivery of one event (``now``: its receipt time). The workspace is checked
    after the event's own 400s, before anything is built."""
    event = payload.event or EmailEvent()
    event_type = require(text(event.type), "event.type")
    workspace_id = require(text(event.workspace_id), "event.workspace_id")
    data = payload.data or EmailData()
    reply = data.reply or EmailReply()

    def check_workspace() -> None:
        require_workspace(client.email_workspace_id, workspace_id, "event.workspace_id")

    if event_type in REPLY_EVENTS:
        reply_id = require(text(reply.id), "data.reply.id")
        lead = lead_fields(data, text(reply.from_email_address), text(reply.from_name))
        check_workspace()
        hint = db.vocab.INTERESTED_TAG if event_type == INTERESTED_EVENT else None
        message = reply_message(reply, reply_id, client, now, hint)
        return StoreMessage(event_type, message, lead)
    if event_type == SENT_EVENT:
        scheduled = data.scheduled_email or ScheduledEmail()
        scheduled_id = require(text(scheduled.id), "data.scheduled_email.id")
        lead = lead_fields(data)
        check_workspace()
        return StoreMessage(event_type, sent_message(scheduled, scheduled_id, client, now), lead)
    if event_type == UNSUBSCRIBED_EVENT:
        lead = lead_fields(data, first_text(reply.from_email_address))
        check_workspace()
        return Unsubscribe(event_type, lead)
    check_workspace()
    return Ignore(event_type)


route = webhook_route(
    PATH,
    EmailWebhook,
    parse,
    summary="Email platform (EmailBison/Inboxxia) events",
    workspace_field="event.workspace_id",
)
