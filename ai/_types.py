"""The value types the client and its providers share: what is asked, what comes back.

:class:`Prompt` goes to a :class:`Provider`, which answers a :class:`Completion` (the raw text,
the model that answered, the :class:`Usage` it reported); the client turns a successful call
into an :class:`AIResult`. These types import nothing of ours, so the client and the providers
depend on them and not on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Prompt:
    """One request: what it is for, the two chat messages, and structured input.

    ``context`` carries the same input as data (message text, channel, first name,
    transcript, ...) for the offline provider's answers, which do not read prose.
    """

    feature_id: str
    prompt_key: str
    system: str
    user: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Tokens by type as the provider reported them; None when it reported none."""

    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    content: str | None
    response_model: str | None
    usage: Usage


@dataclass(frozen=True)
class AIResult:
    """A successful call: the validated value, the raw JSON object and the telemetry row."""

    value: Any
    data: dict[str, Any]
    interaction: dict[str, Any]


class Provider(Protocol):
    """Where a prompt is answered. ``complete`` raises the :mod:`ai.errors` exceptions for
    what the provider refused or could not do, never a foreign SDK's own."""

    name: str  # 'openai' | 'offline', stored as ``provider``
    model: str  # the requested model, stored as ``model``
    free: bool  # known to cost nothing (cost_usd 0.0 rather than a price lookup)
    endpoint: str  # where calls go, as logged and named by errors: 'POST https://...' | 'offline'

    async def complete(
        self, prompt: Prompt, *, on_send: Callable[[], None] | None = None
    ) -> Completion:
        """Answer ``prompt``. A provider that waits for its turn before sending (rate
        limits) calls ``on_send()`` when the request goes, so the wait is not latency."""
        ...

    async def close(self) -> None: ...
