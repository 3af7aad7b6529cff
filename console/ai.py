"""``/console/ai``: AI spend by job type (telemetry source), feature, model or client over a
window of whole UTC days, with charts over time (hour or day buckets) and a CSV export.

Query parameters: ``window`` = ``today``, ``7d`` (default), ``30d`` or ``custom`` with
``since`` and ``until`` (``YYYY-MM-DD``, both days included, at most 366 days); ``by`` =
``source`` (default), ``feature``, ``model``, ``client``; ``bucket`` = ``hour`` (windows of
up to 31 days; the default for ``today``) or ``day``. ``/console/ai.csv`` takes the same
parameters and ``kind`` = ``groups`` (the table, default) or ``series`` (one row per bucket
and group). The figures come from the roll-ups (``Store.ai_spend``): sums exact, p50/p95
within 5 %.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import ClientException
from litestar.response import Template

import db
from console._pages import SECURITY_HEADERS, now_of, page
from db.vocab import SPEND_DIMENSIONS, SPEND_SUMS

WINDOWS = {"today": 1, "7d": 7, "30d": 30}
MAX_DAYS, MAX_HOURLY_DAYS, MAX_SERIES = 366, 31, 8
BY_LABELS = {"source": "job type (source)", "feature": "feature", "model": "model",
             "client": "client"}  # fmt: skip
CSV_COLUMNS = (*SPEND_SUMS, "latency_p50_ms", "latency_p95_ms")


def _day(value: str | None, name: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise ClientException(f"{name} must be a day like 2026-01-18, got {value!r}") from None


def window_of(request: Request) -> dict[str, Any]:
    """The chosen window: ``since``/``until`` days (both included), ``by``, ``bucket``."""
    params = request.query_params
    today = now_of(request).date()
    window = params.get("window") or "7d"
    if window in WINDOWS:
        first, last = today - timedelta(days=WINDOWS[window] - 1), today
    elif window == "custom":
        first, last = _day(params.get("since"), "since"), _day(params.get("until"), "until")
    else:
        raise ClientException(f"window must be one of {', '.join(WINDOWS)} or custom")
    if last < first:
        raise ClientException("until must not be before since")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise ClientException(f"a window has at most {MAX_DAYS} days")
    by = params.get("by") or "source"
    if by not in SPEND_DIMENSIONS:
        raise ClientException(f"by must be one of {', '.join(SPEND_DIMENSIONS)}")
    bucket = params.get("bucket") or ("hour" if days <= 2 else "day")
    if bucket not in ("hour", "day"):
        raise ClientException("bucket must be hour or day")
    if bucket == "hour" and days > MAX_HOURLY_DAYS:
        bucket = "day"
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return {
        "window": window,
        "since": first.isoformat(),
        "until": last.isoformat(),
        "days": days,
        "by": by,
        "bucket": bucket,
        "since_iso": db.iso(start),
        "until_iso": db.iso(start + timedelta(days=days)),
    }


def chart_data(series: list[dict], chosen: dict[str, Any], groups: list[dict]) -> dict[str, Any]:
    """uPlot's columns: ``x`` (bucket starts, Unix seconds, every bucket of the window) and
    per group (the costliest :data:`MAX_SERIES`, the rest as ``other``) its cost and calls."""
    step = timedelta(hours=1) if chosen["bucket"] == "hour" else timedelta(days=1)
    start = db.parse_iso(chosen["since_iso"])
    end = db.parse_iso(chosen["until_iso"])
    starts = []
    moment = start
    while moment < end:
        starts.append(moment)
        moment += step
    index = {db.iso(m): i for i, m in enumerate(starts)}
    top = [g["label"] for g in groups[:MAX_SERIES]]
    names = top + (["other"] if len(groups) > MAX_SERIES else [])
    cost = {name: [0.0] * len(starts) for name in names}
    calls = {name: [0] * len(starts) for name in names}
    for row in series:
        name = row["label"] if row["label"] in top else "other"
        i = index.get(row["at"])
        if i is None or name not in cost:
            continue
        cost[name][i] = round(cost[name][i] + row["cost_usd"], 9)
        calls[name][i] += row["calls"]
    return {
        "bucket": chosen["bucket"],
        "x": [int(m.timestamp()) for m in starts],
        "names": names,
        "cost": [cost[n] for n in names],
        "calls": [calls[n] for n in names],
    }


class AiSpendController(Controller):
    path = "/"
    include_in_schema = False

    @get("/ai")
    async def ai(self, request: Request) -> Template:
        chosen = window_of(request)
        store = request.app.state.store
        report = await store.ai_spend(
            chosen["by"], since=chosen["since_iso"], until=chosen["until_iso"]
        )
        series = await store.ai_spend_series(
            chosen["by"],
            since=chosen["since_iso"],
            until=chosen["until_iso"],
            bucket=chosen["bucket"],
        )
        return page(
            request,
            "ai.html",
            active="ai",
            chosen=chosen,
            report=report,
            chart=chart_data(series, chosen, report["groups"]),
            by_labels=BY_LABELS,
            windows=[*WINDOWS, "custom"],
        )

    @get("/ai.csv")
    async def ai_csv(self, request: Request) -> Response:
        chosen = window_of(request)
        kind = request.query_params.get("kind") or "groups"
        store = request.app.state.store
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        window = {"since": chosen["since_iso"], "until": chosen["until_iso"]}
        if kind == "groups":
            report = await store.ai_spend(chosen["by"], **window)
            writer.writerow([chosen["by"], *CSV_COLUMNS])
            for group in [*report["groups"], report["total"]]:
                writer.writerow([group["label"], *(_cell(group[c]) for c in CSV_COLUMNS)])
        elif kind == "series":
            series = await store.ai_spend_series(chosen["by"], **window, bucket=chosen["bucket"])
            columns = ("calls", "errors", "total_tokens", "cost_usd", "unpriced_calls")
            writer.writerow([f"{chosen['bucket']}_start_utc", chosen["by"], *columns])
            for row in series:
                writer.writerow([row["at"], row["label"], *(_cell(row[c]) for c in columns)])
        else:
            raise ClientException("kind must be groups or series")
        name = f"leadhook-ai-{kind}-by-{chosen['by']}-{chosen['since']}-{chosen['until']}.csv"
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.9f}".rstrip("0").rstrip(".") if value else "0"
    return value
