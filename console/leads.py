"""``/console/leads`` (by client and status), ``/console/leads/<id>`` (the lead's timeline:
messages, changes of status, sentiment and scores, drafts, and the AI cost spent on it) and
``/console/drafts`` (by status, pending first) with approve and reject.

Approve and reject are POSTs (``/console/drafts/<id>/approve|reject``, CSRF-checked by the
guard); they call ``Store.approve_draft``/``reject_draft``, the same operations as
``leadhook drafts approve|reject``. An htmx request gets the draft back; a plain form is
sent back where it came from, or shown why it was refused (409).
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

import db
from console._pages import SECURITY_HEADERS, back_to, int_param, is_htmx, now_of, page, query
from db.vocab import DRAFT_STATUSES, LEAD_STATUSES

PAGE_SIZE = 50
SCORES = ("fit_score", "intent_score", "overall_score")


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str:
    value = (value or "").strip()
    if value and value not in allowed:
        raise ClientException(f"{name} must be one of {', '.join(allowed)}")
    return value


def timeline_events(timeline: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages, changes (those made at one moment together) and drafts, newest first."""
    events = [{"kind": "message", "at": m["sent_at"], "message": m} for m in timeline["messages"]]
    events += [{"kind": "draft", "at": d["created_at"], "draft": d} for d in timeline["drafts"]]
    changes = sorted(timeline["changes"], key=lambda c: (c["changed_at"], c["id"]))
    for at, group in groupby(changes, key=lambda c: c["changed_at"]):
        items = list(group)
        changed = {c["field"]: c["new_value"] for c in items}
        scores = {name: changed[name] for name in SCORES if name in changed}
        others = [c for c in items if c["field"] not in SCORES]
        events.append({"kind": "change", "at": at, "changes": others, "scores": scores})
    return sorted(events, key=lambda e: e["at"] or "", reverse=True)


class LeadsController(Controller):
    path = "/"
    include_in_schema = False

    @get("/leads")
    async def leads(self, request: Request) -> Template:
        params = request.query_params
        client = int_param(params.get("client"), "client")
        status = _choice(params.get("status"), LEAD_STATUSES, "status")
        before = int_param(params.get("before"), "before")
        store = request.app.state.store
        found = await store.list_leads(
            {"client_id": client, "status": status or None}, before_id=before, limit=PAGE_SIZE
        )
        shown = {"client": "" if client is None else str(client), "status": status}
        return page(
            request,
            "leads.html",
            active="leads",
            leads=found,
            shown=shown,
            older=found[-1]["id"] if len(found) == PAGE_SIZE else None,
            clients=await store.list_clients(),
            statuses=LEAD_STATUSES,
        )

    @get("/leads/{lead_id:int}")
    async def lead(self, request: Request, lead_id: FromPath[int]) -> Template:
        timeline = await request.app.state.store.lead_timeline(lead_id)
        if timeline is None:
            raise NotFoundException(f"No lead {lead_id}.")
        spend = timeline["spend"]
        total = {
            "calls": sum(s["calls"] for s in spend),
            "errors": sum(s["errors"] for s in spend),
            "cost_usd": round(sum(s["cost_usd"] for s in spend), 9),
            "unpriced_calls": sum(s["unpriced_calls"] for s in spend),
            "total_tokens": sum(s["total_tokens"] for s in spend),
        }
        return page(
            request,
            "lead.html",
            active="leads",
            lead=timeline["lead"],
            events=timeline_events(timeline),
            spend=spend,
            total=total,
            counts={k: len(timeline[k]) for k in ("messages", "changes", "drafts")},
            here=request.url.path,
        )

    @get("/drafts")
    async def drafts(self, request: Request) -> Template:
        params = request.query_params
        status = _choice(params.get("status") or "pending", DRAFT_STATUSES, "status")
        client = int_param(params.get("client"), "client")
        before = int_param(params.get("before"), "before")
        store = request.app.state.store
        found = await store.list_drafts(
            {"status": status, "client_id": client}, before_id=before, limit=PAGE_SIZE
        )
        shown = {"status": status, "client": "" if client is None else str(client)}
        return page(
            request,
            "drafts.html",
            active="drafts",
            drafts=found,
            shown=shown,
            older=found[-1]["id"] if len(found) == PAGE_SIZE else None,
            clients=await store.list_clients(),
            statuses=DRAFT_STATUSES,
            here=request.url.path + "?" + query(shown),
        )

    @post("/drafts/{draft_id:int}/approve", status_code=303)
    async def approve(self, request: Request, draft_id: FromPath[int]) -> Response:
        return await self._decide(request, draft_id, "approve_draft", "approved")

    @post("/drafts/{draft_id:int}/reject", status_code=303)
    async def reject(self, request: Request, draft_id: FromPath[int]) -> Response:
        return await self._decide(request, draft_id, "reject_draft", "rejected")

    async def _decide(self, request: Request, draft_id: int, operation: str, done: str) -> Response:
        store = request.app.state.store
        draft, refusal = await getattr(store, operation)(draft_id, now=db.iso(now_of(request)))
        if draft is None:
            raise NotFoundException(f"No draft {draft_id}.")
        form = await request.form()
        back = back_to(form, f"/console/leads/{draft['lead_id']}")
        if is_htmx(request):
            note = f"not {done}: {refusal}" if refusal else done
            return page(request, "_draft.html", draft=draft, note=note, here=back)
        if refusal:
            message = f"Draft {draft_id} was not {done}: {refusal}."
            return page(request, "error.html", 409, title="Refused", message=message, back=back)
        target = back + ("&" if "?" in back else "?") + query({}, done=done, id=draft_id)
        return Redirect(target, status_code=303, headers=dict(SECURITY_HEADERS))
