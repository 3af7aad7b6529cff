"""``/console`` (the overview), ``/console/about``, and logging in and out.

The overview: readiness (the database takes a write, the runner runs), deliveries per hour
by route and outcome over the last 24 hours, jobs by status, the oldest due job's age, jobs
that failed in the last 24 hours, messages, and AI spend of today against yesterday (UTC
days) by job type. Its panel refreshes itself every 10 seconds while
the tab is visible (``/console/overview/panel``, an htmx swap).
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

import db
from console._pages import SECURITY_HEADERS, now_of, page
from console._session import (
    COOKIE,
    SESSION_SECONDS,
    cookie_kwargs,
    current_session,
    new_session_cookie,
    revoke,
    revoked_sessions,
    safe_next,
    token_matches,
)
from db.vocab import DELIVERY_OUTCOMES


def day_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


async def readiness(request: Request) -> list[tuple[str, bool, str]]:
    state = request.app.state
    checks = []
    try:
        await state.store.ready()
        checks.append(("database", True, "takes writes"))
    except db.DatabaseUnavailable as exc:
        checks.append(("database", False, f"not writable: {exc}"))
    scheduler = state.get("scheduler")
    if not state.settings.scheduler_enabled:
        checks.append(("job runner", True, "disabled here: the cron route runs jobs"))
    elif scheduler is not None and scheduler.running:
        checks.append(("job runner", True, "running"))
    else:
        checks.append(("job runner", False, "not running"))
    return checks


async def spend_today(store: db.Store, now: datetime) -> dict[str, Any]:
    """AI spend by source: today (UTC, so far) and yesterday, and the totals."""
    today = day_start(now)
    series = await store.ai_spend_series(
        "source",
        since=db.iso(today - timedelta(days=1)),
        until=db.iso(today + timedelta(days=1)),
        bucket="day",
    )
    rows: dict[str, dict[str, Any]] = {}
    totals = {"today": 0.0, "yesterday": 0.0, "today_calls": 0, "today_unpriced": 0}
    for row in series:
        when = "today" if row["at"] == db.iso(today) else "yesterday"
        entry = rows.setdefault(
            row["label"],
            {"label": row["label"], "today": 0.0, "yesterday": 0.0, "calls": 0, "unpriced": 0},
        )
        entry[when] += row["cost_usd"]
        totals[when] += row["cost_usd"]
        if when == "today":
            entry["calls"] += row["calls"]
            entry["unpriced"] += row["unpriced_calls"]
            totals["today_calls"] += row["calls"]
            totals["today_unpriced"] += row["unpriced_calls"]
    ordered = sorted(rows.values(), key=lambda r: (-r["today"], -r["yesterday"], r["label"]))
    return {"rows": ordered, **totals, "day": today.strftime("%Y-%m-%d")}


MAX_DELIVERY_SERIES = 8


async def deliveries_24h(store: db.Store, now: datetime) -> dict[str, Any]:
    """Deliveries per hour by route and outcome over the last 24 hours (this hour and the 23
    before it): uPlot's columns (``x``: hour starts, Unix seconds; one series per route and
    outcome, the busiest :data:`MAX_DELIVERY_SERIES`, the rest as ``other``) and a table of
    the counts by route (rows) and outcome (columns)."""
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    hours = [this_hour - timedelta(hours=23 - n) for n in range(24)]
    found = await store.deliveries_per_hour(since=db.iso(hours[0]))
    index = {db.iso(hour): i for i, hour in enumerate(hours)}
    totals: dict[str, int] = {}
    table: dict[str, dict[str, int]] = {}
    for row in found:
        name = f"{row['route'].removeprefix('/api/webhooks/')} {row['outcome']}"
        totals[name] = totals.get(name, 0) + row["deliveries"]
        by_outcome = table.setdefault(row["route"], dict.fromkeys(DELIVERY_OUTCOMES, 0))
        by_outcome[row["outcome"]] += row["deliveries"]
    top = sorted(totals, key=lambda n: (-totals[n], n))[:MAX_DELIVERY_SERIES]
    names = top + (["other"] if len(totals) > len(top) else [])
    counts = {name: [0] * len(hours) for name in names}
    for row in found:
        name = f"{row['route'].removeprefix('/api/webhooks/')} {row['outcome']}"
        i = index.get(row["hour"])
        if i is not None:
            counts[name if name in top else "other"][i] += row["deliveries"]
    chart = {
        "bucket": "hour",
        "x": [int(hour.timestamp()) for hour in hours],
        "names": names,
        "count": [counts[name] for name in names],
    }
    rows = [{"route": route, **by_outcome} for route, by_outcome in sorted(table.items())]
    return {
        "chart": chart,
        "rows": rows,
        "total": sum(totals.values()),
        "since": db.iso(hours[0]),
        "outcomes": DELIVERY_OUTCOMES,
    }


async def overview_context(request: Request) -> dict[str, Any]:
    store = request.app.state.store
    now = now_of(request)
    figures = await store.console_overview(now=db.iso(now))
    oldest = figures["oldest_due"]
    if oldest is not None:
        oldest = {**oldest, "age": (now - db.parse_iso(oldest["run_at"])).total_seconds()}
    return {
        "checks": await readiness(request),
        "figures": figures,
        "oldest": oldest,
        "spend": await spend_today(store, now),
        "deliveries": await deliveries_24h(store, now),
    }


def _versions() -> list[tuple[str, str]]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        ("leadhook", version("leadhook")),
        ("Python", platform.python_version()),
        ("Litestar", version("litestar")),
        ("Jinja2", version("jinja2")),
        ("APScheduler", version("apscheduler")),
        ("openai", version("openai")),
    ]


class OverviewController(Controller):
    path = "/"
    include_in_schema = False

    @get("/", name="console-overview")
    async def overview(self, request: Request) -> Template:
        return page(request, "overview.html", active="overview", **await overview_context(request))

    @get("/overview/panel")
    async def overview_panel(self, request: Request) -> Template:
        return page(request, "_overview_panel.html", **await overview_context(request))

    @get("/about")
    async def about(self, request: Request) -> Template:
        state = request.app.state
        settings = state.settings
        database = await state.store.database_about()
        retention = [
            ("finished jobs kept", _days(settings.job_retention_days),
             "LEADHOOK_JOB_RETENTION_DAYS"),
            ("AI calls kept", _days(settings.ai_retention_days), "LEADHOOK_AI_RETENTION_DAYS"),
            ("AI spend roll-ups kept", "forever (small: one row per hour and group)", ""),
            ("delivery ledger rows kept", _days(settings.ledger_retention_days),
             "LEADHOOK_LEDGER_RETENTION_DAYS"),
            ("delivery bodies kept", "never" if settings.ledger_body_days == 0 else
             f"{settings.ledger_body_days} days", "LEADHOOK_LEDGER_BODY_DAYS"),
            ("ledger rows a minute without a valid token",
             str(settings.ledger_rejected_per_minute), "LEADHOOK_LEDGER_REJECTED_PER_MINUTE"),
            ("GoHighLevel dedupe window", f"{settings.ghl_dedupe_window_seconds} s",
             "LEADHOOK_GHL_DEDUPE_WINDOW_SECONDS"),
            ("job lease", f"{settings.job_lease_seconds:g} s", "LEADHOOK_JOB_LEASE_SECONDS"),
        ]  # fmt: skip
        ai_client = state.get("ai")
        runtime = [
            ("AI provider", ai_client.provider.name if ai_client else settings.ai_provider),
            ("AI model", ai_client.model if ai_client else settings.ai_model),
            ("job runner", "on" if settings.scheduler_enabled else "off (cron route only)"),
            ("jobs at once", str(settings.job_concurrency)),
            ("cron route", "enabled" if settings.cron_secret else "disabled (no secret set)"),
        ]
        return page(
            request,
            "about.html",
            active="about",
            versions=_versions(),
            database=database,
            retention=retention,
            runtime=runtime,
        )


def _days(value: int) -> str:
    return "forever" if value == 0 else f"{value} days"


class LoginController(Controller):
    path = "/"
    include_in_schema = False
    opt = {"public": True}  # noqa: RUF012 - Litestar's layered config

    @get("/login")
    async def login_form(self, request: Request) -> Template:
        target = safe_next(request.query_params.get("next"))
        return page(request, "login.html", next=target, error="")

    @post("/login", status_code=303)
    async def login(self, request: Request) -> Response:
        form = await request.form()
        target = safe_next(form.get("next"))
        admin_token = request.app.state.settings.admin_token
        if not token_matches(str(form.get("token", "")), admin_token):
            return page(
                request,
                "login.html",
                status_code=401,
                next=target,
                error="That is not the admin token (LEADHOOK_ADMIN_TOKEN).",
            )
        value, _ = new_session_cookie(admin_token)
        response = Redirect(target, status_code=303, headers=dict(SECURITY_HEADERS))
        response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, **cookie_kwargs(request))
        return response


class LogoutController(Controller):
    path = "/"
    include_in_schema = False

    @post("/logout", status_code=303)
    async def logout(self, request: Request) -> Response:
        session = current_session(request)
        if session is not None:
            revoke(revoked_sessions(request.app.state), session)
        response = Redirect("/console/login", status_code=303, headers=dict(SECURITY_HEADERS))
        response.delete_cookie(COOKIE, path="/console")
        return response
