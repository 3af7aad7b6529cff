"""GoHighLevel SMS workflow webhook: ``POST /api/webhooks/ghl/sms``.

The workflow payload carries no message id (its ``id``/``contact_id`` is the contact), so the
message is deduplicated on a key computed from its content (DESIGN.md, with a test vector).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import ClientException

import db
from ai import ai_telemetry_source
from db import LeadFields, NewMessage
from handlers._common import authenticate, ingest, read_json_object, require_workspace

Scalar = str | int | float | None
MAX_DRIFT = timedelta(minutes=20)
_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d %I:%M:%S %p",
    "%Y-%m-%d %I:%M %p",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%b %d, %Y %I:%M %p",
    "%B %d, %Y %I:%M %p",
    "%b %d %Y %I:%M %p",
    "%d %b %Y %H:%M",
)


class GhlLocation(msgspec.Struct):
    id: Scalar = None


class GhlMessage(msgspec.Struct):
    body: Scalar = None


class GhlWorkflow(msgspec.Struct):
    id: Scalar = None


class GhlSmsWebhook(msgspec.Struct, kw_only=True):
    """The fields of a GoHighLevel workflow webhook that leadhook reads; others are ignored."""

    contact_id: Scalar = None
    location: GhlLocation | None = None
    message: GhlMessage | None = None
    workflow: GhlWorkflow | None = None
    date_created: Scalar = None
    first_name: Scalar = None
    last_name: Scalar = None
    email: Scalar = None
    phone: Scalar = None
    custom_data: dict[str, Any] | None = msgspec.field(name="customData", default=None)


def text(value: Any) -> str:
    """A payload scalar as a string, untouched ("" for missing or non-scalar)."""
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value)


def normalize_body(body: str) -> str:
    """Trimmed, lowercased, whitespace runs collapsed to one space."""
    return " ".join(body.lower().split())


def ghl_sms_dedupe_key(
    client_id: object,
    contact_id: str,
    workflow_id: str,
    date_created: str,
    custom_date: str,
    custom_time: str,
    body: str,
) -> str:
    """``ghl_sms:`` + the first 32 hex digits of SHA-256 over the pipe-joined parts.

    Dates and times are used raw; the receipt time is never part of the key.
    """
    joined = "|".join(
        [
            str(client_id),
            contact_id or "",
            workflow_id or "",
            date_created or "",
            custom_date or "",
            custom_time or "",
            normalize_body(body),
        ]
    )
    return "ghl_sms:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def parse_timestamp(value: str) -> datetime | None:
    """A lenient parse of the date strings GoHighLevel sends; naive means UTC."""
    value = " ".join(value.split())
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def resolve_sent_at(
    received_at: datetime, custom_date: str, custom_time: str, date_created: str
) -> datetime:
    """The candidate closest to the receipt time within 20 minutes, else the receipt time.

    GoHighLevel often sends workspace-local times without a zone, which read as UTC are off by
    hours; ``date_created`` is usually the contact's creation time. Both are only trusted when
    close to when the webhook arrived.
    """
    candidates = []
    if custom_date and custom_time:
        candidates.append(parse_timestamp(f"{custom_date} {custom_time}"))
    if date_created:
        candidates.append(parse_timestamp(date_created))
    close = [c for c in candidates if c is not None and abs(c - received_at) <= MAX_DRIFT]
    return min(close, key=lambda c: abs(c - received_at)) if close else received_at


def message_body(payload: GhlSmsWebhook) -> str:
    """``message.body``, else ``customData.Message`` (an empty body falls back), trimmed."""
    custom = payload.custom_data or {}
    body = text(payload.message.body) if payload.message else ""
    return (body or text(custom.get("Message"))).strip()


def lead_fields(payload: GhlSmsWebhook, contact_id: str) -> LeadFields:
    custom = payload.custom_data or {}
    return LeadFields(
        ghl_contact_id=contact_id,
        email=text(payload.email) or text(custom.get("Email")),
        phone=text(payload.phone) or text(custom.get("Phone Number")),
        first_name=text(payload.first_name) or text(custom.get("First Name")),
        last_name=text(payload.last_name) or text(custom.get("Last Name")),
    )


ROUTE = "/api/webhooks/ghl/sms"


class GhlSmsController(Controller):
    path = ROUTE

    @post(status_code=200, summary="GoHighLevel SMS workflow webhook")
    async def receive(self, request: Request) -> dict[str, Any]:
        with ai_telemetry_source(ROUTE):  # DESIGN.md: a webhook's outer source is its path
            return await self._receive(request)

    async def _receive(self, request: Request) -> dict[str, Any]:
        client = await authenticate(request)
        payload = await read_json_object(request, GhlSmsWebhook)
        location_id = text(payload.location.id).strip() if payload.location else ""
        if not location_id:
            raise ClientException("Missing location.id")
        contact_id = text(payload.contact_id).strip()
        if not contact_id:
            raise ClientException("Missing contact_id")
        require_workspace(client.ghl_location_id, location_id, "location.id")
        body = message_body(payload)
        if not body:
            return {"success": True, "ignored": True, "reason": "empty_message"}

        settings = request.app.state.settings
        clock = request.app.state.clock
        received_at = clock()
        custom = payload.custom_data or {}
        custom_date, custom_time = text(custom.get("Date")), text(custom.get("Time"))
        date_created = text(payload.date_created)
        workflow_id = text(payload.workflow.id) if payload.workflow else ""
        key = ghl_sms_dedupe_key(
            client.id, contact_id, workflow_id, date_created, custom_date, custom_time, body
        )
        message = NewMessage(
            client_id=client.id,
            channel="sms",
            direction="inbound",
            body=body,
            sent_at=db.iso(resolve_sent_at(received_at, custom_date, custom_time, date_created)),
            received_at=db.iso(received_at),
            source="ghl",
            dedupe_column="webhook_dedupe_key",
            dedupe_value=key,
            job_type=db.vocab.SMS_INBOUND_POST_PROCESS,
            repeat_window_seconds=settings.ghl_dedupe_window_seconds,
        )
        return await ingest(request, ROUTE, "sms", message, lead_fields(payload, contact_id))
