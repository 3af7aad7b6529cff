"""Fill a database with many rows quickly (bench data only: executemany, one transaction)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import db

SOURCES = [
    "background_job:SMS_INBOUND_POST_PROCESS",
    "background_job:EMAIL_INBOUND_POST_PROCESS",
    "background_job:LINKEDIN_INBOUND_POST_PROCESS",
    "background_job:LEAD_SCORING_POST_PROCESS",
    "/api/cron/background-jobs",
]
FEATURES = [
    "sentiment.classify",
    "draft.generate.sms",
    "draft.generate.email",
    "lead_scoring.score",
]
MODELS = ["gpt-4o-mini", "gpt-4.1-mini", "gpt-5-mini", "unpriced-model"]


def _iso(moment: datetime) -> str:
    return db.iso(moment)


def seed(database, client_id: int, *, messages: int, ai_rows: int, leads: int = 10_000) -> None:
    rng = random.Random(42)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    conn = database.conn
    conn.execute("BEGIN IMMEDIATE")
    now = _iso(start)
    conn.executemany(
        "INSERT INTO leads (client_id, ghl_contact_id, email, status, created_at, updated_at)"
        " VALUES (?, ?, ?, 'new', ?, ?)",
        ((client_id, f"seed-{i}", f"seed{i}@example.com", now, now) for i in range(leads)),
    )
    first_lead = conn.execute(
        "SELECT MIN(id) FROM leads WHERE client_id = ?", (client_id,)
    ).fetchone()[0]

    def message_rows():
        for i in range(messages):
            at = _iso(start + timedelta(seconds=i * 3))
            yield (
                client_id,
                first_lead + i % leads,
                "sms",
                "inbound",
                f"seeded reply {i}",
                at,
                at,
                "ghl",
                f"ghl_sms:seed{i:024d}",
                at,
            )

    conn.executemany(
        "INSERT INTO messages (client_id, lead_id, channel, direction, body, sent_at, received_at,"
        " source, webhook_dedupe_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        message_rows(),
    )
    conn.execute(
        "INSERT INTO background_jobs (type, status, dedupe_key, client_id, lead_id, message_id,"
        " run_at, attempts, max_attempts, created_at, updated_at)"
        " SELECT 'SMS_INBOUND_POST_PROCESS', 'SUCCEEDED', client_id || ':' || id ||"
        " ':SMS_INBOUND_POST_PROCESS', client_id, lead_id, id, created_at, 1, 5, created_at,"
        " created_at FROM messages WHERE client_id = ?",
        (client_id,),
    )

    def ai_rows_gen():
        for i in range(ai_rows):
            at = _iso(start + timedelta(seconds=i * 2))
            model = MODELS[i % len(MODELS)]
            inp, out = rng.randint(200, 2000), rng.randint(20, 400)
            cached = inp // 4 if i % 3 == 0 else 0
            cost = None if model == "unpriced-model" else (inp * 0.15 + out * 0.6) / 1e6
            status = "error" if i % 50 == 0 else "success"
            yield (
                SOURCES[i % len(SOURCES)],
                client_id,
                FEATURES[i % len(FEATURES)],
                "openai",
                "chat_completions",
                model,
                model,
                inp,
                cached,
                out,
                0,
                inp + out,
                rng.randint(150, 4000),
                status,
                cost,
                at,
            )

    conn.executemany(
        "INSERT INTO ai_interactions (source, client_id, feature_id, provider, api_type, model,"
        " response_model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,"
        " total_tokens, latency_ms, status, cost_usd, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ai_rows_gen(),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
