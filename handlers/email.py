"""Email platform (EmailBison / Inboxxia) events: ``POST /api/webhooks/email``.

``event.workspace_id`` (a number or a string) must be the token's ``email_workspace_id``.

- ``LEAD_REPLIED``, ``LEAD_INTERESTED``, ``UNTRACKED_REPLY_RECEIVED``: an inbound email keyed by
  ``email_reply_id = data.reply.id``, job ``EMAIL_INBOUND_POST_PROCESS``.
- ``EMAIL_SENT``: an outbound email keyed by ``scheduled_email_id = data.scheduled_email.id``,
  no job.
- ``LEAD_UNSUBSCRIBED``: the lead is blacklisted.
- anything else: ``200 {"success": true, "ignored": true, "eventType": ...}``.

Reply and scheduled-email ids are used raw: they are unique within the platform, which the
UNIQUE ``clients.email_workspace_id`` already assumes is one id space. Should two clients'
ids ever collide, the delivery is refused with 409 rather than attached to the other client.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import ClientException

import db
from ai import ai_telemetry_source
from db import LeadFields, NewMessage
from handlers._common import authenticate, ingest, read_json_object, require_workspace
from handlers._email_common import (
    body_text,
    first_text,
    ignored,
    sent_at_iso,
    split_name,
    text,
    unsubscribe,
)

PATH = "/api/webhooks/email"
Scalar = str | int | float | None
REPLY_EVENTS = frozenset(("LEAD_REPLIED", "LEAD_INTERESTED", "UNTRACKED_REPLY_RECEIVED"))
SENT_EVENT = "EMAIL_SENT"
UNSUBSCRIBED_EVENT = "LEAD_UNSUBSCRIBED"


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
    lead = data.lead or EmailLead()
    first, last = text(lead.first_name), text(lead.last_name)
    if not (first or last):
        first, last = (part or "" for part in split_name(full_name))
    return LeadFields(email=text(lead.email) or fallback_email, first_name=first, last_name=last)


class EmailWebhookController(Controller):
    path = PATH

    @post(status_code=200, summary="Email platform (EmailBison/Inboxxia) events")
    async def receive(self, request: Request) -> dict[str, Any]:
        with ai_telemetry_source(PATH):
            return await self._receive(request)

    async def _receive(self, request: Request) -> dict[str, Any]:
        client = await authenticate(request)
        payload = await read_json_object(request, EmailWebhook)
        event = payload.event or EmailEvent()
        event_type = text(event.type)
        if not event_type:
            raise ClientException("Missing event.type")
        workspace_id = text(event.workspace_id)
        if not workspace_id:
            raise ClientException("Missing event.workspace_id")
        data = payload.data or EmailData()

        if event_type in REPLY_EVENTS:
            reply = data.reply or EmailReply()
            reply_id = text(reply.id)
            if not reply_id:
                raise ClientException("Missing data.reply.id")
            lead = lead_fields(data, text(reply.from_email_address), text(reply.from_name))
            if not lead.email:
                raise ClientException("Missing lead email (data.lead.email)")
            require_workspace(client.email_workspace_id, workspace_id, "event.workspace_id")
            received_at = request.app.state.clock()
            message = NewMessage(
                client_id=client.id,
                channel="email",
                direction="inbound",
                body=body_text(reply.text_body, reply.html_body),
                subject=text(reply.email_subject) or None,
                sent_at=sent_at_iso(received_at, reply.date_received, reply.created_at),
                received_at=db.iso(received_at),
                source="emailbison",
                dedupe_column="email_reply_id",
                dedupe_value=reply_id,
                job_type=db.vocab.EMAIL_INBOUND_POST_PROCESS,
            )
            return await ingest(request, PATH, event_type, message, lead)

        if event_type == SENT_EVENT:
            scheduled = data.scheduled_email or ScheduledEmail()
            scheduled_id = text(scheduled.id)
            if not scheduled_id:
                raise ClientException("Missing data.scheduled_email.id")
            lead = lead_fields(data)
            if not lead.email:
                raise ClientException("Missing lead email (data.lead.email)")
            require_workspace(client.email_workspace_id, workspace_id, "event.workspace_id")
            received_at = request.app.state.clock()
            message = NewMessage(
                client_id=client.id,
                channel="email",
                direction="outbound",
                body=body_text(None, scheduled.email_body),
                subject=text(scheduled.email_subject) or None,
                sent_at=sent_at_iso(received_at, scheduled.sent_at),
                received_at=db.iso(received_at),
                source="emailbison",
                dedupe_column="scheduled_email_id",
                dedupe_value=scheduled_id,
                job_type=None,
            )
            return await ingest(request, PATH, event_type, message, lead)

        if event_type == UNSUBSCRIBED_EVENT:
            reply = data.reply or EmailReply()
            lead = lead_fields(data, first_text(reply.from_email_address))
            if not lead.email:
                raise ClientException("Missing lead email (data.lead.email)")
            require_workspace(client.email_workspace_id, workspace_id, "event.workspace_id")
            return await unsubscribe(request, PATH, event_type, client, lead)

        require_workspace(client.email_workspace_id, workspace_id, "event.workspace_id")
        return ignored(event_type)
