"""AI telemetry and AI results: ``ai_interactions``, ``ai_drafts``, lead sentiment and scores.

Write functions are units of work ``fn(database, ...)`` for the store's writer (they never
BEGIN or COMMIT); read functions take any connection.

The report (:func:`report`) groups ``ai_interactions`` by ``source``, ``feature_id`` or
``model`` and reads one covering index per group column (migration ``m003_ai_report``), so
it stays well under a second at a million rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlite_utils import Database

from db._connection import one, rows
from db._time import iso, parse_iso

UNATTRIBUTED = "unattributed"
REPORT_DIMENSIONS = {"source": "source", "feature": "feature_id", "model": "model"}

INTERACTION_COLUMNS = (
    "source",
    "client_id",
    "lead_id",
    "message_id",
    "background_job_id",
    "job_attempt",
    "feature_id",
    "prompt_key",
    "provider",
    "api_type",
    "model",
    "response_model",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "latency_ms",
    "status",
    "error_message",
    "cost_usd",
    "created_at",
)
_FOREIGN_KEYS = (
    ("client_id", "clients"),
    ("lead_id", "leads"),
    ("message_id", "messages"),
    ("background_job_id", "background_jobs"),
)
_INSERT_INTERACTION = (
    f"INSERT INTO ai_interactions ({', '.join(INTERACTION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in INTERACTION_COLUMNS)}) RETURNING id"
)


# -- ai_interactions -------------------------------------------------------------------------


def record_interaction(database: Database, row: dict[str, Any]) -> int:
    """Insert one ``ai_interactions`` row (missing columns are NULL); return its id.

    A reference to a client, lead, message or job that no longer exists (deleted while the
    call was in flight) is stored as NULL rather than losing the row to a foreign-key error.
    """
    values = {column: row.get(column) for column in INTERACTION_COLUMNS}
    for column, table in _FOREIGN_KEYS:
        if values[column] is not None and not one(
            database, f"SELECT 1 AS found FROM {table} WHERE id = ?", (values[column],)
        ):
            values[column] = None
    found = one(database, _INSERT_INTERACTION, values)
    assert found is not None
    return found["id"]


def list_interactions(database: Database, **equal: Any) -> list[dict]:
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


def prune_interactions(database: Database, before: str, *, batch: int | None = None) -> int:
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


# -- leads: sentiment and scores -------------------------------------------------------------


def set_lead_sentiment(
    database: Database,
    lead_id: int,
    sentiment_tag: str,
    status: str,
    now: str,
    message_id: int | None = None,
) -> bool:
    """Set the lead's ``sentiment_tag`` and ``status`` from the tag of ``message_id``.

    Nothing changes (False) when there is no such lead, when the lead is ``blacklisted`` and
    the tag is not ``Blacklist`` (an opt-out is never undone by a later classification), or
    when the lead has an inbound message newer than ``message_id`` (by ``sent_at``, then
    id): a late job for an older reply never overrides the newer reply's tag. Without
    ``message_id`` only the first two rules apply.
    """
    found = one(
        database,
        """UPDATE leads SET sentiment_tag = :tag, status = :status, updated_at = :now
           WHERE id = :lead
             AND (status != 'blacklisted' OR :tag = 'Blacklist')
             AND NOT EXISTS (
                 SELECT 1 FROM messages AS this JOIN messages AS newer
                   ON newer.lead_id = :lead AND newer.direction = 'inbound'
                  AND (newer.sent_at > this.sent_at
                       OR (newer.sent_at = this.sent_at AND newer.id > this.id))
                 WHERE this.id = :message)
           RETURNING id""",
        {
            "tag": sentiment_tag,
            "status": status,
            "now": now,
            "lead": lead_id,
            "message": message_id,
        },
    )
    return found is not None


def set_lead_score(
    database: Database,
    lead_id: int,
    fit: int,
    intent: int,
    overall: int,
    reasoning: str,
    now: str,
) -> bool:
    """Store the lead's scores (1–4), reasoning and ``scored_at``; False if there is no lead."""
    found = one(
        database,
        """UPDATE leads SET fit_score = ?, intent_score = ?, overall_score = ?,
                            score_reasoning = ?, scored_at = ?, updated_at = ?
           WHERE id = ? RETURNING id""",
        (fit, intent, overall, reasoning, now, now, lead_id),
    )
    return found is not None


def recent_transcript(database: Database, lead_id: int, limit: int = 20) -> list[dict]:
    """The lead's last ``limit`` messages, oldest first (for prompts)."""
    found = rows(
        database,
        """SELECT id, channel, direction, subject, body, sent_at FROM messages
           WHERE lead_id = ? ORDER BY sent_at DESC, id DESC LIMIT ?""",
        (lead_id, limit),
    )
    found.reverse()
    return found


# -- ai_drafts -------------------------------------------------------------------------------


def get_draft(database: Database, trigger_message_id: int, channel: str) -> dict | None:
    return one(
        database,
        "SELECT * FROM ai_drafts WHERE trigger_message_id = ? AND channel = ?",
        (trigger_message_id, channel),
    )


