"""Indexes for the AI spend report and the view ``ai_spend_by_source`` (as SQLite's m003)."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import migration

_AI_REPORT_COVERED = (
    "created_at, status, input_tokens, cached_input_tokens, output_tokens, "
    "reasoning_tokens, total_tokens, cost_usd"
)


@migration
def m003_ai_report(conn: psycopg.Connection) -> None:
    """One index per grouping: ``(<column>, latency_ms)`` covering the summed columns
    (Postgres ``INCLUDE``), so the report is an index-only scan."""
    for name, column in (("source", "source"), ("feature", "feature_id"), ("model", "model")):
        conn.execute(
            f"CREATE INDEX ai_interactions_report_{name} "
            f"ON ai_interactions ({column}, latency_ms) INCLUDE ({_AI_REPORT_COVERED})"
        )
    conn.execute(
        """
        CREATE VIEW ai_spend_by_source AS
            SELECT COALESCE(ai_interactions.source, 'unattributed') AS source,
                   COUNT(*) AS calls,
                   COUNT(*) FILTER (WHERE status = 'error') AS errors,
                   COALESCE(SUM(input_tokens), 0) AS input_tokens,
                   COALESCE(SUM(cached_input_tokens), 0) AS cached_input_tokens,
                   COALESCE(SUM(output_tokens), 0) AS output_tokens,
                   COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
                   COALESCE(SUM(total_tokens), 0) AS total_tokens,
                   round(COALESCE(SUM(cost_usd), 0)::numeric, 6) AS cost_usd,
                   COUNT(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls,
                   round(AVG(latency_ms))::integer AS avg_latency_ms,
                   MIN(created_at) AS first_call_at,
                   MAX(created_at) AS last_call_at
            FROM ai_interactions
            GROUP BY ai_interactions.source
        """
    )
