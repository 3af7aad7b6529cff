"""Migrations m007_ai_prices and m008_message_sentiments on a file made by the schema before
them: every row is kept, the new columns are NULL, the new table is empty."""

from __future__ import annotations

import sqlite3

import pytest

from db.sqlite import connect, migrate, ops
from db.sqlite.migrations import migrations

NOW = "2026-01-18T10:00:00.000Z"


def test_a_file_of_the_previous_schema_migrates_and_keeps_its_ai_rows(db_path):
    names = [m.name for m in migrations._migrations]
    assert names.index("m007_ai_prices") < names.index("m008_message_sentiments")
    old = connect(db_path)
    migrations.apply(old, stop_before="m007_ai_prices")
    ops.create_client(old, "Old", NOW, {"ghl_location_id": "loc"})
    for source, status, cost in (
        ("a", "success", 0.25),
        ("a", "error", 0.0),
        ("b", "success", None),
    ):
        old.execute(
            "INSERT INTO ai_interactions (source, feature_id, provider, api_type, model, status,"
            " cost_usd, created_at) VALUES (?, 'sentiment.classify', 'openai',"
            " 'chat_completions', 'gpt-4o-mini', ?, ?, ?)",
            (source, status, cost, NOW),
        )
    old.close()

    database = connect(db_path)
    assert migrate(database) == names[names.index("m007_ai_prices") :]
    found = list(database.query("SELECT * FROM ai_interactions ORDER BY id"))
    assert [(r["source"], r["status"], r["cost_usd"]) for r in found] == [
        ("a", "success", 0.25),
        ("a", "error", 0.0),  # a stored cost never changes, even the old 0.0 of an error
        ("b", "success", None),
    ]
    for row in found:
        assert row["price_input_per_mtok"] is row["price_source"] is None
    view = {r["source"]: r for r in database.query("SELECT * FROM ai_spend_by_source")}
    assert view["a"]["cost_usd"] == 0.25
    assert view["b"]["cost_usd"] is None  # unpriced only: no cost, not 0
    assert [c.name for c in ops.list_clients(database)] == ["Old"]
    assert database.execute("SELECT COUNT(*) FROM message_sentiments").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        database.execute(
            "UPDATE ai_interactions SET price_input_per_mtok = -1 WHERE id = ?", (found[0]["id"],)
        )
