"""Settings read from the environment (see DESIGN.md "Environment")."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _str(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    db_path: str = "data/leadhook.db"
    cron_secret: str | None = None
    admin_token: str | None = None
    ai_provider: str = "offline"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    ai_prices_json: str | None = None
    ai_retention_days: int = 30
    # The model the openai provider requests, and its per-call timeout.
    ai_model: str = "gpt-4o-mini"
    ai_timeout_seconds: float = 30.0
    job_concurrency: int = 4
    ghl_dedupe_window_seconds: int = 7200
    max_body_bytes: int = 262_144
    # How long a webhook waits for its commit before answering 429.
    write_timeout_seconds: float = 8.0
    # How long SQLite waits for another process's write lock.
    busy_timeout_ms: int = 5000
    # Most writes committed together; 1 = a commit per request (for comparison only).
    writer_max_batch: int = 512
    scheduler_enabled: bool = True
    log_level: str = "INFO"
    # Background jobs: a RUNNING job whose lease (renewed every lease/3 by its live runner)
    # is older than this is taken back; shutdown waits this long for running jobs; the
    # runner polls at least this often (webhooks wake it at once); finished jobs are kept
    # this many days (0 = forever).
    job_lease_seconds: float = 60.0
    job_grace_seconds: float = 10.0
    job_poll_seconds: float = 1.0
    job_retention_days: int = 30
    # HTTP connections (handlers/_server.py): at most this many open (lowered to what the
    # file-descriptor limit allows); a request's headers and body must arrive within the read
    # timeout of its first byte; an idle kept-alive connection is closed after the keep-alive.
    max_connections: int = 1000
    http_read_timeout_seconds: float = 10.0
    http_keepalive_seconds: float = 5.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        api_key = _str("OPENAI_API_KEY")
        values: dict[str, object] = {
            "db_path": _str("LEADHOOK_DB") or "data/leadhook.db",
            "cron_secret": _str("LEADHOOK_CRON_SECRET"),
            "admin_token": _str("LEADHOOK_ADMIN_TOKEN"),
            "ai_provider": _str("LEADHOOK_AI_PROVIDER") or ("openai" if api_key else "offline"),
            "openai_api_key": api_key,
            "openai_base_url": _str("OPENAI_BASE_URL"),
            "ai_prices_json": _str("LEADHOOK_AI_PRICES_JSON"),
            "ai_retention_days": _int("LEADHOOK_AI_RETENTION_DAYS", 30),
            "ai_model": _str("LEADHOOK_AI_MODEL") or "gpt-4o-mini",
            "ai_timeout_seconds": float(max(1, _int("LEADHOOK_AI_TIMEOUT_SECONDS", 30))),
            "job_concurrency": max(1, _int("LEADHOOK_JOB_CONCURRENCY", 4)),
            "ghl_dedupe_window_seconds": max(0, _int("LEADHOOK_GHL_DEDUPE_WINDOW_SECONDS", 7200)),
            "max_body_bytes": max(1, _int("LEADHOOK_MAX_BODY_BYTES", 262_144)),
            "writer_max_batch": max(1, _int("LEADHOOK_WRITER_MAX_BATCH", 512)),
            "job_lease_seconds": float(max(5, _int("LEADHOOK_JOB_LEASE_SECONDS", 60))),
            "job_grace_seconds": float(max(0, _int("LEADHOOK_JOB_GRACE_SECONDS", 10))),
            "job_retention_days": max(0, _int("LEADHOOK_JOB_RETENTION_DAYS", 30)),
            "scheduler_enabled": _int("LEADHOOK_SCHEDULER_ENABLED", 1) != 0,
            "log_level": (_str("LEADHOOK_LOG_LEVEL") or "INFO").upper(),
            "max_connections": max(1, _int("LEADHOOK_MAX_CONNECTIONS", 1000)),
            "http_read_timeout_seconds": float(
                max(1, _int("LEADHOOK_HTTP_READ_TIMEOUT_SECONDS", 10))
            ),
            "http_keepalive_seconds": float(max(1, _int("LEADHOOK_HTTP_KEEPALIVE_SECONDS", 5))),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
