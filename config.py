"""Settings read from the environment (docs/reference.md "Environment").

:meth:`Settings.from_env` reads every variable of :data:`VARIABLES` and converts it with
msgspec to the field's type and bounds: integers, decimals (``2.5``) and booleans as a person
writes them (``1/0``, ``true/false``, ``yes/no``, ``on/off``, any case); an unset or empty
variable keeps the default. Any value leadhook does not accept raises :class:`ConfigError`
whose message is one line naming the variable, the value and what is allowed, e.g.
``LEADHOOK_JOB_CONCURRENCY=0: not allowed; an integer from 1 to 1000``. Nothing is silently
clamped. Checked together: ``LEADHOOK_AI_PROVIDER=openai`` needs ``OPENAI_API_KEY`` (or
``OPENAI_BASE_URL``), and ``LEADHOOK_AI_PRICES_JSON`` must be a JSON object of prices.

Fields without a variable (``write_timeout_seconds``, ``busy_timeout_ms``,
``job_poll_seconds``) are fixed here; tests set them directly.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

__all__ = ["VARIABLES", "ConfigError", "Settings", "Variable", "unknown_variables"]

Count = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Days = Annotated[int, msgspec.Meta(ge=0, le=36_500)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["console", "json"]
Provider = Literal["openai", "offline"]


class ConfigError(ValueError):
    """A variable's value is not accepted; the message is one line that names it."""


@dataclass(frozen=True)
class Settings:
    db_path: NonEmpty = "data/leadhook.db"
    cron_secret: str | None = None
    admin_token: str | None = None
    ai_provider: Provider = "offline"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    ai_prices_json: str | None = None
    ai_retention_days: Days = 30
    # The model the openai provider requests, and its per-call timeout.
    ai_model: NonEmpty = "gpt-4o-mini"
    ai_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    job_concurrency: Count = 64
    ghl_dedupe_window_seconds: Annotated[int, msgspec.Meta(ge=0)] = 7200
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=64 * 1024 * 1024)] = 262_144
    # How long a webhook waits for its commit before answering 429 (the answer comes within it).
    write_timeout_seconds: float = 8.0
    # How long SQLite waits for another process's write lock (a write with a timeout never
    # waits past its own).
    busy_timeout_ms: int = 5000
    # Most writes committed together; 1 = a commit per request (for comparison only).
    writer_max_batch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 512
    scheduler_enabled: bool = True
    log_level: LogLevel = "INFO"
    # Background jobs: a RUNNING job whose lease (renewed every lease/3 by its live runner)
    # is older than this is taken back; shutdown waits this long for running jobs; the
    # runner polls at least this often (webhooks wake it at once); finished jobs are kept
    # this many days (0 = forever).
    job_lease_seconds: Annotated[float, msgspec.Meta(ge=5, le=86_400)] = 60.0
    job_grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    job_poll_seconds: float = 1.0
    job_retention_days: Days = 30
    # HTTP connections (handlers/_server.py): at most this many open (lowered to what the
    # file-descriptor limit allows); a request's headers and body must arrive within the read
    # timeout of its first byte; an idle kept-alive connection is closed after the keep-alive.
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000
    http_read_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    http_keepalive_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    # The delivery ledger (docs/deliveries.md): bodies kept this many days (0: never kept),
    # rows this many days (0: forever); requests without a valid token recorded at most this
    # many a minute (the rest only counted). ``ledger_enabled=False`` records nothing: a
    # benchmark knob (bench/ingest.py compares the two), never for production.
    ledger_body_days: Days = 7
    ledger_retention_days: Days = 30
    ledger_rejected_per_minute: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 600
    ledger_enabled: bool = True
    # ``metrics_enabled=False``: no counters, ``/metrics`` answers 404. A benchmark knob
    # (bench/ingest.py measures ingest without the ledger and the metrics), never for production.
    metrics_enabled: bool = True
    # How every log line is written (monitoring/logs.py): readable text, or one JSON object.
    log_format: LogFormat = "console"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
        """The settings of ``env`` (default ``os.environ``), then ``overrides`` (typed values,
        for tests). :class:`ConfigError` for a value that is not accepted."""
        env = os.environ if env is None else env
        raw: dict[str, str] = {}
        values: dict[str, Any] = {}
        for var in VARIABLES:
            text = (env.get(var.name) or "").strip()
            if text:
                raw[var.field] = text
                values[var.field] = var.prepare(text)
        if "ai_provider" not in values:
            values["ai_provider"] = "openai" if values.get("openai_api_key") else "offline"
        try:
            settings = msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise _config_error(exc, raw) from None
        settings = dataclasses.replace(settings, **overrides) if overrides else settings
        settings.check()
        return settings

    def check(self) -> None:
        """What no single variable's type says (:class:`ConfigError`)."""
        if self.ai_provider == "openai" and not (self.openai_api_key or self.openai_base_url):
            raise ConfigError(
                "LEADHOOK_AI_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a "
                "compatible server that takes no key); LEADHOOK_AI_PROVIDER=offline needs none"
            )
        if self.openai_base_url and not self.openai_base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"OPENAI_BASE_URL={self.openai_base_url!r}: not allowed; an http:// or https:// "
                "URL, e.g. https://api.openai.com/v1"
            )
        if self.ai_prices_json:
            _check_prices(self.ai_prices_json)


