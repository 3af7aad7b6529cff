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
    job_concurrency: int = 4
    ghl_dedupe_window_seconds: int = 7200
    max_body_bytes: int = 262_144
    # How long a webhook waits for its commit before answering 429.
    write_timeout_seconds: float = 8.0
    scheduler_enabled: bool = True

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
            "job_concurrency": max(1, _int("LEADHOOK_JOB_CONCURRENCY", 4)),
            "ghl_dedupe_window_seconds": max(0, _int("LEADHOOK_GHL_DEDUPE_WINDOW_SECONDS", 7200)),
            "max_body_bytes": max(1, _int("LEADHOOK_MAX_BODY_BYTES", 262_144)),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
