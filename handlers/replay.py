"""Replaying a stored delivery: ``leadhook deliveries replay ID`` and the console's button.

:func:`replay` runs the ledger row's stored body (as redacted) through its route's current
code, for the row's client: decode, the provider's ``parse`` (so a mapping fixed since, or a
workspace id corrected with ``leadhook clients update``, applies), then the same write a
webhook makes. No token is needed: the row names the client, which must still exist and be
enabled (checked inside the write's transaction). Dedupe applies as for any delivery (a
stored message answers ``deduped``). The replay is itself a ledger row, ``replay_of`` the
original, written with the message as every accepted delivery's row is; a replay that is
rejected again (a 400, a 403) is recorded with its status and error.

Refused (nothing written, :attr:`Replayed.refused` says why): an unknown row, a row without a
client (the request had no valid token), a row whose body is not kept (pruned after
``LEADHOOK_LEDGER_BODY_DAYS``, never read: a 413), a route leadhook no longer has, a
disabled client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from litestar.exceptions import HTTPException

import db
from ai import ai_telemetry_source
from handlers._errors import describe
from handlers._ledger import Entry, Ledger
from handlers._webhook import Ignore, StoreMessage, Unsubscribe, decode_body

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from config import Settings


@dataclass(frozen=True)
class Replayed:
    """How a replay ended: the new ledger row's id, its status, outcome and answer; or
    ``refused`` (then nothing was written)."""

    delivery_id: int | None = None
    status_code: int | None = None
    outcome: str | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None


def flows(routes: list[HTTPRouteHandler]) -> dict[str, tuple[type, Callable]]:
    """``{path: (payload struct, parse)}`` of the webhook routes."""
    found = {}
    for handler in routes:
        for path in handler.paths:
            found[path] = (handler.opt["payload"], handler.opt["parse"])
    return found


async def replay(
    store: db.Store,
    settings: Settings,
    routes: dict[str, tuple[type, Callable]],
    delivery_id: int,
    *,
    now: datetime,
    wake: Callable[[], None] | None = None,
) -> Replayed:
    """Replay the ledger row ``delivery_id`` (see the module docstring); ``wake``: called
    when a job was created or reset (the runner of this process)."""
    original = await store.get_delivery(delivery_id)
    if original is None:
        return Replayed(refused=f"no delivery {delivery_id}")
    if original["client_id"] is None:
        return Replayed(refused="it had no valid client token: there is no client to replay for")
    if original["body"] is None:
        return Replayed(
            refused="its body is not kept (never read, or pruned after LEADHOOK_LEDGER_BODY_DAYS)"
        )
    flow = routes.get(original["route"])
    if flow is None:
        return Replayed(refused=f"leadhook has no route {original['route']} any more")
    client = await store.get_client(original["client_id"])
    if client is None or client.disabled_at is not None:
        return Replayed(refused=f"client {original['client_id']} is disabled or gone")
    struct, parse = flow
    route = original["route"]
    entry = Entry(
        route,
        db.iso(now),
        time.monotonic(),
        client_id=client.id,
        raw=original["body"].encode("utf-8"),
        replay_of=delivery_id,
    )
    ledger = Ledger(store, settings)
    timeout = settings.write_timeout_seconds
    with ai_telemetry_source(route):
        try:
            delivery = parse(decode_body(entry.raw, struct), client, now, settings)
            answer = await _carry_out(store, ledger, entry, client.id, delivery, now, timeout)
        except HTTPException as exc:
            status, detail, _ = describe(exc)
            answer = {"success": False, "error": detail}
            row = ledger.row(
                entry, status=status, outcome="rejected", error=detail, answer=answer,
                duration=True,
            )  # fmt: skip
            new_id = await store.record_delivery(row, timeout=timeout)
            return Replayed(new_id, status, "rejected", answer)
        except db.TokenRevoked:
            return Replayed(refused=f"client {client.id} is disabled or gone")
    if wake is not None and answer.get("jobEnqueued"):
        wake()
    [row] = await store.find_deliveries({"replay_of": delivery_id}, limit=1)
    return Replayed(row["id"], row["status_code"], row["outcome"], answer)


async def _carry_out(
    store: db.Store,
    ledger: Ledger,
    entry: Entry,
    client_id: int,
    delivery: Any,
    now: datetime,
    timeout: float,
) -> dict[str, Any]:
    """The write a webhook makes for ``delivery``, as an operator (no token)."""
    match delivery:
        case StoreMessage():
            message = delivery.message
            row = ledger.accepted(
                entry, event_type=delivery.event_type, dedupe_key=message.dedupe_value
            )
            result = await store.ingest(
                client_id, None, message, delivery.lead, delivery=row, timeout=timeout
            )
            return result.answer()
        case Unsubscribe():
            row = ledger.accepted(entry, event_type=delivery.event_type)
            lead_id = await store.unsubscribe(
                client_id, None, delivery.lead, db.iso(now), delivery=row, timeout=timeout
            )
            return db.unsubscribe_answer(lead_id)
        case Ignore():
            answer = delivery.answer()
            row = ledger.accepted(
                entry, event_type=delivery.event_type, error=delivery.reason, answer=answer
            )
            await store.record_ignored(client_id, None, row, timeout=timeout)
            return answer
    raise TypeError(f"not a delivery: {delivery!r}")
