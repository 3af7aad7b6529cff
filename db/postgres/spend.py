"""AI spend from the roll-ups on Postgres (as :mod:`db.sqlite.spend`, whose docstring has the
figures' definitions): ``hour`` is a ``timestamptz``, ``day`` a UTC ``date``."""

from __future__ import annotations

import math
from typing import Any

import psycopg

from db._report import NO_CLIENT, UNATTRIBUTED, nearest_rank
from db.postgres._sql import rows
from db.time import normalize_time
from db.vocab import SPEND_SUMS

SPEND_DIMENSIONS = {
    "source": "source",
    "feature": "feature_id",
    "model": "model",
    "client": "client_id",
}
_DAY = "(%({name})s::timestamptz AT TIME ZONE 'UTC')::date"


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


def _labels(conn: psycopg.Connection, by: str, keys: set[Any]) -> dict[Any, str]:
    if by == "client":
        names = {r["id"]: r["name"] for r in rows(conn, "SELECT id, name FROM clients")}
        return {
            k: NO_CLIENT if int(k) == 0 else names.get(int(k), f"client #{k} (deleted)")
            for k in keys
        }
    return {k: (UNATTRIBUTED if k == "" else str(k)) for k in keys}


def _middle(lower: int, upper: int | None) -> int:
    if upper is None or upper - lower <= 1:
        return lower
    return round(math.sqrt(lower * upper))


def ai_spend(conn: psycopg.Connection, by: str, since: str, until: str) -> dict[str, Any]:
    column, window = _column(by), _window(since, until)
    sums = ", ".join(f"SUM({c}) AS {c}" for c in SPEND_SUMS)
    found = rows(
        conn,
        f"""SELECT {column} AS grp, {sums} FROM ai_usage_hourly
             WHERE hour >= %(since)s AND hour < %(until)s GROUP BY {column}""",
        window,
    )
    histograms: dict[str, dict[int, int]] = {}
    for row in rows(
        conn,
        f"""SELECT grp, d.lower_ms AS lower_ms, upper_ms, SUM(calls) AS calls
              FROM ai_latency_daily AS d JOIN ai_latency_buckets USING (lower_ms)
             WHERE dimension = %(dimension)s AND day >= {_DAY.format(name="since")}
               AND day < {_DAY.format(name="until")}
             GROUP BY grp, d.lower_ms, upper_ms""",
        {**window, "dimension": by},
    ):
        histogram = histograms.setdefault(str(row["grp"]), {})
        middle = _middle(row["lower_ms"], row["upper_ms"])
        histogram[middle] = histogram.get(middle, 0) + row["calls"]
    labels = _labels(conn, by, {r["grp"] for r in found})
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
        group["cost_usd"] = round(float(group["cost_usd"]), 9)
    groups.sort(key=lambda g: (-g["cost_usd"], -g["calls"], g["label"]))
    return {"by": by, **window, "groups": groups, "total": total}


def _percentiles(histogram: dict[int, int]) -> dict[str, int | None]:
    return {
        "latency_p50_ms": nearest_rank(histogram, 50),
        "latency_p95_ms": nearest_rank(histogram, 95),
    }


def ai_spend_series(
    conn: psycopg.Connection, by: str, since: str, until: str, bucket: str
) -> list[dict[str, Any]]:
    column, window = _column(by), _window(since, until)
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be hour or day, not {bucket!r}")
    found = rows(
        conn,
        f"""SELECT date_trunc('{bucket}', hour, 'UTC') AS at, {column} AS grp,
                   SUM(calls) AS calls, SUM(errors) AS errors,
                   SUM(total_tokens) AS total_tokens,
                   round(SUM(cost_usd)::numeric, 9)::double precision AS cost_usd,
                   SUM(unpriced_calls) AS unpriced_calls
              FROM ai_usage_hourly WHERE hour >= %(since)s AND hour < %(until)s
             GROUP BY 1, 2 ORDER BY 1, 2""",
        window,
    )
    labels = _labels(conn, by, {r["grp"] for r in found})
    return [
        {"at": r.pop("at"), "group": (key := r.pop("grp")), "label": labels[key], **r}
        for r in found
    ]
