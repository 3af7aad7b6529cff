"""AI telemetry on Postgres: ``ai_interactions`` rows and the spend report (as
:mod:`db.sqlite.interactions`). A reference to a client, lead, message or job that no longer
exists is stored as NULL, decided inside the insert itself."""

from __future__ import annotations

from typing import Any

import psycopg

from db._report import ReportBuilder
from db.postgres._sql import one, rows
from db.records import INTERACTION_COLUMNS, INTERACTION_REFERENCES
from db.time import normalize_time
from db.vocab import REPORT_DIMENSIONS


def _value(column: str) -> str:
    table = INTERACTION_REFERENCES.get(column)
    if table is None:
        return f"%({column})s"
    return f"(SELECT id FROM {table} WHERE id = %({column})s::bigint)"


_INSERT_INTERACTION = (
    f"INSERT INTO ai_interactions ({', '.join(INTERACTION_COLUMNS)}) "
    f"VALUES ({', '.join(_value(c) for c in INTERACTION_COLUMNS)}) RETURNING id"
)


def record_interaction(conn: psycopg.Connection, row: dict[str, Any]) -> int:
    values = {column: row.get(column) for column in INTERACTION_COLUMNS}
    found = one(conn, _INSERT_INTERACTION, values)
    assert found is not None
    return found["id"]


def record_interactions(conn: psycopg.Connection, batch: list[dict[str, Any]]) -> list[int]:
    return [record_interaction(conn, row) for row in batch]


def list_interactions(conn: psycopg.Connection, equal: dict[str, Any]) -> list[dict]:
    unknown = set(equal) - {"id", *INTERACTION_COLUMNS}
    if unknown:
        raise ValueError(f"not ai_interactions columns: {sorted(unknown)}")
    where = " AND ".join(f"{c} IS NOT DISTINCT FROM %({c})s" for c in equal) or "true"
    return rows(conn, f"SELECT * FROM ai_interactions WHERE {where} ORDER BY id", equal)


def unattributed_interactions(conn: psycopg.Connection) -> list[dict]:
    return rows(
        conn,
        "SELECT id, feature_id, prompt_key, status, created_at FROM ai_interactions "
        "WHERE source IS NULL ORDER BY id",
    )


def prune_interactions(conn: psycopg.Connection, before: str, batch: int | None = None) -> int:
    if batch is None:
        cursor = conn.execute("DELETE FROM ai_interactions WHERE created_at < %s", (before,))
    else:
        cursor = conn.execute(
            """DELETE FROM ai_interactions WHERE id IN (
                   SELECT id FROM ai_interactions WHERE created_at < %s
                   ORDER BY created_at LIMIT %s)""",
            (before, batch),
        )
    return cursor.rowcount


_REPORT_SQL = """
SELECT {column} AS grp, latency_ms,
       COUNT(*) AS calls,
       COUNT(*) FILTER (WHERE status = 'error') AS errors,
       SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(output_tokens) AS output_tokens,
       SUM(reasoning_tokens) AS reasoning_tokens,
       SUM(total_tokens) AS total_tokens,
       SUM(cost_usd) AS cost_usd,
       COUNT(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls
FROM ai_interactions
{where}
GROUP BY {column}, latency_ms
"""


def ai_report(
    conn: psycopg.Connection, by: str = "source", since: str | None = None
) -> dict[str, Any]:
    if by not in REPORT_DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(REPORT_DIMENSIONS)}, not {by!r}")
    column = REPORT_DIMENSIONS[by]
    since = normalize_time(since, "since")
    params: dict[str, Any] = {}
    where = ""
    if since is not None:
        where = "WHERE created_at >= %(since)s"
        params["since"] = since
    builder = ReportBuilder()
    for row in rows(conn, _REPORT_SQL.format(column=column, where=where), params):
        builder.add(*row.values())
    return builder.result(by, since)
