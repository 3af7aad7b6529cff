"""What keeps the ledger bounded and complete: requests without a valid token are capped per
minute (the rest counted in ``app.state.ledger.unrecorded``); rows the database cannot take
are kept in memory, bounded, and written once it can; bodies and rows are pruned by the daily
maintenance; a file of the previous schema gets the table and keeps its rows."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import db
from db.sqlite import connect
from db.sqlite.migrations import migrate, migrations
from handlers._ledger_kept import KeptRows
from scheduler._maintenance import run_maintenance
from tests.conftest import load_payload, open_file, rows
from tests.ledger_helpers import ledger_rows

GHL = "/api/webhooks/ghl/sms"


def test_a_flood_without_a_valid_token_is_capped_per_minute(serve, workspace, database):
    live = serve(scheduler_enabled=False, ledger_rejected_per_minute=5)
    ledger = live.app.state.ledger
    minute = [0.0]
    ledger.monotonic = lambda: minute[0]
    payload = load_payload("ghl_sms_workflow.json")
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for n in range(20):
            token = {"Authorization": f"Bearer lh_flood_{n}"} if n % 2 else {}
            assert http.post(GHL, json=payload, headers=token).status_code == 401
        # Requests with the valid token are never capped, rejected or not.
        for _ in range(8):
            assert http.post(GHL, content=b"{", headers=workspace.auth).status_code == 400
        assert http.post(GHL, json=payload, headers=workspace.auth).status_code == 200
        found = ledger_rows(database, 5 + 8 + 1)
        assert [r["client_id"] for r in found[:5]] == [None] * 5
        assert ledger.unrecorded == 15
        minute[0] = 60.0  # the next minute has room again
        assert http.post(GHL, json=payload).status_code == 401
        ledger_rows(database, 15)
        assert ledger.unrecorded == 15


def test_rows_the_database_cannot_take_are_kept_and_written_later(serve, workspace, database):
    live = serve(scheduler_enabled=False)
    writer, kept = live.app.state.store.writer, live.app.state.ledger.kept
    pages = database.execute("PRAGMA page_count").fetchone()[0]
    writer.write_sync(lambda d: d.execute(f"PRAGMA max_page_count = {pages}").fetchall())
    payload = load_payload("ghl_sms_workflow.json")
    payload["message"]["body"] = "a long reply " * 10_000
    with httpx.Client(base_url=live.url, timeout=30) as http:
        answers = [http.post(GHL, json=payload, headers=workspace.auth) for _ in range(3)]
        assert [a.status_code for a in answers] == [429, 429, 429]
        deadline = time.monotonic() + 10
        while kept.pending < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kept.pending == 3 and ledger_rows(database) == []
        writer.write_sync(lambda d: d.execute("PRAGMA max_page_count = 1073741823").fetchall())
        found = ledger_rows(database, 3)
    assert [(r["status_code"], r["client_id"]) for r in found] == [(429, workspace.id)] * 3
    assert "Database busy" in found[0]["error"] and found[0]["body"].startswith('{"contact_id"')
    assert kept.pending == 0 and kept.rewritten == 3


@pytest.mark.anyio
async def test_kept_rows_are_bounded_in_number_and_body_bytes(db_path):
    store = db.open_store(db_path)
    store.close()  # every write is refused: DatabaseUnavailable
    kept = KeptRows(store, max_kept=3, max_body_bytes=10)
    for n in range(5):
        kept.submit(
            db.NewDelivery(
                received_at="2026-01-18T10:00:00.000Z",
                route=GHL,
                started=0.0,
                status_code=429,
                outcome="rejected",
                body=f"body-{n}",
            )
        )
    assert kept.pending == 3 and kept.dropped == 2
    # Rows 1-3 came while row 0's body filled the room (6 + 6 bytes is past 10): kept
    # without it. Row 0 was dropped when row 3 came (the oldest go first); row 4's body fit.
    rows_left = kept._take()
    assert [row.body for row in rows_left] == [None, None, "body-4"]
    assert all(row.status_code == 429 for row in rows_left)
    await kept.close()


@pytest.mark.anyio
async def test_maintenance_prunes_bodies_and_rows_past_their_retention(
    store, settings, workspace, database
):
    now = datetime(2026, 3, 1, tzinfo=UTC)
    for days_ago in (40, 31, 20, 8, 6, 1):
        at = db.iso(now - timedelta(days=days_ago))
        store.submit_delivery(
            db.NewDelivery(
                received_at=at,
                route=GHL,
                started=0.0,
                client_id=workspace.id,
                outcome="ignored",
                body="{}",
                body_sha256="x",
            )
        )
    await store.flush()

    results = await run_maintenance(store, settings, now)

    assert results["prune_deliveries"] == 2  # older than 30 days
    assert results["prune_delivery_bodies"] == 2  # older than 7 days, among the rows left
    kept = rows(database, "SELECT body IS NOT NULL AS kept FROM deliveries ORDER BY received_at")
    assert [r["kept"] for r in kept] == [0, 0, 1, 1]

    never = type(settings)(**{**settings.__dict__, "ledger_body_days": 0})
    results = await run_maintenance(store, never, now)
    assert results["prune_delivery_bodies"] == 2  # 0: no body is kept, those already stored go
    forever = type(settings)(**{**settings.__dict__, "ledger_retention_days": 0})
    assert (await run_maintenance(store, forever, now + timedelta(days=400)))[
        "prune_deliveries"
    ] == 0


def test_a_file_of_the_previous_schema_gets_the_ledger_and_keeps_its_rows(db_path):
    database = connect(db_path)
    migrations.apply(database, stop_before="m011_deliveries")
    database.execute(
        "INSERT INTO clients (name, token_hash, token_prefix, created_at, updated_at)"
        " VALUES ('Old', 'hash', 'lh_', '2026-01-18T10:00:00.000Z', '2026-01-18T10:00:00.000Z')"
    )
    before = database.execute("SELECT * FROM clients").fetchall()
    database.close()
    reopened = connect(db_path)
    assert migrate(reopened)[0] == "m011_deliveries"
    assert reopened.execute("SELECT * FROM clients").fetchall() == before
    assert reopened.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0
    reopened.close()


def test_the_console_filters_and_retention_use_the_indexes(store, db_path):
    database = open_file(db_path)
    plans = {
        "SELECT id FROM deliveries WHERE client_id = 1 ORDER BY received_at DESC, id DESC"
        " LIMIT 50": "deliveries_client_received_at",
        "SELECT id FROM deliveries WHERE outcome = 'rejected' ORDER BY received_at DESC,"
        " id DESC LIMIT 50": "deliveries_outcome_received_at",
        "SELECT id FROM deliveries WHERE received_at < '2026' LIMIT 50": "deliveries_received_at",
        "SELECT id FROM deliveries WHERE dedupe_key IN ('a', 'b')": "deliveries_dedupe_key",
        "SELECT id FROM deliveries WHERE message_id = 3": "deliveries_message_id",
    }
    for sql, index in plans.items():
        plan = " ".join(row[-1] for row in database.execute("EXPLAIN QUERY PLAN " + sql))
        assert index in plan, (sql, plan)
    database.close()
    asyncio.run(store.flush())
