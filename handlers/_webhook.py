"""The one flow every webhook route runs, built by :func:`webhook_route`.

In order, all inside the telemetry source named by the route's path (DESIGN.md: a webhook's
outer source is its path, so anything the write starts is attributed to it):

1. authenticate: the client token, before the body is read (401);
2. read the body (413 past the limit) and decode it into the route's payload struct (400);
3. ``parse(payload, client, now, settings)``: the provider's pure mapping to a
   :data:`Delivery`; it raises the 400s (:func:`require`) and the 403
   (:func:`require_workspace`) in the provider's own order;
4. carry the delivery out: store the message exactly once with its job
   (:class:`StoreMessage`), blacklist a lead (:class:`Unsubscribe`), or nothing
   (:class:`Ignore`), each with its ledger row in the same transaction;
5. answer with JSON (200).

The body is read and the answer written on the ASGI messages (:mod:`handlers._body`), not
through Litestar's request and response layers.

Every request that reaches the route is one ``deliveries`` row (:mod:`handlers._ledger`,
``app.state.ledger``): an accepted one's row is written by the write of step 4 (an ignored
event's write records just the row, re-checking the token); a rejected one's (any 4xx, or a
500) is queued for the writer without being waited for. ``now``, read once when the request
arrives, is the row's ``received_at`` and the message's receipt time. Each request is also
counted and logged once, with its outcome, by :class:`handlers.metrics.DeliveryMeter`
(``leadhook_deliveries_total``, one INFO line).

A write refused because the token was revoked meanwhile is a 401, one the database cannot
take in time a 429 with ``Retry-After: 30``.
A caller authenticated from the token cache gets no answer that did not come from a write (an
ignored event, any 4xx but 401) before its token has been read again
(:func:`handlers._auth.confirm`): a rotated or disabled token only ever gets 401.

Body errors say what to do: an empty body, invalid JSON, JSON nested too deeply (decoding
stops at the interpreter's recursion limit, about 1,000 levels with the frames above it; real
payloads use fewer than 10), a body over ``LEADHOOK_MAX_BODY_BYTES`` (the 413 states the limit).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from litestar import Request, post
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    PermissionDeniedException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler

import db
from ai import ai_telemetry_source
from db import Client, LeadFields, NewDelivery, NewMessage
from handlers._auth import Caller, authenticate, confirm, revoked
from handlers._body import JsonAnswer
from handlers._body import read_body as read_raw_body
from handlers._errors import PayloadTooLarge, RequestTimeout, TooManyRequests, clip
from handlers._ledger import Entry
from handlers.metrics import DeliveryMeter

if TYPE_CHECKING:
    from config import Settings

log = logging.getLogger("leadhook.webhooks")
P = TypeVar("P")


@dataclass(frozen=True)
class StoreMessage:
    """Store ``message`` exactly once, with ``lead`` matched or created and its job."""

    event_type: str
    message: NewMessage
    lead: LeadFields


@dataclass(frozen=True)
class Unsubscribe:
    """Blacklist ``lead`` (created if unknown); idempotent."""

    event_type: str
    lead: LeadFields


@dataclass(frozen=True)
class Ignore:
    """Store nothing and answer 200 ``{"success", "ignored", "eventType"?, "reason"?}``."""

    event_type: str | None = None
    reason: str | None = None

    def answer(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"success": True, "ignored": True}
        if self.event_type is not None:
            answer["eventType"] = self.event_type
        if self.reason is not None:
            answer["reason"] = self.reason
        return answer


Delivery = StoreMessage | Unsubscribe | Ignore
Parse = Callable[[P, Client, datetime, "Settings"], Delivery]
Authenticate = Callable[[Request], Awaitable[Caller]]


def require(value: str, what: str) -> str:
    """``value`` if it is not blank; else 400 ``Missing <what>``."""
    if not value:
        raise ClientException(f"Missing {what}")
    return value


def require_workspace(expected: str | None, given: str, what: str) -> None:
    """The payload's workspace id must be the token's workspace (403 otherwise)."""
    if expected is None or str(expected) != str(given):
        raise PermissionDeniedException(
            f"{what} {clip(given)} does not belong to this client token: "
            "send this workspace's events with its own token"
        )


def webhook_route(
    path: str,
    struct: type[P],
    parse: Parse[P],
    *,
    summary: str,
    authenticate: Authenticate = authenticate,
    workspace_field: str | None = None,
    token_in_body: bool = False,
) -> HTTPRouteHandler:
    """The ``POST path`` route of one provider (see the module docstring for the flow).

    For the OpenAPI document (:mod:`handlers.openapi`), its ``opt`` carries the payload
    struct, the provider module's docstring, ``workspace_field`` (the payload field checked
    against the token's workspace: 403) and ``token_in_body`` (SmartLead's ``secret_key``);
    for a replay (:mod:`handlers.replay`) the struct and ``parse``.
    """
    opt = {
        "payload": struct,
        "parse": parse,
        "description": sys.modules[struct.__module__].__doc__,
        "workspace_field": workspace_field,
        "token_in_body": token_in_body,
    }

    async def receive(request: Request) -> JsonAnswer:
        state = request.app.state
        now = state.clock()
        entry = ledger_begin(request, path, now)
        # The meter counts the request and writes its one INFO line (handlers/metrics.py).
        with DeliveryMeter(request, path) as meter, ai_telemetry_source(path):
            try:
                caller = meter.caller(await authenticate(request))
            except Exception as exc:  # a 401 (or a 400, 413 of SmartLead's body): no client
                ledger_rejected(request, entry, exc)
                raise
            if entry is not None:
                entry.client_id = caller.client.id
            try:
                raw = await read_body(request)
                if entry is not None:
                    entry.raw = raw
                payload = decode_body(raw, struct)
                delivery = parse(payload, caller.client, now, state.settings)
                if isinstance(delivery, Ignore) and entry is None:
                    await confirm(request, caller)  # with the ledger, its write checks
                answer = await deliver(request, path, caller, delivery, entry)
                return JsonAnswer(meter.answered(answer))
            except HTTPException as exc:
                answered = exc
                if exc.status_code != 401:
                    try:
                        await confirm(request, caller)
                    except HTTPException as denied:
                        answered = denied
                if answered.status_code == 401:  # the token is not valid (any more)
                    meter.client_id = None
                    if entry is not None:
                        entry.client_id = None
                ledger_rejected(request, entry, answered)
                if answered is exc:
                    raise
                raise answered from None
            except Exception as exc:  # a bug: answered 500, recorded as such
                ledger_rejected(request, entry, exc)
                raise

    return post(path, status_code=200, summary=summary, opt=opt)(receive)


async def read_body(request: Request) -> bytes:
    """The raw body (:func:`handlers._body.read_body`); 413 past the route's limit (stating
    it), 408 if the client left first."""
    try:
        return await read_raw_body(request)
    except RequestEntityTooLarge:
        limit = request.route_handler.resolve_request_max_body_size()
        raise PayloadTooLarge(
            f"Body is larger than the limit of {limit} bytes (LEADHOOK_MAX_BODY_BYTES): "
            "send one event per request"
        ) from None
    except InternalServerException as exc:  # "client disconnected prematurely"
        raise RequestTimeout(
            "The connection closed before the whole body arrived: send it again"
        ) from exc


def decode_body(raw: bytes, struct: type[P]) -> P:
    """``raw`` decoded into ``struct``; 400 saying what is wrong."""
    if not raw.strip():
        raise ClientException("Body is empty: send the event as a JSON object")
    try:
        return msgspec.json.decode(raw, type=struct, strict=False)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Expected `object`, got") and " - at `" not in str(exc):
            raise ClientException("Body must be a JSON object") from None
        raise ClientException(f"Invalid payload: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ClientException(f"Body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ClientException(TOO_DEEP) from None


TOO_DEEP = "Body is JSON nested too deeply: send the provider's event as it is"


async def deliver(
    request: Request, path: str, caller: Caller, delivery: Delivery, entry: Entry | None = None
) -> dict:
    match delivery:
        case StoreMessage():
            return await store_message(request, path, caller, delivery, entry)
        case Unsubscribe():
            return await unsubscribe(request, path, caller, delivery, entry)
        case Ignore():
            return await ignore(request, caller, delivery, entry)


async def store_message(
    request: Request,
    path: str,
    caller: Caller,
    delivery: StoreMessage,
    entry: Entry | None = None,
) -> dict[str, Any]:
    """Store the message exactly once with its job and ledger row (one commit), wake the
    runner for a new job, and answer ``{"success", "deduped", "messageId", "leadId",
    "jobEnqueued"}``."""
    message, event = delivery.message, delivery.event_type
    row = ledger_accepted(request, entry, event_type=event, dedupe_key=message.dedupe_value)
    result = await write(request, caller, "ingest", message, delivery.lead, delivery=row)
    if result.job_enqueued:
        wake_runner(request)
    log.debug(  # one line per delivery: LEADHOOK_LOG_LEVEL=DEBUG shows them
        "%s event=%s client=%s %s message=%s lead=%s deduped=%s job_enqueued=%s",
        path,
        event,
        message.client_id,
        message.direction,
        result.message_id,
        result.lead_id,
        result.deduped,
        result.job_enqueued,
    )
    return result.answer()


async def unsubscribe(
    request: Request,
    path: str,
    caller: Caller,
    delivery: Unsubscribe,
    entry: Entry | None = None,
) -> dict[str, Any]:
    """Blacklist the lead (created if unknown), with its ledger row; idempotent."""
    now = db.iso(request.app.state.clock())
    row = ledger_accepted(request, entry, event_type=delivery.event_type)
    lead_id = await write(request, caller, "unsubscribe", delivery.lead, now, delivery=row)
    client_id = caller.client.id
    log.info(
        "%s event=%s client=%s lead=%s blacklisted", path, delivery.event_type, client_id, lead_id
    )
    return db.unsubscribe_answer(lead_id)


async def ignore(
    request: Request, caller: Caller, delivery: Ignore, entry: Entry | None = None
) -> dict[str, Any]:
    """Store nothing but the ledger row (its write re-checks the token: 401 if revoked)."""
    answer = delivery.answer()
    row = ledger_accepted(
        request, entry, event_type=delivery.event_type, error=delivery.reason, answer=answer
    )
    if row is not None:
        await write(request, caller, "record_ignored", row)
    return answer


# -- the ledger (handlers/_ledger.py): one row per request that reaches a webhook route ------


def ledger_begin(request: Request, path: str, now: datetime) -> Entry | None:
    ledger = request.app.state.get("ledger")
    return None if ledger is None else ledger.begin(request, path, db.iso(now))


def ledger_accepted(request: Request, entry: Entry | None, **facts: Any) -> NewDelivery | None:
    """The row the accepted delivery's write records (None without a ledger)."""
    return None if entry is None else request.app.state.ledger.accepted(entry, **facts)


def ledger_rejected(request: Request, entry: Entry | None, exc: BaseException) -> None:
    """Record the rejected request (queued, not awaited)."""
    if entry is not None:
        request.app.state.ledger.rejected(request, entry, exc)


async def write(request: Request, caller: Caller, operation: str, *args: Any, **kwargs: Any) -> Any:
    """Run the store's ``operation(client_id, token_hash, *args)`` (``ingest``,
    ``unsubscribe`` or ``record_ignored``: each re-checks the caller's token in its own
    transaction); 401 if the token was revoked meanwhile, 429 if the database cannot take the
    write in time."""
    state = request.app.state
    method = getattr(state.store, operation)
    try:
        return await method(
            caller.client.id,
            caller.token_hash,
            *args,
            timeout=state.settings.write_timeout_seconds,
            **kwargs,
        )
    except db.TokenRevoked:
        revoked(request, caller)
    except db.DatabaseUnavailable as exc:
        log.warning("write refused, answering 429: %s", exc)
        raise TooManyRequests("Database busy, retry later", headers={"Retry-After": "30"}) from None


def wake_runner(request: Request) -> None:
    wake = getattr(request.app.state, "wake_runner", None)
    if wake is not None:
        wake()
