"""GoHighLevel SMS workflow webhook: ``POST /api/webhooks/ghl/sms``.

``location.id`` must be the token's ``ghl_location_id`` (403), checked after ``location.id``
and ``contact_id`` are present (400). An empty message is ignored (``{"success": true,
"ignored": true, "reason": "empty_message"}``); anything else is an inbound SMS with job
``SMS_INBOUND_POST_PROCESS``.

The workflow payload carries no message id (its ``id``/``contact_id`` is the contact), so the
message is deduplicated on a key computed from its content (DESIGN.md, with a test vector);
the same key seen longer ago than ``LEADHOOK_GHL_DEDUPE_WINDOW_SECONDS`` is a genuine repeat.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

import db
from db import Client, LeadFields
from handlers._payload import ProviderTime, Scalar, new_message, parse_when, raw_text
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

PATH = "/api/webhooks/ghl/sms"
MAX_DRIFT = timedelta(minutes=20)
# The layouts GoHighLevel writes dates in, besides ISO-8601 (for :func:`parse_when`).
DATE_FORMATS = (
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


def resolve_candidate(
    received_at: datetime, custom_date: str, custom_time: str, date_created: str
) -> ProviderTime:
    """GoHighLevel's own time: the candidate closest to the receipt time within 20 minutes
    (with its raw text), else None and the raw text of the first candidate given.

    GoHighLevel often sends workspace-local times without a zone, which read as UTC are off by
    hours; ``date_created`` is usually the contact's creation time. Both are only trusted when
    close to when the webhook arrived. :func:`handlers._payload.new_message` then applies
    the clamp every channel has (at most 5 minutes ahead).
    """
    candidates: list[tuple[datetime | None, str]] = []
    if custom_date and custom_time:
        joined = f"{custom_date} {custom_time}"
        candidates.append((parse_when(joined, DATE_FORMATS), joined.strip()))
    if date_created:
        candidates.append((parse_when(date_created, DATE_FORMATS), date_created.strip()))
    close = [
        (when, raw) for when, raw in candidates if when and abs(when - received_at) <= MAX_DRIFT
    ]
    if close:
        return min(close, key=lambda c: abs(c[0] - received_at))  # type: ignore[operator]
    return None, next((raw for _, raw in candidates if raw), None)


def resolve_sent_at(
    received_at: datetime, custom_date: str, custom_time: str, date_created: str
) -> datetime:
    """:func:`resolve_candidate`'s time, else the receipt time (before the clamp)."""
    found, _ = resolve_candidate(received_at, custom_date, custom_time, date_created)
    return found or received_at


def message_body(payload: GhlSmsWebhook) -> str:
    """``message.body``, else ``customData.Message`` (an empty body falls back), trimmed."""
    custom = payload.custom_data or {}
    body = raw_text(payload.message.body) if payload.message else ""
    return (body or raw_text(custom.get("Message"))).strip()


def lead_fields(payload: GhlSmsWebhook, contact_id: str) -> LeadFields:
    custom = payload.custom_data or {}
    return LeadFields(
        ghl_contact_id=contact_id,
        email=raw_text(payload.email) or raw_text(custom.get("Email")),
        phone=raw_text(payload.phone) or raw_text(custom.get("Phone Number")),
        first_name=raw_text(payload.first_name) or raw_text(custom.get("First Name")),
        last_name=raw_text(payload.last_name) or raw_text(custom.get("Last Name")),
    )


def parse(payload: GhlSmsWebhook, client: Client, now: datetime, settings: Settings) -> Delivery:
    """The inbound SMS of a workflow delivery (``now``: its receipt time)."""
    location_id = raw_text(payload.location.id).strip() if payload.location else ""
    require(location_id, "location.id")
    contact_id = require(raw_text(payload.contact_id).strip(), "contact_id")
    require_workspace(client.ghl_location_id, location_id, "location.id")
    body = message_body(payload)
    if not body:
        return Ignore(reason="empty_message")

    custom = payload.custom_data or {}
    custom_date, custom_time = raw_text(custom.get("Date")), raw_text(custom.get("Time"))
    date_created = raw_text(payload.date_created)
    workflow_id = raw_text(payload.workflow.id) if payload.workflow else ""
    key = ghl_sms_dedupe_key(
        client.id, contact_id, workflow_id, date_created, custom_date, custom_time, body
    )
    message = new_message(
        client,
        now,
        channel="sms",
        direction="inbound",
        source="ghl",
        body=body,
        dedupe=("webhook_dedupe_key", key),
        sent_at=resolve_candidate(now, custom_date, custom_time, date_created),
        job_type=db.vocab.SMS_INBOUND_POST_PROCESS,
        repeat_window_seconds=settings.ghl_dedupe_window_seconds,
    )
    return StoreMessage("sms", message, lead_fields(payload, contact_id))


route = webhook_route(
    PATH,
    GhlSmsWebhook,
    parse,
    summary="GoHighLevel SMS workflow webhook",
    workspace_field="location.id",
)
