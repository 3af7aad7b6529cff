"""The AI spend report: numbers for a seeded set of rows, computed by hand; admin route.

The ``leadhook ai report`` command is tested in test_cli_ai.py, on the same rows."""

from __future__ import annotations

import httpx
import pytest

import db
from db._report import nearest_rank
from db.sqlite.interactions import _REPORT_SQL

# One row on purpose has no source (the "unattributed" group).
pytestmark = pytest.mark.allow_unattributed

SMS = "background_job:SMS_INBOUND_POST_PROCESS"
SCORING = "background_job:LEAD_SCORING_POST_PROCESS"
CLASSIFY, DRAFT, SCORE = "sentiment.classify", "draft.generate.sms", "lead_scoring.score"
N = None
NO_TOKENS = (N, N, N, N, N)


def row(source, feature, model, status, tokens, latency, cost, created_at) -> dict:
    """tokens: (input, cached input, output, reasoning, total)."""
    inp, cached, out, reasoning, total = tokens
    return {
        "source": source,
        "feature_id": feature,
        "prompt_key": feature + ".v1",
        "provider": "openai",
        "api_type": "chat_completions",
        "model": model,
        "status": status,
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_tokens": reasoning,
        "total_tokens": total,
        "latency_ms": latency,
        "cost_usd": cost,
        "created_at": f"2026-{created_at}.000Z",
    }


MINI, LLAMA, O4 = "gpt-4o-mini", "local-llama", "o4-mini"
SEED = [
    # 1-5: the SMS job; row 5 is old (before --since 2026-01-05)
    row(SMS, CLASSIFY, MINI, "success", (1000, 200, 100, 0, 1100), 300, 0.000222, "01-10T09:00:00"),
    row(SMS, DRAFT, MINI, "success", (2000, 0, 300, 0, 2300), 100, 0.00048, "01-10T09:00:01"),
    row(SMS, CLASSIFY, MINI, "error", NO_TOKENS, 200, 0.0, "01-11T09:00:00"),
    row(SMS, CLASSIFY, LLAMA, "success", (500, 0, 50, 0, 550), 400, N, "01-12T09:00:00"),
    row(SMS, DRAFT, MINI, "success", (1500, 1000, 200, 0, 1700), 1000, 0.000315, "01-01T00:00:00"),
    # 6-8: lead scoring; row 8 has no latency and no price
    row(SCORING, SCORE, O4, "success", (3000, 0, 500, 300, 3500), 70, 0.0055, "01-12T09:00:00"),
    row(SCORING, SCORE, O4, "success", (2500, 500, 400, 250, 2900), 50, 0.004, "01-13T09:00:00"),
    row(SCORING, SCORE, LLAMA, "error", NO_TOKENS, N, N, "01-13T09:00:01"),
    # 9: no source
    row(None, CLASSIFY, MINI, "success", (100, 0, 10, 0, 110), 10, 0.000021, "01-14T09:00:00"),
]


def group(name, calls, errors, tokens, cost, unpriced, p50, p95) -> dict:
    inp, cached, out, reasoning, total = tokens
    return {
        "group": name,
        "calls": calls,
        "errors": errors,
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_tokens": reasoning,
        "total_tokens": total,
        "cost_usd": None if cost is None else pytest.approx(cost, abs=1e-12),
        "unpriced_calls": unpriced,
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
    }


@pytest.fixture
def seeded(store, database):
    for values in SEED:
        store.sync.record_interaction(values)
    return database


# By source, all time. SMS latencies [100, 200, 300, 400, 1000]: p50 = v[ceil(2.5)] = v3 =
# 300, p95 = v[ceil(4.75)] = v5 = 1000. Scoring [50, 70] (row 8 has none): p50 = v1 = 50,
# p95 = v[ceil(1.9)] = v2 = 70. Total [10, 50, 70, 100, 200, 300, 400, 1000]: p50 = v4 =
# 100, p95 = v[ceil(7.6)] = v8 = 1000.
BY_SOURCE = {
    "by": "source",
    "since": None,
    "groups": [
        group(SCORING, 3, 1, (5500, 500, 900, 550, 6400), 0.0095, 1, 50, 70),
        group(SMS, 5, 1, (5000, 1200, 650, 0, 5650), 0.001017, 1, 300, 1000),
        group("unattributed", 1, 0, (100, 0, 10, 0, 110), 0.000021, 0, 10, 10),
    ],
    "total": group("total", 9, 2, (10600, 1700, 1560, 550, 12160), 0.010538, 2, 100, 1000),
}

# Since 2026-01-05 (row 5 out). SMS [100, 200, 300, 400]: p50 = v2 = 200, p95 = v[ceil(3.8)]
# = v4 = 400. Total [10, 50, 70, 100, 200, 300, 400]: p50 = v[ceil(3.5)] = v4 = 100,
# p95 = v[ceil(6.65)] = v7 = 400.
BY_SOURCE_SINCE = {
    "by": "source",
    "since": "2026-01-05T00:00:00.000Z",
    "groups": [
        group(SCORING, 3, 1, (5500, 500, 900, 550, 6400), 0.0095, 1, 50, 70),
        group(SMS, 4, 1, (3500, 200, 450, 0, 3950), 0.000702, 1, 200, 400),
        group("unattributed", 1, 0, (100, 0, 10, 0, 110), 0.000021, 0, 10, 10),
    ],
    "total": group("total", 8, 2, (9100, 700, 1360, 550, 10460), 0.010223, 2, 100, 400),
}


def test_report_by_source_matches_the_hand_computed_numbers(seeded, store):
    assert store.sync.ai_report("source") == BY_SOURCE