@dataclass(frozen=True)
class Variable:
    """One environment variable: its field of :class:`Settings` and what it allows."""

    name: str
    field: str
    allowed: str
    secret: bool = False
    kind: str = "text"  # text | bool | upper | lower

    def prepare(self, text: str) -> Any:
        if self.kind == "bool":
            return _BOOLEANS.get(text.lower(), text)
        if self.kind == "upper":
            return text.upper()
        if self.kind == "lower":
            return text.lower()
        return text


_BOOLEANS = {
    **dict.fromkeys(("1", "true", "yes", "on", "y", "t"), True),
    **dict.fromkeys(("0", "false", "no", "off", "n", "f"), False),
}

# Every variable leadhook reads, in the order `leadhook config` prints them.
VARIABLES: tuple[Variable, ...] = (
    Variable("LEADHOOK_DB", "db_path", "a path to the SQLite file"),
    Variable("LEADHOOK_CRON_SECRET", "cron_secret", "any text", secret=True),
    Variable("LEADHOOK_ADMIN_TOKEN", "admin_token", "any text", secret=True),
    Variable("LEADHOOK_AI_PROVIDER", "ai_provider", "openai or offline", kind="lower"),
    Variable("OPENAI_API_KEY", "openai_api_key", "your API key", secret=True),
    Variable("OPENAI_BASE_URL", "openai_base_url", "an http:// or https:// URL"),
    Variable("LEADHOOK_AI_MODEL", "ai_model", "a model name, e.g. gpt-4o-mini"),
    Variable("LEADHOOK_AI_TIMEOUT_SECONDS", "ai_timeout_seconds", "seconds above 0, up to 3600"),
    Variable(
        "LEADHOOK_AI_PRICES_JSON",
        "ai_prices_json",
        'a JSON object, e.g. {"my-model": {"input": 0.15, "cached_input": 0.075, "output": 0.6}}',
    ),
    Variable("LEADHOOK_AI_RETENTION_DAYS", "ai_retention_days", "days from 0 (never prune)"),
    Variable("LEADHOOK_JOB_CONCURRENCY", "job_concurrency", "an integer from 1 to 1000"),
    Variable("LEADHOOK_JOB_LEASE_SECONDS", "job_lease_seconds", "seconds from 5 to 86400"),
    Variable("LEADHOOK_JOB_GRACE_SECONDS", "job_grace_seconds", "seconds from 0 to 3600"),
    Variable("LEADHOOK_JOB_RETENTION_DAYS", "job_retention_days", "days from 0 (never prune)"),
    Variable(
        "LEADHOOK_SCHEDULER_ENABLED",
        "scheduler_enabled",
        "1/0, true/false, yes/no or on/off",
        kind="bool",
    ),
    Variable(
        "LEADHOOK_GHL_DEDUPE_WINDOW_SECONDS",
        "ghl_dedupe_window_seconds",
        "seconds from 0 (0: the same content is the same message forever)",
    ),
    Variable("LEADHOOK_MAX_BODY_BYTES", "max_body_bytes", "bytes from 1024 to 67108864"),
    Variable(
        "LEADHOOK_LOG_LEVEL", "log_level", "DEBUG, INFO, WARNING, ERROR or CRITICAL", kind="upper"
    ),
    Variable("LEADHOOK_WRITER_MAX_BATCH", "writer_max_batch", "an integer from 1 to 100000"),
    Variable(
        "LEADHOOK_MAX_CONNECTIONS",
        "max_connections",
        "an integer from 1 to 1000000 (lowered to what the file-descriptor limit allows)",
    ),
    Variable(
        "LEADHOOK_HTTP_READ_TIMEOUT_SECONDS",
        "http_read_timeout_seconds",
        "seconds above 0, up to 3600",
    ),
    Variable(
        "LEADHOOK_HTTP_KEEPALIVE_SECONDS", "http_keepalive_seconds", "seconds above 0, up to 3600"
    ),
    Variable(
        "LEADHOOK_LEDGER_BODY_DAYS",
        "ledger_body_days",
        "days from 0 (0: bodies are never kept) to 36500",
    ),
    Variable(
        "LEADHOOK_LEDGER_RETENTION_DAYS",
        "ledger_retention_days",
        "days from 0 (never prune) to 36500",
    ),
    Variable(
        "LEADHOOK_LEDGER_REJECTED_PER_MINUTE",
        "ledger_rejected_per_minute",
        "an integer from 0 to 1000000 (rows a minute for requests without a valid token)",
    ),
    Variable(
        "LEADHOOK_LEDGER_ENABLED",
        "ledger_enabled",
        "1/0, true/false, yes/no or on/off (0 only to benchmark without the ledger)",
        kind="bool",
    ),
    Variable(
        "LEADHOOK_METRICS_ENABLED",
        "metrics_enabled",
        "1/0, true/false, yes/no or on/off (0 only to benchmark without the metrics)",
        kind="bool",
    ),
    Variable(
        "LEADHOOK_LOG_FORMAT",
        "log_format",
        "console (readable lines) or json (one JSON object a line)",
        kind="lower",
    ),
)
_BY_FIELD = {var.field: var for var in VARIABLES}
_NAMES = {var.name for var in VARIABLES}


