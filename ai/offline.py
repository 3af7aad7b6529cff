"""The offline provider: answers made locally by functions handed in, no network, no key.

Like httpx's ``MockTransport``: :class:`OfflineProvider` knows nothing of the features it
answers. It is built from ``answers``, a mapping from a prompt's ``feature_id`` to a function
``answer(prompt) -> dict`` (the JSON object a model would answer, usually made from the
prompt's structured ``context``). A key ending in ``.`` is a prefix: ``"draft.generate."``
answers ``draft.generate.sms``, ``draft.generate.email``, ...; an exact key wins over a prefix,
and a longer prefix over a shorter one. A feature with no answer raises ``ValueError`` (the
call is then an ``error`` row, as any failed call).

Rows say ``provider = 'offline'``, ``model = 'offline'`` and ``cost_usd = 0.0`` (known to be
free, so never "unpriced"). Token counts are estimates, not measurements: ``ceil(characters /
4)`` of the system and user prompt (input) and of the JSON answer (output),
``cached_input_tokens = reasoning_tokens = 0``, ``total = input + output``. The answers decide
whether the same input gives the same output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from ai._types import Completion, Prompt, Usage

MODEL = "offline"

Answer = Callable[[Prompt], Mapping[str, Any]]


def estimate_tokens(text: str) -> int:
    """About four characters a token (OpenAI's rule of thumb for English)."""
    return math.ceil(len(text) / 4)


class OfflineProvider:
    """The :class:`ai.Provider` that answers locally (see the module doc)."""

    name = "offline"
    model = MODEL
    free = True
    endpoint = "offline"

    def __init__(self, answers: Mapping[str, Answer] | None = None) -> None:
        self._answers = dict(answers or {})
        # longest first, so the most specific prefix wins
        self._prefixes = sorted((k for k in self._answers if k.endswith(".")), key=len)[::-1]

    def answer_for(self, feature_id: str) -> Answer:
        """The answer function of ``feature_id``; ValueError when there is none."""
        found = self._answers.get(feature_id)
        if found is not None:
            return found
        for prefix in self._prefixes:
            if feature_id.startswith(prefix):
                return self._answers[prefix]
        raise ValueError(f"the offline provider does not know feature {feature_id!r}")

    def answer(self, prompt: Prompt) -> dict[str, Any]:
        """The JSON object the provider answers ``prompt`` with."""
        return dict(self.answer_for(prompt.feature_id)(prompt))

    async def complete(
        self, prompt: Prompt, *, on_send: Callable[[], None] | None = None
    ) -> Completion:
        """Answered at once: never paced (nothing is sent, ``on_send`` is not needed)."""
        content = json.dumps(self.answer(prompt), ensure_ascii=False)
        input_tokens = estimate_tokens(prompt.system) + estimate_tokens(prompt.user)
        output_tokens = estimate_tokens(content)
        usage = Usage(
            input_tokens=input_tokens,
            cached_input_tokens=0,
            output_tokens=output_tokens,
            reasoning_tokens=0,
            total_tokens=input_tokens + output_tokens,
        )
        return Completion(content=content, response_model=MODEL, usage=usage)

    async def close(self) -> None:
        return None
