"""``/console/deliveries``: the delivery ledger, one delivery, and replaying it.

The list is newest received first, filtered by query parameters kept in every link:
``route`` (a webhook path), ``outcome`` (``stored|deduped|ignored|rejected``), ``client`` (a
client id), ``window`` (``1h``, ``24h``, ``7d``, ``30d``; none: all) or ``since``/``until``
(ISO times, UTC), and ``key`` (a dedupe key or the provider's own id: a reply's Message-ID,
an email platform's reply id); ``before`` pages back (keyset). One delivery,
``/console/deliveries/<id>``, shows its facts, its redacted body, the answer leadhook gave,
the message it stored or matched, the delivery it replayed and its replays.

Replay is a POST (CSRF-checked by the guard), ``/console/deliveries/<id>/replay``: the body
runs through its route's current code for its client (``app.state.replay_delivery``, the
same as ``leadhook deliveries replay``); it redirects to the new ledger row, or shows why the
delivery cannot be replayed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

import db
from console._pages import SECURITY_HEADERS, int_param, now_of, page, query
from db.vocab import DELIVERY_OUTCOMES

PAGE_SIZE = 50
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip


def short_route(route: str) -> str:
    """``/api/webhooks/ghl/sms`` → ``ghl/sms``."""
    return route.removeprefix("/api/webhooks/")


def _iso(value: str | None, name: str) -> str | None:
    try:
        return db.normalize_time(value, name)
    except ValueError as exc:
        raise ClientException(str(exc)) from None


def filters_of(request: Request) -> dict[str, Any]:
    """The filter as the page shows it, from the query parameters (unknown values: 400)."""
    params = request.query_params
    routes = request.app.state.webhook_routes
    route = (params.get("route") or "").strip()
    if route and route not in routes:
        raise ClientException(f"route must be one of {', '.join(routes)}")
    outcome = (params.get("outcome") or "").strip().lower()
    if outcome and outcome not in DELIVERY_OUTCOMES:
        raise ClientException(f"outcome must be one of {', '.join(DELIVERY_OUTCOMES)}")
    window = (params.get("window") or "").strip()
    if window and window not in WINDOWS:
        raise ClientException(f"window must be one of {', '.join(WINDOWS)}")
    client = int_param(params.get("client"), "client")
    return {
        "route": route,
        "outcome": outcome,
        "client": "" if client is None else str(client),
        "window": window,
        "since": (params.get("since") or "").strip(),
        "until": (params.get("until") or "").strip(),
        "key": (params.get("key") or "").strip()[:500],
    }


def store_filters(shown: dict[str, Any], request: Request) -> dict[str, Any]:
    since = _iso(shown["since"], "since")
    if shown["window"] and not since:
        since = db.iso(now_of(request) - WINDOWS[shown["window"]])
    return {
        "route": shown["route"] or None,
        "outcome": shown["outcome"] or None,
        "client_id": int(shown["client"]) if shown["client"] else None,
        "since": since,
        "until": _iso(shown["until"], "until"),
        "key": shown["key"] or None,
    }


def replay_refusal(delivery: dict) -> str | None:
    """Why the page offers no replay button (None: it can be replayed)."""
    if delivery["client_id"] is None:
        return "It had no valid client token: there is no client to replay it for."
    if delivery["body"] is None:
        return (
            "Its body is not kept (never read, e.g. a 413, or pruned after "
            "LEADHOOK_LEDGER_BODY_DAYS): there is nothing to replay."
        )
    return None


class DeliveriesController(Controller):
    path = "/deliveries"
    include_in_schema = False

    @get("/")
    async def deliveries(self, request: Request) -> Template:
        state = request.app.state
        shown = filters_of(request)
        before = int_param(request.query_params.get("before"), "before")
        found = await state.store.find_deliveries(
            store_filters(shown, request), before_id=before, limit=PAGE_SIZE
        )
        return page(
            request,
            "deliveries.html",
            active="deliveries",
            deliveries=found,
            shown=shown,
            before=before,
            older=found[-1]["id"] if len(found) == PAGE_SIZE else None,
            clients=await state.store.list_clients(),
            routes=state.webhook_routes,
            outcomes=DELIVERY_OUTCOMES,
            windows=WINDOWS,
            short_route=short_route,
        )

    @get("/{delivery_id:int}")
    async def delivery(self, request: Request, delivery_id: FromPath[int]) -> Template:
        return await self._page(request, delivery_id)

    @post("/{delivery_id:int}/replay", status_code=303)
    async def replay(self, request: Request, delivery_id: FromPath[int]) -> Response:
        state = request.app.state
        wake = state.get("wake_runner")
        result = await state.replay_delivery(
            state.store, state.settings, delivery_id, now=now_of(request), wake=wake
        )
        if result.refused:
            if await state.store.get_delivery(delivery_id) is None:
                raise NotFoundException(f"No delivery {delivery_id}.")
            text = f"Delivery {delivery_id} was not replayed: {result.refused}."
            return await self._page(request, delivery_id, status_code=409, refusal=text)
        target = f"/console/deliveries/{result.delivery_id}?" + query(
            {}, done="replayed", id=delivery_id
        )
        return Redirect(target, status_code=303, headers=dict(SECURITY_HEADERS))

    async def _page(
        self, request: Request, delivery_id: int, status_code: int = 200, refusal: str = ""
    ) -> Template:
        detail = await request.app.state.store.delivery_detail(delivery_id)
        if detail is None:
            raise NotFoundException(f"No delivery {delivery_id}.")
        delivery = detail["delivery"]
        return page(
            request,
            "delivery.html",
            status_code,
            active="deliveries",
            d=delivery,
            detail=detail,
            refusal=refusal,
            cannot_replay=replay_refusal(delivery),
            body=pretty(delivery["body"]),
            answer=pretty(delivery["answer"]),
            short_route=short_route,
        )


def pretty(text: str | None) -> str | None:
    """JSON indented for reading (as it is when it is not JSON)."""
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
