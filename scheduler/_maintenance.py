"""Daily maintenance: a registry of tasks (pruning what has a retention period).

Register a task with :func:`register_maintenance`; the scheduler runs every task once a day
(the first time a minute after start-up), each on its own, a failure logged and not stopping
the others. Example, pruning AI telemetry::

    @register_maintenance(name="prune_ai_interactions")
    async def prune_ai(ctx: MaintenanceContext) -> int:
        before = db.iso(ctx.now - timedelta(days=ctx.settings.ai_retention_days))
        return await ctx.store.prune_interactions(before=before, batch=5000)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import db
from config import Settings

log = logging.getLogger("leadhook.maintenance")


@dataclass(frozen=True)
class MaintenanceContext:
    store: db.Store
    settings: Settings
    now: datetime


MaintenanceTask = Callable[[MaintenanceContext], Awaitable[Any] | Any]
MAINTENANCE_TASKS: dict[str, MaintenanceTask] = {}


def register_maintenance(fn: MaintenanceTask | None = None, *, name: str | None = None) -> Any:
    """Add a daily maintenance task (usable as ``@register_maintenance`` or with ``name=``).

    A task is ``fn(ctx: MaintenanceContext)``, sync or async; registering a name again
    replaces the task.
    """

    def register(task: MaintenanceTask) -> MaintenanceTask:
        MAINTENANCE_TASKS[name or task.__name__] = task
        return task

    return register(fn) if fn is not None else register


async def run_maintenance(
    store: db.Store, settings: Settings, now: datetime | None = None
) -> dict[str, Any]:
    """Run every registered task once; returns ``{name: result or "error: ..."}``."""
    ctx = MaintenanceContext(store=store, settings=settings, now=now or db.utcnow())
    results: dict[str, Any] = {}
    for name, task in list(MAINTENANCE_TASKS.items()):
        try:
            value = task(ctx)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            log.exception("maintenance task %s failed", name)
            results[name] = f"error: {exc}"
        else:
            results[name] = value
    log.info("maintenance done: %s", results)
    return results


PRUNE_BATCH = 5000


async def _prune(ctx: MaintenanceContext, days: int, prune: Callable[..., Awaitable[int]]) -> int:
    """Run ``prune(before=..., batch=...)`` (a store operation) in short transactions until it
    deletes less than a batch, so webhooks never wait long for the write lock. ``days <= 0``:
    keep everything."""
    if days <= 0:
        return 0
    return await _prune_before(ctx, db.iso(ctx.now - timedelta(days=days)), prune)


async def _prune_before(
    ctx: MaintenanceContext, before: str, prune: Callable[..., Awaitable[int]]
) -> int:
    total = 0
    while True:
        deleted = await prune(before=before, batch=PRUNE_BATCH)
        total += deleted
        if deleted < PRUNE_BATCH:
            return total


@register_maintenance(name="prune_background_jobs")
async def prune_background_jobs(ctx: MaintenanceContext) -> int:
    """Delete SUCCEEDED/FAILED jobs finished more than ``job_retention_days`` ago."""
    return await _prune(ctx, ctx.settings.job_retention_days, ctx.store.prune_jobs)


@register_maintenance(name="prune_ai_interactions")
async def prune_ai_interactions(ctx: MaintenanceContext) -> int:
    """Delete AI telemetry rows older than ``ai_retention_days``."""
    return await _prune(ctx, ctx.settings.ai_retention_days, ctx.store.prune_interactions)


@register_maintenance(name="prune_deliveries")
async def prune_deliveries(ctx: MaintenanceContext) -> int:
    """Delete ledger rows older than ``ledger_retention_days`` (0: keep them)."""
    return await _prune(ctx, ctx.settings.ledger_retention_days, ctx.store.prune_deliveries)


@register_maintenance(name="prune_delivery_bodies")
async def prune_delivery_bodies(ctx: MaintenanceContext) -> int:
    """Clear the body of ledger rows older than ``ledger_body_days`` (0: bodies are not kept,
    so every body still stored goes: one kept before the setting changed). After
    ``prune_deliveries``, so rows about to go are not rewritten first."""
    days = ctx.settings.ledger_body_days
    if days == 0:
        return await _prune_before(ctx, db.iso(ctx.now), ctx.store.prune_delivery_bodies)
    return await _prune(ctx, days, ctx.store.prune_delivery_bodies)
