"""``leadhook deliveries``: the delivery ledger, where to look first when a provider says it
delivered (docs/deliveries.md).

``list`` reads newest received first, filtered by route, outcome, client, time and dedupe key
or provider id (``--before ID`` gives the next page); ``show`` prints one row with its
redacted body, the answer leadhook gave and the message it stored or matched; ``replay``
runs a stored body through its route's current code for its client (``app.replay_delivery``:
dedupe applies, the replay is a ledger row of its own). An unknown delivery, one that cannot
be replayed, and a replay that is rejected again exit with status 1.
"""

from __future__ import annotations

import asyncio
import json

import click

import db
from cli._output import call, emit, one_line, open_store, read_settings, table
from db.vocab import DELIVERY_OUTCOMES

# Short names for --route (the path works too).
ROUTES = {
    "ghl": "/api/webhooks/ghl/sms",
    "email": "/api/webhooks/email",
    "linkedin": "/api/webhooks/linkedin",
    "smartlead": "/api/webhooks/smartlead",
    "instantly": "/api/webhooks/instantly",
}


def _route(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value in ROUTES:
        return ROUTES[value]
    if value in ROUTES.values():
        return value
    names = ", ".join(ROUTES)
    raise click.BadParameter(f"{value!r} is not a webhook route: one of {names}, or its path")


def _time(value: str | None, name: str) -> str | None:
    try:
        return db.normalize_time(value, name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _short(route: str) -> str:
    return next((name for name, path in ROUTES.items() if path == route), route)


@click.group(name="deliveries")
def deliveries_group() -> None:
    """The delivery ledger: every request to a webhook route, what leadhook answered.

    \b
    Example:
        leadhook deliveries list --outcome rejected
        leadhook deliveries show 812
        leadhook deliveries replay 812
    """


@deliveries_group.command(name="list")
@click.option("--route", help="ghl, email, linkedin, smartlead, instantly (or the path).")
@click.option("--outcome", type=click.Choice(DELIVERY_OUTCOMES), help="Only this outcome.")
@click.option("--client", "client_id", type=int, help="Only this client's deliveries.")
@click.option("--since", help="Received at or after this ISO time (or date), UTC.")
@click.option("--until", help="Received before this ISO time (or date), UTC.")
@click.option("--key", help="A dedupe key, or the provider's id (a reply's Message-ID, ...).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--before", "before_id", type=int, help="The next page: older than this id.")
@click.option("--json", "as_json", is_flag=True)
def deliveries_list(
    route: str | None,
    outcome: str | None,
    client_id: int | None,
    since: str | None,
    until: str | None,
    key: str | None,
    limit: int,
    before_id: int | None,
    as_json: bool,
) -> None:
    """List deliveries, newest received first, with their status and outcome.

    \b
    Example:
        leadhook deliveries list --route ghl --since 2026-01-18
        leadhook deliveries list --outcome rejected --client 1 --json
        leadhook deliveries list --key '<CAJZreply1@mail.example.com>'
    """
    filters = {
        "route": _route(route),
        "outcome": outcome,
        "client_id": client_id,
        "since": _time(since, "--since"),
        "until": _time(until, "--until"),
        "key": (key or "").strip() or None,
    }
    found = call("find_deliveries", filters, before_id=before_id, limit=limit)
    if not found:
        emit(found, as_json, "no deliveries")
        return
    lines = table(
        [["ID", "RECEIVED", "ROUTE", "CLIENT", "STATUS", "OUTCOME", "MESSAGE", "DETAIL"]]
        + [
            [
                str(r["id"]),
                r["received_at"],
                _short(r["route"]),
                str(r["client_id"] or "-"),
                str(r["status_code"]),
                r["outcome"] + (f" (replay of {r['replay_of']})" if r["replay_of"] else ""),
                str(r["message_id"] or "-"),
                one_line(r["error"] or r["event_type"] or "", 50) or "-",
            ]
            for r in found
        ]
    )
    if len(found) == limit:
        lines.append(f"older: leadhook deliveries list --before {found[-1]['id']} ...")
    emit(found, as_json, "\n".join(lines))


@deliveries_group.command(name="show")
@click.argument("delivery_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The row, its message and replays.")
def deliveries_show(delivery_id: int, as_json: bool) -> None:
    """Show one delivery: what came in (the body, secrets redacted), what leadhook answered,
    and the message it stored or matched.

    \b
    Example:
        leadhook deliveries show 812
        leadhook deliveries show 812 --json
    """
    detail = call("delivery_detail", delivery_id)
    if detail is None:
        raise click.ClickException(f"no delivery {delivery_id}")
    emit(detail, as_json, _show_text(detail))


def _show_text(detail: dict) -> str:
    d = detail["delivery"]
    client = f"{d['client_id']} ({d['client_name']})" if d["client_id"] else "- (no valid token)"
    lines = [
        f"delivery {d['id']}: {d['outcome']} {d['status_code']}",
        f"  received  {d['received_at']} on {d['route']} in {d['duration_ms']} ms",
        f"  client    {client}",
        f"  event     {d['event_type'] or '-'}",
        f"  key       {d['dedupe_key'] or '-'}",
    ]
    if d["error"]:
        lines.append(f"  error     {d['error']}")
    if d["replay_of"]:
        lines.append(f"  replays   delivery {d['replay_of']}")
    lines.append(f"  answer    {d['answer'] or '-'}")
    size = "-" if d["body_bytes"] is None else f"{d['body_bytes']} bytes"
    lines.append(f"  body      {size}, sha256 {d['body_sha256'] or '-'}")
    if d["body"] is not None:
        lines.append(_pretty(d["body"]))
    else:
        lines.append("  (body not kept: never read, or pruned after LEADHOOK_LEDGER_BODY_DAYS)")
    message = detail["message"]
    if message is not None:
        lines.append(
            f"message {message['id']}: {message['channel']} {message['direction']}, lead "
            f"{message['lead_id']}, sent {message['sent_at']}: {one_line(message['body'], 70)}"
        )
    for replay in detail["replays"]:
        lines.append(
            f"replayed as delivery {replay['id']} at {replay['received_at']}: "
            f"{replay['outcome']} {replay['status_code']}"
        )
    return "\n".join(lines)


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


@deliveries_group.command(name="replay")
@click.argument("delivery_id", type=int)
@click.option("--json", "as_json", is_flag=True, help='Print {"delivery_id", "status_code", ...}.')
def deliveries_replay(delivery_id: int, as_json: bool) -> None:
    """Run a stored delivery through its route again, as its client (no token needed).

    Use it after a fix: a mapping that ignored an event type, a workspace id corrected with
    `leadhook clients update`. Dedupe applies (a message already stored is not stored
    twice), and the replay is a ledger row of its own. A server running on the same file
    picks up a new job within a second.

    \b
    Example:
        leadhook deliveries list --outcome ignored
        leadhook deliveries replay 812
    """
    from app import replay_delivery

    settings = read_settings()
    with open_store(settings) as store:
        result = asyncio.run(replay_delivery(store, settings, delivery_id))
    if result.refused:
        raise click.ClickException(f"delivery {delivery_id} not replayed: {result.refused}")
    data = {
        "delivery_id": result.delivery_id,
        "replay_of": delivery_id,
        "status_code": result.status_code,
        "outcome": result.outcome,
        "answer": result.answer,
    }
    emit(
        data,
        as_json,
        f"delivery {delivery_id} replayed as delivery {result.delivery_id}: {result.outcome} "
        f"{result.status_code} {json.dumps(result.answer)}",
    )
    if result.outcome == "rejected":
        raise SystemExit(1)