def test_report_since_counts_only_later_calls(seeded, store):
    assert store.sync.ai_report("source", since="2026-01-05") == BY_SOURCE_SINCE
    assert store.sync.ai_report("source", since="2026-01-05T00:00:00Z") == BY_SOURCE_SINCE
    assert store.sync.ai_report("source", since="2030-01-01")["total"]["calls"] == 0


def test_report_by_feature(seeded, store):
    # classify latencies [10, 200, 300, 400] → p50 v2 = 200, p95 v4 = 400; draft [100, 1000]
    assert store.sync.ai_report("feature")["groups"] == [
        group(SCORE, 3, 1, (5500, 500, 900, 550, 6400), 0.0095, 1, 50, 70),
        group(DRAFT, 2, 0, (3500, 1000, 500, 0, 4000), 0.000795, 0, 100, 1000),
        group(CLASSIFY, 4, 1, (1600, 200, 160, 0, 1760), 0.000243, 1, 200, 400),
    ]


def test_report_by_model(seeded, store):
    # gpt-4o-mini latencies [10, 100, 200, 300, 1000] → p50 v3 = 200, p95 v5 = 1000
    assert store.sync.ai_report("model")["groups"] == [
        group("o4-mini", 2, 0, (5500, 500, 900, 550, 6400), 0.0095, 0, 50, 70),
        group("gpt-4o-mini", 5, 1, (4600, 1200, 610, 0, 5210), 0.001038, 0, 200, 1000),
        group("local-llama", 2, 1, (500, 0, 50, 0, 550), None, 2, 400, 400),
    ]


def test_report_of_an_empty_table(store):
    result = store.sync.ai_report()
    assert result["groups"] == []
    assert result["total"] == group("total", 0, 0, (0, 0, 0, 0, 0), None, 0, None, None)


def test_report_rejects_bad_arguments(store):
    with pytest.raises(ValueError, match="by must be one of"):
        store.sync.ai_report("day")
    with pytest.raises(ValueError, match="since must be an ISO-8601 time"):
        store.sync.ai_report("source", since="last week")


def test_nearest_rank():
    values = {v: 1 for v in range(1, 21)}
    assert nearest_rank(values, 50) == 10
    assert nearest_rank(values, 95) == 19
    assert nearest_rank({7: 1}, 95) == 7
    assert nearest_rank({1: 94, 500: 6}, 95) == 500
    assert nearest_rank({1: 95, 500: 5}, 95) == 1
    assert nearest_rank({}, 50) is None


def test_view_ai_spend_by_source(seeded):
    found = {r["source"]: r for r in seeded.query("SELECT * FROM ai_spend_by_source")}
    assert set(found) == {SMS, SCORING, "unattributed"}
    sms = found[SMS]
    assert (sms["calls"], sms["errors"], sms["input_tokens"], sms["unpriced_calls"]) == (
        5,
        1,
        5000,
        1,
    )
    assert sms["cost_usd"] == pytest.approx(0.001017)
    assert sms["avg_latency_ms"] == 400  # (300 + 100 + 200 + 400 + 1000) / 5
    assert (sms["first_call_at"], sms["last_call_at"]) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-12T09:00:00.000Z",
    )


def test_prune_interactions(seeded, store):
    assert store.sync.prune_interactions(before="2026-01-10T00:00:00.000Z", batch=5000) == 1
    assert store.sync.ai_report()["total"]["calls"] == 8
    assert store.sync.prune_interactions(before="2026-01-10T00:00:00.000Z", batch=5000) == 0


def test_the_report_reads_its_covering_index(seeded):
    for by, column in db.vocab.REPORT_DIMENSIONS.items():
        plan = " ".join(
            str(r[3])
            for r in seeded.execute(
                "EXPLAIN QUERY PLAN "
                + _REPORT_SQL.format(column=column, name=by, where="WHERE created_at >= ?"),
                ("2026-01-01",),
            )
        )
        assert f"COVERING INDEX ai_interactions_report_{by}" in plan
        assert "TEMP B-TREE" not in plan


# -- GET /api/telemetry/ai -------------------------------------------------------------------


def test_admin_route_needs_the_admin_token(seeded, serve):
    server = serve(admin_token="s3cret-admin")
    url = f"{server.url}/api/telemetry/ai"
    with httpx.Client(timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-admin"}):
            response = http.get(url, headers=headers)
            assert response.status_code == 401, headers
            assert response.json() == {
                "success": False,
                "error": "Unauthorized: send 'Authorization: Bearer <LEADHOOK_ADMIN_TOKEN>'",
            }
        ok = http.get(url, headers={"Authorization": "Bearer s3cret-admin"})
        assert ok.status_code == 200
        assert ok.json() == {"success": True, **BY_SOURCE}
        since = http.get(
            url,
            params={"by": "source", "since": "2026-01-05T00:00:00Z"},
            headers={"Authorization": "Bearer s3cret-admin"},
        )
        assert since.json() == {"success": True, **BY_SOURCE_SINCE}
        by_model = http.get(
            url, params={"by": "model"}, headers={"Authorization": "Bearer s3cret-admin"}
        )
        assert [g["group"] for g in by_model.json()["groups"]] == [
            "o4-mini",
            "gpt-4o-mini",
            "local-llama",
        ]
        for params in ({"by": "day"}, {"since": "last week"}):
            bad = http.get(url, params=params, headers={"Authorization": "Bearer s3cret-admin"})
            assert bad.status_code == 400 and bad.json()["success"] is False


def test_admin_route_is_disabled_without_a_token(seeded, serve):
    server = serve()  # LEADHOOK_ADMIN_TOKEN unset
    with httpx.Client(timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer x"}, {"Authorization": "Bearer None"}):
            response = http.get(f"{server.url}/api/telemetry/ai", headers=headers)
            assert response.status_code == 401
            assert "set LEADHOOK_ADMIN_TOKEN" in response.json()["error"]
