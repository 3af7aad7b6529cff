"""The unit prices of every AI call, stored with it; ``ai_spend_by_source`` without a fake 0."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations


@migrations()
def m007_ai_prices(db: Database) -> None:
    """``ai_interactions.price_input_per_mtok``, ``price_cached_input_per_mtok``,
    ``price_output_per_mtok`` (USD per million tokens, as used for ``cost_usd`` at call time)
    and ``price_source`` (``genai-prices <version> <provider>/<model>``, ``env`` or
    ``offline``); all NULL for an unpriced model and for rows written before this migration.

    ``ai_spend_by_source`` is made again: a source whose calls are all unpriced has
    ``cost_usd`` NULL (it showed 0). Existing rows keep their values.
    """
    for column in (
        "price_input_per_mtok REAL CHECK (price_input_per_mtok >= 0)",
        "price_cached_input_per_mtok REAL CHECK (price_cached_input_per_mtok >= 0)",
        "price_output_per_mtok REAL CHECK (price_output_per_mtok >= 0)",
        "price_source TEXT",
    ):
        db.execute(f"ALTER TABLE ai_interactions ADD COLUMN {column}")
    db.executescript(
        """
        DROP VIEW ai_spend_by_source;
        CREATE VIEW ai_spend_by_source AS
            SELECT COALESCE(ai_interactions.source, 'unattributed') AS source,
                   COUNT(*) AS calls,
                   SUM(status = 'error') AS errors,
                   COALESCE(SUM(input_tokens), 0) AS input_tokens,
                   COALESCE(SUM(cached_input_tokens), 0) AS cached_input_tokens,
                   COALESCE(SUM(output_tokens), 0) AS output_tokens,
                   COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
                   COALESCE(SUM(total_tokens), 0) AS total_tokens,
                   ROUND(SUM(cost_usd), 6) AS cost_usd,  -- NULL when no call is priced
                   SUM(cost_usd IS NULL) AS unpriced_calls,
                   CAST(ROUND(AVG(latency_ms)) AS INTEGER) AS avg_latency_ms,
                   MIN(created_at) AS first_call_at,
                   MAX(created_at) AS last_call_at
            FROM ai_interactions
            GROUP BY ai_interactions.source;
        """
    )
