"""The unit prices of every AI call, stored with it; ``ai_spend_by_source`` without a fake 0
(as SQLite's m007)."""

from __future__ import annotations

import psycopg

from db.postgres.migrations._registry import migration


@migration
def m007_ai_prices(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        ALTER TABLE ai_interactions
            ADD COLUMN price_input_per_mtok double precision
                CHECK (price_input_per_mtok >= 0),
            ADD COLUMN price_cached_input_per_mtok double precision
                CHECK (price_cached_input_per_mtok >= 0),
            ADD COLUMN price_output_per_mtok double precision
                CHECK (price_output_per_mtok >= 0),
            ADD COLUMN price_source text;
        CREATE OR REPLACE VIEW ai_spend_by_source AS
            SELECT COALESCE(ai_interactions.source, 'unattributed') AS source,
                   COUNT(*) AS calls,
                   COUNT(*) FILTER (WHERE status = 'error') AS errors,
                   COALESCE(SUM(input_tokens), 0) AS input_tokens,
                   COALESCE(SUM(cached_input_tokens), 0) AS cached_input_tokens,
                   COALESCE(SUM(output_tokens), 0) AS output_tokens,
                   COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
                   COALESCE(SUM(total_tokens), 0) AS total_tokens,
                   round(SUM(cost_usd)::numeric, 6) AS cost_usd,  -- NULL when no call is priced
                   COUNT(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls,
                   round(AVG(latency_ms))::integer AS avg_latency_ms,
                   MIN(created_at) AS first_call_at,
                   MAX(created_at) AS last_call_at
            FROM ai_interactions
            GROUP BY ai_interactions.source;
        """
    )