def insert_draft(
    database: Database,
    client_id: int,
    lead_id: int,
    trigger_message_id: int,
    channel: str,
    body: str,
    now: str,
) -> tuple[int, bool]:
    """Insert the draft for (trigger message, channel) unless one exists.

    Returns ``(draft_id, created)``; ``created`` is False when a draft was already there
    (that draft is kept unchanged).
    """
    found = one(
        database,
        """INSERT INTO ai_drafts (client_id, lead_id, trigger_message_id, channel, body, status,
                                 created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)
           ON CONFLICT (trigger_message_id, channel) DO NOTHING RETURNING id""",
        (client_id, lead_id, trigger_message_id, channel, body, now, now),
    )
    if found is not None:
        return found["id"], True
    existing = get_draft(database, trigger_message_id, channel)
    assert existing is not None
    return existing["id"], False


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
_SUMMED = (
    "calls",
    "errors",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "unpriced_calls",
)


def nearest_rank(histogram: dict[int, int], percent: float) -> int | None:
    """The nearest-rank percentile of a ``{value: count}`` histogram.

    Sorted ascending, the values ``v[1..n]`` give ``P = v[ceil(percent / 100 * n)]``
    (always a value that occurred); None when there are no values.
    """
    n = sum(histogram.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(percent / 100 * n))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


def _empty_group(name: str) -> dict[str, Any]:
    group: dict[str, Any] = {"group": name}
    group.update(dict.fromkeys(_SUMMED, 0))
    group["cost_usd"] = 0.0
    return group


def normalize_since(since: str | None) -> str | None:
    """An ISO-8601 time (any form ``fromisoformat`` reads; no zone = UTC) as stored, e.g.
    ``2026-01-18`` → ``2026-01-18T00:00:00.000Z``; None or blank → None; ValueError if bad."""
    if since is None or not since.strip():
        return None
    try:
        return iso(parse_iso(since.strip()))
    except ValueError:
        raise ValueError(f"since must be an ISO-8601 time, got {since!r}") from None


def report(database: Database, by: str = "source", since: str | None = None) -> dict[str, Any]:
    """Calls, errors, tokens, cost and latency of ``ai_interactions``, per group and in total.

    ``by``: ``source`` (a NULL source is the group ``unattributed``), ``feature`` (the
    ``feature_id``) or ``model`` (the requested model). ``since``: an ISO-8601 time (see
    :func:`normalize_since`); rows created at or after it count, None = all.

    Each group (and ``total``) has ``calls``, ``errors`` (status ``error``), the sums
    ``input_tokens``, ``cached_input_tokens``, ``output_tokens``, ``reasoning_tokens``,
    ``total_tokens`` (NULL counts as 0), ``cost_usd`` (the sum over priced rows, rounded to
    1e-9), ``unpriced_calls`` (rows whose ``cost_usd`` is NULL: no price for the model, or
    no usage reported) and ``latency_p50_ms`` / ``latency_p95_ms``: nearest-rank percentiles
    over every call in the group with a latency (successes and errors alike): with the
    latencies sorted ascending ``v[1..n]``, ``Pp = v[ceil(p / 100 * n)]``; None when no call
    has a latency. Groups are ordered by cost, then calls, descending.
    """
    if by not in REPORT_DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(REPORT_DIMENSIONS)}, not {by!r}")
    column = REPORT_DIMENSIONS[by]
    since = normalize_since(since)
    params: dict[str, Any] = {}
    where = ""
    if since is not None:
        where = "WHERE created_at >= :since"
        params["since"] = since
    sql = _REPORT_SQL.format(column=column, name=by, where=where)
    groups: dict[str, dict[str, Any]] = {}
    histograms: dict[str, dict[int, int]] = defaultdict(dict)
    total = _empty_group("total")
    total_histogram: dict[int, int] = defaultdict(int)
    for row in database.execute(sql, params).fetchall():
        grp, latency, calls, *sums, cost, unpriced = row
        name = UNATTRIBUTED if grp is None else grp
        group = groups.get(name) or groups.setdefault(name, _empty_group(name))
        values = (calls, *sums, unpriced)
        for target in (group, total):
            for key, value in zip(_SUMMED, values, strict=True):
                target[key] += value or 0
            target["cost_usd"] += cost or 0.0
        if latency is not None:
            histograms[name][latency] = histograms[name].get(latency, 0) + calls
            total_histogram[latency] += calls
    for name, group in groups.items():
        _finish(group, histograms.get(name, {}))
    _finish(total, total_histogram)
    ordered = sorted(groups.values(), key=lambda g: (-g["cost_usd"], -g["calls"], g["group"]))
    return {"by": by, "since": since, "groups": ordered, "total": total}


def _finish(group: dict[str, Any], histogram: dict[int, int]) -> None:
    group["cost_usd"] = round(group["cost_usd"], 9)
    group["latency_p50_ms"] = nearest_rank(histogram, 50)
    group["latency_p95_ms"] = nearest_rank(histogram, 95)
