"""Helpers of the lead-state tests: provider payloads built to order, a server in either
runner mode (the in-process runner, or ``LEADHOOK_SCHEDULER_ENABLED=0`` and the cron route)
on the real ``openai`` client against the fake server, and waiting until its jobs are done.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import httpx

import db
from tests.conftest import LiveServer, Workspace, load_payload, rows

CRON = "/api/cron/background-jobs"
CRON_SECRET = "cron-secret-for-lead-tests-0123456789"
MODES = ("runner", "cron")
GHL = "/api/webhooks/ghl/sms"
EMAIL = "/api/webhooks/email"
SMARTLEAD = "/api/webhooks/smartlead"
INSTANTLY = "/api/webhooks/instantly"
LINKEDIN = "/api/webhooks/linkedin"


def start(serve, mode: str, fake_openai=None, **overrides: Any) -> LiveServer:
    """A server whose jobs run by ``mode`` ("runner" or "cron"), on the fake OpenAI server
    when one is given (else the offline provider)."""
    if fake_openai is not None:
        overrides.update(
            ai_provider="openai", openai_base_url=fake_openai.base_url, openai_api_key="sk-test"
        )
    if mode == "cron":
        overrides.update(scheduler_enabled=False, cron_secret=CRON_SECRET)
    return serve(**overrides)


def post(live: LiveServer, path: str, request: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{live.url}{path}", timeout=30, **request)
    assert response.status_code == 200, response.text
    return response.json()


def cron_pass(live: LiveServer) -> dict[str, Any]:
    response = httpx.post(
        f"{live.url}{CRON}", headers={"Authorization": f"Bearer {CRON_SECRET}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def unfinished(database) -> int:
    return database.execute(
        "SELECT COUNT(*) FROM background_jobs WHERE status IN ('PENDING', 'RUNNING')"
    ).fetchone()[0]


def settle(live: LiveServer, database, mode: str, timeout: float = 20.0) -> None:
    """Run (cron) or wait for (runner) every job until none is PENDING or RUNNING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mode == "cron":
            cron_pass(live)
        if unfinished(database) == 0:
            return
        time.sleep(0.05)
    raise AssertionError(
        f"jobs still unfinished: {rows(database, 'SELECT * FROM background_jobs')}"
    )


def in_background(fn, *args: Any) -> threading.Thread:
    """Run ``fn(*args)`` in a thread (a cron pass that blocks while an AI call is in flight)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:  # re-raised by join_clean
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def join_clean(thread: threading.Thread | None) -> None:
    if thread is None:
        return
    thread.join(timeout=60)
    if thread.errors:  # type: ignore[attr-defined]
        raise thread.errors[0]  # type: ignore[attr-defined]


def wait_until(predicate, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def lead(database, lead_id: int) -> dict[str, Any]:
    return rows(database, "SELECT * FROM leads WHERE id = ?", (lead_id,))[0]


def message(database, message_id: int) -> dict[str, Any]:
    return rows(database, "SELECT * FROM messages WHERE id = ?", (message_id,))[0]


def drafts(database) -> list[dict[str, Any]]:
    return rows(database, "SELECT * FROM ai_drafts ORDER BY id")


# -- payloads ----------------------------------------------------------------------------------


def ghl_sms(w: Workspace, body: str, at: datetime | None = None) -> dict[str, Any]:
    """A GoHighLevel SMS from the sample's contact; ``at``: its customData Date and Time."""
    payload = load_payload("ghl_sms_workflow.json")
    payload["message"]["body"] = payload["customData"]["Message"] = body
    payload.pop("date_created")
    if at is None:
        del payload["customData"]["Date"], payload["customData"]["Time"]
    else:
        payload["customData"]["Date"] = f"{at.month}/{at.day}/{at.year}"
        payload["customData"]["Time"] = at.strftime("%I:%M:%S %p")
    return {"json": payload, "headers": w.auth}


def email_reply(
    w: Workspace, body: str, reply_id: int, at: datetime | str | None = None, **event: Any
) -> dict[str, Any]:
    """An EmailBison ``LEAD_REPLIED`` (or ``event["type"]``) from lead@example.com."""
    payload = load_payload("email_lead_replied.json")
    payload["event"].update(event)
    reply = payload["data"]["reply"]
    stamp = db.iso(at) if isinstance(at, datetime) else at
    reply.update(id=reply_id, text_body=body, html_body=f"<p>{body}</p>")
    reply.update(date_received=stamp, created_at=stamp)
    return {"json": payload, "headers": w.auth}


def email_unsubscribe(w: Workspace) -> dict[str, Any]:
    return {"json": load_payload("email_lead_unsubscribed.json"), "headers": w.auth}


def smartlead_reply(
    w: Workspace, body: str, n: int, at: datetime | None = None, message_id: bool = True
) -> dict[str, Any]:
    """A SmartLead ``EMAIL_REPLY`` to the sample's sent email (its ``stats_id``)."""
    payload = load_payload("smartlead_email_reply.json") | {"secret_key": w.token}
    reply = payload["reply_message"]
    reply.update(text=body, html=f"<p>{body}</p>", time=db.iso(at) if at else None)
    reply["message_id"] = f"<reply-{n}@mail.example.com>" if message_id else None
    if at is None:
        payload.pop("event_timestamp")
    return {"json": payload}


def instantly_reply(
    w: Workspace, body: str, at: datetime | None = None, email_id: str = "email-1"
) -> dict[str, Any]:
    """An Instantly ``reply_received`` to the sent email ``email_id``."""
    payload = load_payload("instantly_reply_received.json")
    payload.update(email_id=email_id, reply_text=body, reply_html=f"<p>{body}</p>")
    if at is None:
        payload.pop("timestamp")
    else:
        payload["timestamp"] = db.iso(at)
    return {"json": payload, "headers": w.auth}


def linkedin_message(w: Workspace, body: str, n: int, at: datetime) -> dict[str, Any]:
    payload = load_payload("unipile_message_received.json")
    payload.update(message_id=f"li-{n}", message=body, timestamp=db.iso(at))
    return {"json": payload, "headers": w.auth}