def _config_error(exc: msgspec.ValidationError, raw: Mapping[str, str]) -> ConfigError:
    message = str(exc)
    found = re.search(r"\$\.(\w+)", message)
    field = found.group(1) if found else ""
    var = _BY_FIELD.get(field)
    if var is None:  # not expected: every field that has a variable is named
        return ConfigError(f"invalid configuration: {message}")
    shown = "(hidden)" if var.secret else repr(raw.get(field, ""))
    return ConfigError(f"{var.name}={shown}: not allowed; {var.allowed}")


class _Price(msgspec.Struct, forbid_unknown_fields=True):
    input: Annotated[float, msgspec.Meta(ge=0)]
    output: Annotated[float, msgspec.Meta(ge=0)]
    cached_input: Annotated[float, msgspec.Meta(ge=0)] | None = None


_PRICES_ALLOWED = (
    'allowed: a JSON object of USD per million tokens by model, {"<model>": {"input": <number>, '
    '"output": <number>, "cached_input": <number>}} (cached_input optional)'
)


def _check_prices(text: str) -> None:
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"LEADHOOK_AI_PRICES_JSON: {exc}; {_PRICES_ALLOWED}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"LEADHOOK_AI_PRICES_JSON: not an object of models; {_PRICES_ALLOWED}")
    for model, entry in data.items():
        try:
            msgspec.convert(entry, _Price)
        except msgspec.ValidationError as exc:
            detail = re.sub(r" - at `\$\.?([^`]*)`", r" (\1)", str(exc)).replace("`", "")
            raise ConfigError(
                f"LEADHOOK_AI_PRICES_JSON: model {model!r}: {detail}; {_PRICES_ALLOWED}"
            ) from None


def unknown_variables(env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """``LEADHOOK_*`` variables set but not read by leadhook (typos), each with the closest
    known name or None."""
    env = os.environ if env is None else env
    found: dict[str, str | None] = {}
    for name in sorted(env):
        if (
            name.startswith("LEADHOOK_")
            and name not in _NAMES
            and not name.startswith("LEADHOOK_TEST_")
        ):
            close = difflib.get_close_matches(name, sorted(_NAMES), n=1, cutoff=0.8)
            found[name] = close[0] if close else None
    return found
