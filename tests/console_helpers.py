"""Seeding a database the way the product fills it, for the console's tests: two clients,
leads with messages, jobs in every status (a RUNNING one with an old lease, FAILED ones of
two types, a discarded one), AI calls of today, yesterday and the days before, a pending
draft, sentiment and score changes. Everything goes through :class:`db.Store`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import db
from db.vocab import EMAIL_INBOUND_POST_PROCESS, SMS_INBOUND_POST_PROCESS

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
FAILED_INDEXES = {0, 1, 2, 3, 4, 5, 7}  # of the 12 messages' jobs; 6 runs, 8 and 9 succeed
SOURCES = {
    SMS_INBOUND_POST_PROCESS: ["sentiment.classify", "draft.generate.sms"],
    EMAIL_INBOUND_POST_PROCESS: ["sentiment.classify", "draft.generate.email"],
    "LEAD_SCORING_POST_PROCESS": ["lead_scoring.score"],
}


LATENCY = {SMS_INBOUND_POST_PROCESS: 350, EMAIL_INBOUND_POST_PROCESS: 600,
           "LEAD_SCORING_POST_PROCESS": 1400}  # fmt: skip


@dataclass
class Seeded:
    client_ids: list[int]
    failed_sms: list[int] = field(default_factory=list)
    failed_email: list[int] = field(default_factory=list)
    running: int = 0
    discarded: int = 0
    pending: list[int] = field(default_factory=list)
    lead_id: int = 0
    draft_id: int = 0


def _message(client_id: int, n: int, channel: str, job_type: str, at: str) -> db.NewMessage:
    return db.NewMessage(
        client_id=client_id,
        channel=channel,
        direction="inbound",
        body=f"Reply {n}: sounds interesting, can we talk on Tuesday?",
        sent_at=at,
        received_at=at,
        source="test",
        dedupe_column="webhook_dedupe_key",
        dedupe_value=f"console-seed:{n}",
        subject="Re: our offer" if channel == "email" else None,
        job_type=job_type,
    )


def seed(store: db.Store, now: datetime | None = None) -> Seeded:
    sync = store.sync
    now = now or datetime.now(UTC)
    at = db.iso(now - timedelta(minutes=30))
    clients = []
    for name, location in (("Acme", "loc_acme"), ("Beta", "loc_beta")):
        client, token = sync.create_client(name=name, now=at, ghl_location_id=location)
        clients.append((client, db.hash_token(token)))
    seeded = Seeded([c.id for c, _ in clients])
    jobs: list[tuple[int, str]] = []
    for n in range(12):
        client, token_hash = clients[n % 2]
        channel, job_type = (
            ("email", EMAIL_INBOUND_POST_PROCESS)
            if n % 3 == 0
            else ("sms", SMS_INBOUND_POST_PROCESS)
        )
        lead = db.LeadFields(ghl_contact_id=f"contact-{n % 5}", first_name=f"Lead{n % 5}")
        route = ROUTES[0] if channel == "sms" else ROUTES[1]
        result = sync.ingest(
            client.id,
            token_hash,
            _message(client.id, n, channel, job_type, at),
            lead,
            delivery=_delivery(client.id, at, route, body=f'{{"n": {n}, "body": "Reply {n}"}}'),
        )
        jobs.append((result.job_id, job_type))
        if n == 0:
            seeded.lead_id = result.lead_id
            seeded.draft_id = sync.insert_draft(
                client.id, result.lead_id, result.message_id, channel, "Hi! Tuesday 10am?", now=at
            )[0]
    claimed = {j["id"]: j for j in sync.claim_jobs(runner_id="seed:1", now=at, limit=100)}
    ended = db.iso(now - timedelta(minutes=20))
    for index, (job_id, job_type) in enumerate(jobs):
        job = claimed[job_id]
        if index in FAILED_INDEXES:
            error = "AIRequestError: 401 invalid api key" if index % 2 else "AIRetryableError: 503"
            sync.finish_job(job, db.JobResult("FAILED", error=error), runner_id="seed:1", now=ended)
            (
                seeded.failed_email if job_type == EMAIL_INBOUND_POST_PROCESS else seeded.failed_sms
            ).append(job_id)
        elif index == 6:
            seeded.running = job_id  # its lease was last renewed 30 minutes ago
        elif index in (8, 9):
            sync.finish_job(job, db.JobResult("SUCCEEDED"), runner_id="seed:1", now=ended)
        else:
            sync.release_jobs([job], runner_id="seed:1", now=ended, reason="seed")
            seeded.pending.append(job_id)
    seeded.discarded = seeded.pending.pop()
    sync.discard_job(seeded.discarded, now=ended)
    sync.set_lead_sentiment(seeded.lead_id, "Interested", "qualified", now=ended)
    sync.set_lead_score(seeded.lead_id, 3, 4, 4, "Asked for a call", now=ended)
    _seed_ai(store, seeded, now)
    _seed_deliveries(store, seeded, now)
    return seeded


ROUTES = ("/api/webhooks/ghl/sms", "/api/webhooks/email", "/api/webhooks/smartlead")


def _delivery(client_id: int | None, at: str, route: str, **fields) -> db.NewDelivery:
    return db.NewDelivery(
        received_at=at, route=route, started=0.0, client_id=client_id, duration_ms=4.2, **fields
    )


def _seed_deliveries(store: db.Store, seeded: Seeded, now: datetime) -> None:
    """Ledger rows over the last 24 hours besides the 12 stored above: deduped, ignored and
    rejected ones (some without a valid token), on three routes."""
    kinds = [
        {"status_code": 401, "outcome": "rejected", "error": "Invalid client token"},
        {"status_code": 400, "outcome": "rejected", "error": "Missing contact_id", "body": "{}"},
        {"outcome": "ignored", "event_type": "OPENED", "body": '{"event_type": "OPENED"}',
         "answer": '{"success":true,"ignored":true,"eventType":"OPENED"}'},
        {"outcome": "deduped", "body": "{}"},
        {"outcome": "deduped", "body": "{}"},
    ]  # fmt: skip
    rows = []
    for n in range(60):
        at = db.iso(now - timedelta(minutes=20 + n * 23))
        kind = kinds[n % 5]
        client_id = None if kind.get("status_code") == 401 else seeded.client_ids[n % 2]
        rows.append(_delivery(client_id, at, ROUTES[n % 3], **kind))
    store.sync.record_deliveries(rows)


def _seed_ai(store: db.Store, seeded: Seeded, now: datetime) -> None:
    """AI calls over the last 7 days; today's and yesterday's figures differ."""
    n = 0
    for days_ago in range(7):
        day = now - timedelta(days=days_ago)
        calls = 3 + (6 - days_ago)
        for k in range(calls):
            for source, features in SOURCES.items():
                for feature in features:
                    n += 1
                    at = (
                        day.replace(hour=(k * 3) % 24, minute=5)
                        if days_ago
                        else now - timedelta(minutes=5 + k)
                    )
                    unpriced = n % 17 == 0
                    store.sync.record_interaction(
                        {
                            "source": f"background_job:{source}",
                            "client_id": seeded.client_ids[n % 2],
                            "lead_id": seeded.lead_id if n % 11 == 0 else None,
                            "background_job_id": seeded.failed_sms[0] if n % 13 == 0 else None,
                            "job_attempt": 1 if n % 13 == 0 else None,
                            "feature_id": feature,
                            "provider": "openai",
                            "api_type": "chat_completions",
                            "model": "unpriced-model" if unpriced else "gpt-4o-mini",
                            "input_tokens": 300 + n,
                            "cached_input_tokens": 50,
                            "output_tokens": 40 + n % 30,
                            "reasoning_tokens": 0,
                            "total_tokens": 340 + n + n % 30,
                            "latency_ms": LATENCY[source] + (n * 37) % 1500,
                            "status": "error" if n % 23 == 0 else "success",
                            "cost_usd": None if unpriced else round((300 + n) * 0.15e-6 + 40e-6, 9),
                            "created_at": db.iso(at),
                        }
                    )
