"""The start-up banner of ``leadhook serve``: one block saying what this server runs on.

The database (its path, workspaces, migrations applied at this start), the AI provider, its
base URL and model and whether the model is priced (``ai.PriceTable``: an unpriced model's
calls are stored with ``cost_usd`` NULL), the job runner, the optional routes, and a warning
per unknown ``LEADHOOK_*`` variable. No secret is ever printed.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import ai
import db
from config import Settings, unknown_variables

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _version() -> str:
    try:
        return version("leadhook")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "(not installed)"


def describe_ai(settings: Settings) -> str:
    """``openai at <base URL>, model gpt-4o-mini, priced (USD per 1M tokens: ...)``."""
    if settings.ai_provider == "offline":
        return "offline (deterministic local answers, cost 0; set OPENAI_API_KEY for a model)"
    base_url = settings.openai_base_url or f"{OPENAI_DEFAULT_BASE_URL} (the openai default)"
    price = ai.PriceTable.from_json(settings.ai_prices_json).lookup(settings.ai_model)
    if price is None:
        priced = "NOT priced: its calls get cost_usd NULL (add it to LEADHOOK_AI_PRICES_JSON)"
    else:
        priced = (
            f"priced (USD per 1M tokens: input {price.input:g}, cached input "
            f"{price.cached_input:g}, output {price.output:g})"
        )
    return f"{settings.ai_provider} at {base_url}, model {settings.ai_model}, {priced}"


def banner(store: db.Store, settings: Settings, host: str, port: int) -> str:
    workspaces = len(store.sync.list_clients())
    applied = store.applied_migrations
    migrations = f"applied now: {', '.join(applied)}" if applied else "schema up to date"
    jobs = (
        f"on, up to {settings.job_concurrency} jobs at once"
        if settings.scheduler_enabled
        else "off (LEADHOOK_SCHEDULER_ENABLED): jobs wait for the cron route"
    )
    cron = "on" if settings.cron_secret else "off (set LEADHOOK_CRON_SECRET)"
    admin = "on" if settings.admin_token else "off (set LEADHOOK_ADMIN_TOKEN)"
    lines = [
        f"leadhook {_version()} serving http://{host}:{port} (pid {os.getpid()})",
        f"  database   {_where(settings.db_path)}: {workspaces} workspace"
        f"{'' if workspaces == 1 else 's'}, {migrations}",
        f"  AI         {describe_ai(settings)}",
        f"  jobs       {jobs}",
        f"  routes     cron {cron}; telemetry and admin {admin}",
    ]
    for name, close in unknown_variables().items():
        hint = f" (did you mean {close}?)" if close else ""
        lines.append(f"  warning    {name} is not a leadhook variable and is ignored{hint}")
    return "\n".join(lines)


def _where(target: str) -> str:
    """The SQLite file's full path, or the Postgres URL without its password."""
    return db.redact(target) if db.is_database_url(target) else str(Path(target).resolve())
