"""Covering indexes for the AI spend report and the view ``ai_spend_by_source``."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import migrations

# The AI report reads one of these per grouping: GROUP BY <column>, latency_ms streams in
# index order (no sort) and every summed column is in the index (no table lookups).
_AI_REPORT_COVERED = (
    "latency_ms, created_at, status, input_tokens, cached_input_tokens, output_tokens, "
    "reasoning_tokens, total_tokens, cost_usd"
)


@migrations()
def m003_ai_report(db: Database) -> None:
    """Covering indexes for ``leadhook ai report`` and the view ``ai_spend_by_source``.

    ``ai_spend_by_source``: all-time calls, errors, tokens by type, cost (priced rows),
    unpriced calls and average latency per telemetry source (NULL shown as ``unattributed``).
    """
    for name, column in (("source", "source"), ("feature", "feature_id"), ("model", "model")):
        db.execute(
            f"CREATE INDEX ai_interactions_report_{name} "
            f"ON ai_interactions ({column}, {_AI_REPORT_COVERED})"
        )
    db.execute(
        """
        CREATE VIEW ai_spend_by_source AS
            SELECT COALESCE(ai_interactions.source, 'unattributed') AS source,
                   COUNT(*) AS calls,
                   SUM(status = 'error') AS errors,
                   COALESCE(SUM(input_tokens), 0) AS input_tokens,
                   COALESCE(SUM(cached_input_tokens), 0) AS cached_input_tokens,
                   COALESCE(SUM(output_tokens), 0) AS output_tokens,
                   COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
                   COALESCE(SUM(total_tokens), 0) AS total_tokens,
                   ROUND(COALESCE(SUM(cost_usd), 0), 6) AS cost_usd,
                   SUM(cost_usd IS NULL) AS unpriced_calls,
                   CAST(ROUND(AVG(latency_ms)) AS INTEGER) AS avg_latency_ms,
                   MIN(created_at) AS first_call_at,
                   MAX(created_at) AS last_call_at
            FROM ai_interactions
            GROUP BY ai_interactions.source
        """
    )
