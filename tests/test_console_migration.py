"""Migration ``m009_console`` on a file made by the previous schema: every row kept, the AI
spend roll-ups filled from the rows already there and kept by the trigger afterwards, lead
changes recorded by triggers, and the latency buckets 10 % wide."""

from __future__ import annotations

from itertools import pairwise

import pytest

import db
from db.sqlite import connect, migrate
from db.sqlite.migrations import migrations
from db.sqlite.migrations.m009_console import latency_bounds

NOW = "2026-01-18T10:00:00.000Z"


def old_file(path):
    database = connect(path)
    migrations.apply(database, stop_before="m009_console")
    database.execute(
        "INSERT INTO clients (name, token_hash, token_prefix, created_at, updated_at)"
        " VALUES ('Old', 'hash', 'lh_', ?, ?)",
        (NOW, NOW),
    )
    database.execute(
        "INSERT INTO leads (client_id, status, created_at, updated_at) VALUES (1, 'new', ?, ?)",
        (NOW, NOW),
    )
    for n in range(30):
        database.execute(
            "INSERT INTO ai_interactions (source, client_id, feature_id, provider, api_type,"
            " model, input_tokens, output_tokens, total_tokens, latency_ms, status, cost_usd,"
            " created_at) VALUES (?, ?, 'sentiment.classify', 'openai', 'chat', 'gpt-4o-mini',"
            " 100, 10, 110, ?, ?, ?, ?)",
            (
                None if n == 0 else "background_job:SMS_INBOUND_POST_PROCESS",
                1 if n % 2 else None,
                100 * n if n != 5 else None,
                "error" if n % 7 == 0 else "success",
                None if n % 10 == 0 else 0.001,
                f"2026-01-{17 + n % 2}T{n % 24:02d}:30:00.000Z",
            ),
        )
    return database


@pytest.mark.allow_unattributed
def test_an_older_file_migrates_keeps_its_rows_and_gets_its_roll_ups(db_path):
    database = old_file(db_path)
    database.close()
    database = connect(db_path)
    assert migrate(database)[0] == "m009_console"  # and the migrations after it
    assert database.execute("SELECT COUNT(*) FROM ai_interactions").fetchone()[0] == 30
    assert database.execute("SELECT name, disabled_at FROM clients").fetchall() == [("Old", None)]
    assert database.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 1
    database.close()
    store = db.open_store(db_path)
    try:
        window = {"since": "2026-01-17", "until": "2026-01-19"}
        for by in ("source", "feature", "model"):
            spend, report = store.sync.ai_spend(by, **window), store.sync.ai_report(by)
            for name in ("calls", "errors", "total_tokens", "unpriced_calls"):
                assert spend["total"][name] == report["total"][name], (by, name)
            assert spend["total"]["cost_usd"] == pytest.approx(report["total"]["cost_usd"])
            assert [g["label"] for g in spend["groups"]] == [g["group"] for g in report["groups"]]
        # Later rows are counted by the trigger; pruning the raw rows keeps the history.
        store.sync.record_interaction(
            {"source": "x", "feature_id": "f", "provider": "p", "api_type": "a", "model": "m",
             "status": "success", "latency_ms": 7, "created_at": "2026-01-18T23:59:59.999Z"}
        )  # fmt: skip
        assert store.sync.ai_spend("source", **window)["total"]["calls"] == 31
        store.sync.prune_interactions(before="2026-02-01T00:00:00.000Z", batch=1000)
        after = store.sync.ai_spend("feature", **window)
        assert after["total"]["calls"] == 31
        assert [g["label"] for g in after["groups"]] == ["sentiment.classify", "f"]
        assert {g["label"] for g in store.sync.ai_spend("source", **window)["groups"]} == {
            "background_job:SMS_INBOUND_POST_PROCESS",
            "unattributed",
            "x",
        }
    finally:
        store.close()


def test_lead_changes_are_recorded_by_triggers_whoever_writes(database, store):
    client, _ = store.sync.create_client(name="A", now=NOW)
    database.execute(
        "INSERT INTO leads (client_id, status, created_at, updated_at) VALUES (?, 'new', ?, ?)",
        (client.id, NOW, NOW),
    )
    # An operator in the sqlite3 shell: the change is recorded too; a no-op is not.
    database.execute("UPDATE leads SET status = 'qualified', updated_at = ?", (NOW,))
    database.execute("UPDATE leads SET status = 'qualified', last_message_at = ?", (NOW,))
    database.execute("UPDATE leads SET fit_score = 3, overall_score = 2")
    rows = database.execute(
        "SELECT field, old_value, new_value FROM lead_changes ORDER BY id"
    ).fetchall()
    assert rows[0] == ("status", "new", "qualified")
    assert sorted(rows[1:]) == [("fit_score", None, "3"), ("overall_score", None, "2")]


def test_latency_buckets_are_at_most_10_percent_wide_after_10_ms():
    bounds = latency_bounds()
    assert bounds[:11] == list(range(11))
    assert all(b / a <= 1.1 + 1 / a for a, b in pairwise(bounds[10:]))  # rounded to 1 ms
    assert bounds[-1] >= 3_600_000
