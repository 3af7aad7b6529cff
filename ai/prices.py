"""Model prices (USD per million tokens) and the cost of one call.

The built-in table holds OpenAI's list prices for the models leadhook is likely to use;
``LEADHOOK_AI_PRICES_JSON`` overrides or extends it, e.g.
``{"gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6}}``
(``cached_input`` defaults to ``input`` when left out).

A model is looked up by its exact name, else by the name without a trailing date suffix
(``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``). A model with no price has no cost (NULL),
never a cost of 0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ENV_VAR = "LEADHOOK_AI_PRICES_JSON"
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    cached_input: float
    output: float


# OpenAI list prices (USD / 1M tokens: input, cached input, output). Check them against
# https://openai.com/api/pricing and override with LEADHOOK_AI_PRICES_JSON when they change.
BUILTIN_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.075, 0.60),
    "gpt-4o": Price(2.50, 1.25, 10.00),
    "gpt-4.1": Price(2.00, 0.50, 8.00),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40),
    "gpt-5": Price(1.25, 0.125, 10.00),
    "gpt-5-mini": Price(0.25, 0.025, 2.00),
    "gpt-5-nano": Price(0.05, 0.005, 0.40),
    "o3": Price(2.00, 0.50, 8.00),
    "o3-mini": Price(1.10, 0.55, 4.40),
    "o4-mini": Price(1.10, 0.275, 4.40),
}


def strip_date_suffix(model: str) -> str:
    """``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini`` (also ``-20240718``); others unchanged."""
    return _DATE_SUFFIX.sub("", model)


def _number(model: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{ENV_VAR}: {model}.{key} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{ENV_VAR}: {model}.{key} must be a non-negative number")
    return float(value)


def parse_prices(raw: str) -> dict[str, Price]:
    """Parse the ``LEADHOOK_AI_PRICES_JSON`` object; ValueError says what is wrong."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{ENV_VAR} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f'{ENV_VAR} must be a JSON object {{"model": {{"input": ...}}}}')
    prices: dict[str, Price] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{ENV_VAR}: {model} must be an object with input and output")
        unknown = set(entry) - {"input", "cached_input", "output"}
        if unknown:
            raise ValueError(f"{ENV_VAR}: {model} has unknown keys {sorted(unknown)}")
        for key in ("input", "output"):
            if key not in entry:
                raise ValueError(f"{ENV_VAR}: {model} needs {key!r}")
        input_price = _number(model, "input", entry["input"])
        prices[model.strip()] = Price(
            input=input_price,
            cached_input=_number(model, "cached_input", entry.get("cached_input", input_price)),
            output=_number(model, "output", entry["output"]),
        )
    return prices


class PriceTable:
    """Prices by model name, with the date-suffix fallback."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)

    @classmethod
    def from_json(cls, raw: str | None) -> PriceTable:
        """The built-in table, overridden and extended by ``raw`` (ValueError if invalid)."""
        prices = dict(BUILTIN_PRICES)
        if raw and raw.strip():
            prices.update(parse_prices(raw))
        return cls(prices)

    def lookup(self, *models: str | None) -> Price | None:
        """The price of the first model that has one (exact name, then without its date)."""
        for model in models:
            if not model:
                continue
            price = self._prices.get(model) or self._prices.get(strip_date_suffix(model))
            if price is not None:
                return price
        return None

    def models(self) -> Iterable[str]:
        return self._prices.keys()


def cost_usd(
    price: Price | None,
    input_tokens: int | None,
    cached_input_tokens: int | None,
    output_tokens: int | None,
) -> float | None:
    """``((input - cached) * input + cached * cached_input + output * output) / 1e6``.

    Reasoning tokens are part of the output tokens (OpenAI bills them as output). None when
    there is no price or neither input nor output tokens are known; a missing count is 0.
    """
    if price is None or (input_tokens is None and output_tokens is None):
        return None
    inputs = input_tokens or 0
    cached = min(cached_input_tokens or 0, inputs)
    outputs = output_tokens or 0
    return (
        (inputs - cached) * price.input + cached * price.cached_input + outputs * price.output
    ) / 1_000_000
