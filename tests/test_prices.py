"""Model prices: the built-in table, ``LEADHOOK_AI_PRICES_JSON``, the lookup and the cost."""

from __future__ import annotations

import pytest

from ai.prices import BUILTIN_PRICES, Price, PriceTable, cost_usd, strip_date_suffix
from config import Settings


def test_invalid_prices_json_is_a_clear_start_up_error(db_path):
    from app import create_app

    with pytest.raises(ValueError, match="LEADHOOK_AI_PRICES_JSON is not valid JSON"):
        create_app(Settings(db_path=str(db_path), ai_prices_json="{gpt-4o: 1"))
    with pytest.raises(ValueError, match=r"LEADHOOK_AI_PRICES_JSON: m\.output must be a number"):
        PriceTable.from_json('{"m": {"input": 1, "output": "cheap"}}')
    with pytest.raises(ValueError, match="needs 'output'"):
        PriceTable.from_json('{"m": {"input": 1}}')
    with pytest.raises(ValueError, match="unknown keys"):
        PriceTable.from_json('{"m": {"input": 1, "output": 2, "cache": 1}}')


def test_price_lookup_exact_then_without_date_request_model_first():
    table = PriceTable.from_json('{"gpt-4o-mini": {"input": 9, "output": 9}}')
    assert table.lookup("gpt-4o-mini").input == 9  # the override wins
    assert table.lookup("gpt-4o-mini").cached_input == 9  # defaults to input
    assert table.lookup("gpt-4o-2024-08-06") == BUILTIN_PRICES["gpt-4o"]
    assert table.lookup("unknown", "gpt-4.1-2025-04-14") == BUILTIN_PRICES["gpt-4.1"]
    assert table.lookup("gpt-4.1", "gpt-4o") == BUILTIN_PRICES["gpt-4.1"]
    assert table.lookup("unknown", None) is None
    assert strip_date_suffix("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert strip_date_suffix("claude-3-5-sonnet-20240620") == "claude-3-5-sonnet"
    assert strip_date_suffix("gpt-4o") == "gpt-4o"


def test_cost_formula():
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    assert cost_usd(price, 1_000_000, 250_000, 100_000) == pytest.approx(
        750_000 * 2.0 / 1e6 + 250_000 * 0.5 / 1e6 + 100_000 * 8.0 / 1e6
    )
    assert cost_usd(price, 10, None, None) == pytest.approx(20 / 1e6)
    assert cost_usd(None, 10, 0, 10) is None
    assert cost_usd(price, None, None, None) is None
