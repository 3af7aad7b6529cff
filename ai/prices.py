"""Model prices (USD per million tokens), where they come from, and the cost of one call.

Prices come from a maintained catalogue, `genai-prices <https://pypi.org/project/genai-prices/>`_
(its snapshot bundled with the installed version: nothing is fetched, ``update_prices`` is never
called), and ``LEADHOOK_AI_PRICES_JSON`` overrides or extends it, e.g.
``{"gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6}}`` (``cached_input``
defaults to ``input`` when left out).

A model name is looked up as it is: first in ``LEADHOOK_AI_PRICES_JSON`` (exact name), then in
the catalogue, which knows dated snapshots as themselves (``gpt-4o-2024-05-13`` is $5 / $15,
not the alias ``gpt-4o``'s $2.50 / $10) and maps a snapshot it has no entry for to its model
(``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``). The catalogue is searched among the provider of
the API's base URL when it knows that URL, else among OpenAI's models (leadhook speaks the OpenAI
API); a model it does not know is *unpriced*: its calls have no cost (NULL), never a cost of 0.

Each model is looked up in the catalogue once per process (:class:`PriceTable` caches the
entry; a lookup costs ~0.1 ms). The entry's prices are then resolved for the call's time (a
catalogue entry may say from which date a price holds) and for its input size (a tiered price
applies to every token once the input passes its threshold), so the unit prices stored on a row
are the ones its cost was computed with: :class:`Price` carries them and their ``source``
(``genai-prices 0.2.3 openai/gpt-4o-mini``, ``env``, or ``offline``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("leadhook.ai")

ENV_VAR = "LEADHOOK_AI_PRICES_JSON"
CATALOGUE = "genai-prices"
ENV_SOURCE = "env"
OFFLINE_SOURCE = "offline"
DEFAULT_CATALOGUE_PROVIDER = "openai"


@dataclass(frozen=True)
class Price:
    """USD per million tokens, and where the prices come from."""

    input: float
    cached_input: float
    output: float
    source: str = ENV_SOURCE


OFFLINE_PRICE = Price(0.0, 0.0, 0.0, OFFLINE_SOURCE)


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
            source=ENV_SOURCE,
        )
    return prices


# -- the catalogue ---------------------------------------------------------------------------


def catalogue_version() -> str:
    """The installed genai-prices version (its bundled snapshot is what prices calls)."""
    from importlib.metadata import version

    return version("genai-prices")


def _tiered(value: Any, input_tokens: int) -> float | None:
    """A catalogue price for ``input_tokens`` of input: a plain number, or the tier whose
    threshold the input passes (genai-prices' cliff rule: the tier's price for every token)."""
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is None:
        return float(value)
    price = value.base
    for tier in sorted(tiers, key=lambda t: t.start, reverse=True):
        if input_tokens > tier.start:
            price = tier.price
            break
    return float(price)


@dataclass(frozen=True)
class _Entry:
    """One catalogue model: its genai-prices ``ModelInfo`` and the provider it was found in."""

    info: Any
    provider_id: str
    source: str

    def price(self, at: datetime, input_tokens: int) -> Price | None:
        prices = self.info.get_prices(at)
        input_price = _tiered(getattr(prices, "input_mtok", None), input_tokens)
        output_price = _tiered(getattr(prices, "output_mtok", None), input_tokens)
        if input_price is None or output_price is None:
            return None  # priced by something else (per request, per second): not for us
        cached = _tiered(getattr(prices, "cache_read_mtok", None), input_tokens)
        return Price(
            input_price, input_price if cached is None else cached, output_price, self.source
        )


class Catalogue:
    """genai-prices' bundled snapshot, searched in one provider (see the module doc)."""

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url
        self._provider_id: str | None = None

    def provider_id(self) -> str:
        """The catalogue provider of ``base_url`` (OpenAI's when it knows no provider there)."""
        if self._provider_id is None:
            from genai_prices import data_snapshot

            found = None
            if self.base_url:
                try:
                    found = data_snapshot.get_snapshot().find_provider(None, None, self.base_url)
                except Exception:  # LookupError: a URL the catalogue does not know
                    found = None
            self._provider_id = found.id if found is not None else DEFAULT_CATALOGUE_PROVIDER
        return self._provider_id

    def find(self, model: str) -> _Entry | None:
        """The catalogue entry of ``model``, None when the catalogue does not know it."""
        import genai_prices

        provider_id = self.provider_id()
        try:
            found = genai_prices.calc_price(genai_prices.Usage(), model, provider_id=provider_id)
        except LookupError:
            return None
        except Exception as exc:  # a catalogue that cannot price the model is no price
            log.warning("%s could not price %s: %s", CATALOGUE, model, exc)
            return None
        source = f"{CATALOGUE} {catalogue_version()} {found.provider.id}/{found.model.id}"
        return _Entry(found.model, found.provider.id, source)


class PriceTable:
    """Prices by model name: ``LEADHOOK_AI_PRICES_JSON`` first, then the catalogue (cached)."""

    def __init__(
        self, overrides: Mapping[str, Price] | None = None, catalogue: Catalogue | None = None
    ) -> None:
        self._overrides = dict(overrides or {})
        self._catalogue = catalogue
        self._entries: dict[str, _Entry | None] = {}

    @classmethod
    def from_json(cls, raw: str | None, *, base_url: str | None = None) -> PriceTable:
        """The catalogue, overridden and extended by ``raw`` (ValueError if invalid)."""
        overrides = parse_prices(raw) if raw and raw.strip() else {}
        return cls(overrides, Catalogue(base_url))

    def for_base_url(self, base_url: str | None) -> PriceTable:
        """The same overrides with the catalogue searched for the provider at ``base_url``."""
        return PriceTable(self._overrides, Catalogue(base_url) if self._catalogue else None)

    def lookup(
        self, *models: str | None, at: datetime | None = None, input_tokens: int | None = None
    ) -> Price | None:
        """The price of the first model that has one, as it holds at ``at`` (default: now)
        for an input of ``input_tokens``; None when none of them is priced."""
        when = at or datetime.now(UTC)
        for model in models:
            if not model:
                continue
            override = self._overrides.get(model)
            if override is not None:
                return override
            entry = self._entry(model)
            if entry is not None:
                price = entry.price(when, input_tokens or 0)
                if price is not None:
                    return price
        return None

    def _entry(self, model: str) -> _Entry | None:
        if self._catalogue is None:
            return None
        if model not in self._entries:
            self._entries[model] = self._catalogue.find(model)
        return self._entries[model]

    def overridden(self) -> Iterable[str]:
        """The models ``LEADHOOK_AI_PRICES_JSON`` prices."""
        return self._overrides.keys()


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
