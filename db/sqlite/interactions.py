"""AI telemetry: ``ai_interactions`` rows and the spend report.

Write functions are units of work ``fn(database, ...)`` for the writer (they never BEGIN or
COMMIT); read functions take any connection.

The report (:func:`ai_report`) groups ``ai_interactions`` by ``source``, ``feature_id`` or
``model`` and reads one covering index per group column (migration ``m003_ai_report``), so
it stays well under a second at a million rows.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from db._report import ReportBuilder
from db.records import INTERACTION_COLUMNS, INTERACTION_REFERENCES
from db.sqlite._connection import one, rows
from db.time import normalize_time
from db.vocab import REPORT_DIMENSIONS


def _value(column: str) -> str:
    table = INTERACTION_REFERENCES.get(column)
    if table is None:
        return f":{column}"
    # NULL when the row is gone: one statement, no look-up of each reference first.
    return f"(SELECT id FROM {table} WHERE id = :{column})"


_INSERT_INTERACTION = (
    f"INSERT INTO ai_interactions ({', '.join(INTERACTION_COLUMNS)}) "
    f"VALUES ({', '.join(_value(c) for c in INTERACTION_COLUMNS)}) RETURNING id"
)


# -- ai_interactions -------------------------------------------------------------------------


def record_interaction(database: Database, row: dict[str, Any]) -> int:
    """Insert one ``ai_interactions`` row (missing columns are NULL); return its id.

    A reference to a client, lead, message or job that no longer exists (deleted while the
    call was in flight) is stored as NULL rather than losing the row to a foreign-key error.
    """
    values = {column: row.get(column) for column in INTERACTION_COLUMNS}
    found = one(database, _INSERT_INTERACTION, values)
    assert found is not None
    return found["id"]


def record_interactions(database: Database, batch: list[dict[str, Any]]) -> list[int]:
    """Insert several ``ai_interactions`` rows (as :func:`record_interaction`, all in the
    caller's transaction: all or none); return their ids in order."""
    return [record_interaction(database, row) for row in batch]


def list_interactions(database: Database, equal: dict[str, Any]) -> list[dict]:
    """Rows of ``ai_interactions`` (oldest first), filtered by ``column=value`` equalities."""
    unknown = set(equal) - {"id", *INTERACTION_COLUMNS}
    if unknown:
        raise ValueError(f"not ai_interactions columns: {sorted(unknown)}")
    where = " AND ".join(f"{c} IS :{c}" for c in equal) or "1"
    return rows(database, f"SELECT * FROM ai_interactions WHERE {where} ORDER BY id", equal)


def unattributed_interactions(database: Database) -> list[dict]:
    """Rows with no ``source`` (the test suite's "no AI row is unattributed" check)."""
    return rows(
        database,
        "SELECT id, feature_id, prompt_key, status, created_at FROM ai_interactions "
        "WHERE source IS NULL ORDER BY id",
    )


def prune_interactions(database: Database, before: str, batch: int | None = None) -> int:
    """Delete ``ai_interactions`` rows created before ``before`` (at most ``batch`` of the
    oldest when given, so a caller can prune in short transactions); return how many."""
    if batch is None:
        cursor = database.execute("DELETE FROM ai_interactions WHERE created_at < ?", (before,))
    else:
        cursor = database.execute(
            """DELETE FROM ai_interactions WHERE id IN (
                   SELECT id FROM ai_interactions WHERE created_at < ?
                   ORDER BY created_at LIMIT ?)""",
            (before, batch),
        )
    return cursor.rowcount


# -- the report ------------------------------------------------------------------------------

_REPORT_SQL = """
SELECT {column} AS grp, latency_ms,
       COUNT(*) AS calls,
       SUM(status = 'error') AS errors,
       SUM(input_tokens) AS input_tokens,
       SUM(cached_input_tokens) AS cached_input_tokens,
       SUM(output_tokens) AS output_tokens,
       SUM(reasoning_tokens) AS reasoning_tokens,
       SUM(total_tokens) AS total_tokens,
       SUM(cost_usd) AS cost_usd,
       SUM(cost_usd IS NULL) AS unpriced_calls
FROM ai_interactions INDEXED BY ai_interactions_report_{name}
{where}
GROUP BY {column}, latency_ms
"""


def ai_report(database: Database, by: str = "source", since: str | None = None) -> dict[str, Any]:
    """The spend report (see :class:`db._report.ReportBuilder` for its figures): one row per
    (group, latency) from a covering index, folded into groups and percentiles in Python."""
    if by not in REPORT_DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(REPORT_DIMENSIONS)}, not {by!r}")
    column = REPORT_DIMENSIONS[by]
    since = normalize_time(since, "since")
    params: dict[str, Any] = {}
    where = ""
    if since is not None:
        where = "WHERE created_at >= :since"
        params["since"] = since
    sql = _REPORT_SQL.format(column=column, name=by, where=where)
    builder = ReportBuilder()
    for row in database.execute(sql, params).fetchall():
        builder.add(*row)
    return builder.result(by, since)
