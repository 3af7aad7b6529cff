"""Telemetry context: which unit of work an AI call belongs to.

The source (``background_job:<TYPE>``, a route path, ...) and the running job travel in
context variables, so they survive ``await``, are inherited by asyncio tasks created inside,
and reach threads started with ``asyncio.to_thread`` or ``contextvars.copy_context().run``.
A plain ``loop.run_in_executor`` does not copy them: use :func:`run_in_thread`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
MAX_SOURCE_LENGTH = 500

_source: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "leadhook_ai_source", default=None
)
_job: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "leadhook_job", default=None
)


def normalize_source(source: str | None) -> str | None:
    """Trimmed, at most 500 characters; empty means none."""
    if source is None:
        return None
    source = source.strip()[:MAX_SOURCE_LENGTH].strip()
    return source or None


def current_source() -> str | None:
    return _source.get()


class _SetVar:
    """A context manager usable with ``with`` and ``async with`` that sets a variable."""

    def __init__(self, var: contextvars.ContextVar, value: Any) -> None:
        self._var = var
        self._value = value
        self._tokens: list[contextvars.Token] = []

    def __enter__(self) -> Any:
        self._tokens.append(self._var.set(self._value))
        return self._value

    def __exit__(self, *exc: object) -> None:
        self._var.reset(self._tokens.pop())

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()


def ai_telemetry_source(source: str | None) -> _SetVar:
    """Attribute the AI calls made inside to ``source`` (the innermost source wins)."""
    return _SetVar(_source, normalize_source(source))


def ai_telemetry_source_if_unset(source: str | None) -> _SetVar:
    """Like :func:`ai_telemetry_source`, but an outer source, if any, is kept."""
    outer = _source.get()
    return _SetVar(_source, outer if outer is not None else normalize_source(source))


@dataclass(frozen=True)
class JobContext:
    """The background job an AI call is made for (copied onto its ``ai_interactions`` row)."""

    job_id: int
    job_type: str
    attempt: int
    client_id: int | None = None
    lead_id: int | None = None
    message_id: int | None = None


def job_context(job: JobContext | None) -> _SetVar:
    return _SetVar(_job, job)


def current_job() -> JobContext | None:
    return _job.get()


async def run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in the default thread pool with this context (source and job) intact."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, contextvars.copy_context().run, fn, *args)
