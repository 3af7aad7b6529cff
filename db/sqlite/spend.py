"""AI spend from the roll-ups of ``ai_interactions`` (migration ``m009_console``): the
console's spend page, its charts and CSV, and the overview's spend of today and yesterday.

Sums (calls, errors, tokens, cost of priced calls, unpriced calls) come from
``ai_usage_hourly`` and are exact for the hours in ``[since, until)``; p50/p95 latency from
``ai_latency_daily`` over the UTC days starting in ``[since, until)``, nearest-rank over
buckets 10 % wide (each call counted at its bucket's geometric middle: within 5 % of the
exact percentile; exact below 10 ms). The console asks for whole days, where both agree.
Reads only: any connection.
"""

from __future__ import annotations

import math
from typing import Any

from sqlite_utils import Database

from db._report import NO_CLIENT, UNATTRIBUTED, nearest_rank
from db.sqlite._connection import rows
from db.time import normalize_time
from db.vocab import SPEND_SUMS

# The console's dimensions → (the roll-up column, the ``ai_latency_daily.dimension``).
SPEND_DIMENSIONS = {
    "source": "source",
    "feature": "feature_id",
    "model": "model",
    "client": "client_id",
}


def _window(since: str, until: str) -> dict[str, str]:
    since_iso = normalize_time(since, "since")
    until_iso = normalize_time(until, "until")
    if since_iso is None or until_iso is None:
        raise ValueError("since and until are required")
    if until_iso <= since_iso:
        raise ValueError("until must be after since")
    return {"since": since_iso, "until": until_iso}


def _column(by: str) -> str:
    if by not in SPEND_DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(SPEND_DIMENSIONS)}, not {by!r}")
    return SPEND_DIMENSIONS[by]


def _labels(database: Database, by: str, keys: set[Any]) -> dict[Any, str]:
    """What each group key is called: ``unattributed`` for a call without a source, the
    client's name (``#id`` when it is gone) for clients."""
    if by == "client":
        names = {r["id"]: r["name"] for r in rows(database, "SELECT id, name FROM clients")}
        return {
            k: NO_CLIENT if int(k) == 0 else names.get(int(k), f"client #{k} (deleted)")
            for k in keys
        }
    return {k: (UNATTRIBUTED if k == "" else str(k)) for k in keys}


def _middle(lower: int, upper: int | None) -> int:
    if upper is None or upper - lower <= 1:
        return lower
    return round(math.sqrt(lower * upper))


def ai_spend(database: Database, by: str, since: str, until: str) -> dict[str, Any]:
    """Groups (ordered by cost, then calls, descending) and the total, each with the sums
    of :data:`db.vocab.SPEND_SUMS` and ``latency_p50_ms``/``latency_p95_ms``."""
    column, window = _column(by), _window(since, until)
    sums = ", ".join(f"SUM({c}) AS {c}" for c in SPEND_SUMS)
    found = rows(
        database,
        f"""SELECT {column} AS grp, {sums} FROM ai_usage_hourly
             WHERE hour >= :since AND hour < :until GROUP BY {column}""",
        window,
    )
    histograms: dict[str, dict[int, int]] = {}
    for row in rows(
        database,
        """SELECT grp, ai_latency_daily.lower_ms AS lower_ms, upper_ms, SUM(calls) AS calls
             FROM ai_latency_daily JOIN ai_latency_buckets USING (lower_ms)
            WHERE dimension = :dimension AND day >= substr(:since, 1, 10)
              AND day < substr(:until, 1, 10)
            GROUP BY grp, ai_latency_daily.lower_ms""",
        {**window, "dimension": by},
    ):
        histogram = histograms.setdefault(str(row["grp"]), {})
        middle = _middle(row["lower_ms"], row["upper_ms"])
        histogram[middle] = histogram.get(middle, 0) + row["calls"]
    labels = _labels(database, by, {r["grp"] for r in found})
    total: dict[str, Any] = {"group": "total", "label": "total", **dict.fromkeys(SPEND_SUMS, 0)}
    all_latencies: dict[int, int] = {}
    groups = []
    for row in found:
        key = row.pop("grp")
        histogram = histograms.get(str(key), {})
        for value, count in histogram.items():
            all_latencies[value] = all_latencies.get(value, 0) + count
        for name in SPEND_SUMS:
            total[name] += row[name]
        groups.append({"group": key, "label": labels[key], **row, **_percentiles(histogram)})
    total.update(_percentiles(all_latencies))
    for group in (*groups, total):
        group["cost_usd"] = round(group["cost_usd"], 9)
    groups.sort(key=lambda g: (-g["cost_usd"], -g["calls"], g["label"]))
    return {"by": by, **window, "groups": groups, "total": total}


def _percentiles(histogram: dict[int, int]) -> dict[str, int | None]:
    return {
        "latency_p50_ms": nearest_rank(histogram, 50),
        "latency_p95_ms": nearest_rank(histogram, 95),
    }


def ai_spend_series(
    database: Database, by: str, since: str, until: str, bucket: str
) -> list[dict[str, Any]]:
    """One row per time bucket (``hour`` or ``day``, UTC; ``at`` is its start) and group
    that had calls: ``at, group, label, calls, errors, total_tokens, cost_usd,
    unpriced_calls``, oldest first."""
    column, window = _column(by), _window(since, until)
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be hour or day, not {bucket!r}")
    width, tail = (13, ":00:00.000Z") if bucket == "hour" else (10, "T00:00:00.000Z")
    found = rows(
        database,
        f"""SELECT substr(hour, 1, {width}) || '{tail}' AS at, {column} AS grp,
                   SUM(calls) AS calls, SUM(errors) AS errors,
                   SUM(total_tokens) AS total_tokens, ROUND(SUM(cost_usd), 9) AS cost_usd,
                   SUM(unpriced_calls) AS unpriced_calls
              FROM ai_usage_hourly WHERE hour >= :since AND hour < :until
             GROUP BY 1, 2 ORDER BY 1, 2""",
        window,
    )
    labels = _labels(database, by, {r["grp"] for r in found})
    return [
        {"at": r.pop("at"), "group": (key := r.pop("grp")), "label": labels[key], **r}
        for r in found
    ]
