"""Model prices: the genai-prices catalogue, ``LEADHOOK_AI_PRICES_JSON``, the lookup, the cost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ai.prices import Catalogue, Price, PriceTable, catalogue_version, cost_usd
from config import Settings

CATALOGUE = f"genai-prices {catalogue_version()}"


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


def test_the_catalogue_prices_models_and_snapshots_as_themselves():
    table = PriceTable.from_json(None)
    assert table.lookup("gpt-4o-mini") == Price(
        0.15, 0.075, 0.60, f"{CATALOGUE} openai/gpt-4o-mini"
    )
    # A dated snapshot with its own price is priced as itself, not as its alias.
    assert table.lookup("gpt-4o-2024-05-13") == Price(
        5.0, 5.0, 15.0, f"{CATALOGUE} openai/gpt-4o-2024-05-13"
    )
    assert table.lookup("gpt-4o").input == 2.5
    # A snapshot the catalogue files under its model gets that model's price and says so.
    assert table.lookup("gpt-4o-mini-2024-07-18").source == f"{CATALOGUE} openai/gpt-4o-mini"
    assert table.lookup("no-such-model") is None
    assert table.lookup("no-such-model", "gpt-4.1").source == f"{CATALOGUE} openai/gpt-4.1"
    assert table.lookup(None, "") is None


def test_the_environment_overrides_the_catalogue_by_exact_name():
    table = PriceTable.from_json(
        '{"gpt-4o-mini": {"input": 9, "output": 9}, "acme-1": {"input": 1, "output": 2}}'
    )
    assert table.lookup("gpt-4o-mini") == Price(9.0, 9.0, 9.0, "env")  # cached = input
    assert table.lookup("acme-1").output == 2.0
    assert table.lookup("gpt-4o-mini-2024-07-18").source.startswith(CATALOGUE)
    assert sorted(table.overridden()) == ["acme-1", "gpt-4o-mini"]


def test_each_model_is_looked_up_in_the_catalogue_once(monkeypatch):
    catalogue = Catalogue()
    asked: list[str] = []
    find = catalogue.find

    def counting(model: str):
        asked.append(model)
        return find(model)

    monkeypatch.setattr(catalogue, "find", counting)
    table = PriceTable({}, catalogue)
    for _ in range(3):
        table.lookup("gpt-4o-mini")
        table.lookup("no-such-model")
    assert asked == ["gpt-4o-mini", "no-such-model"]


def test_dated_catalogue_prices_hold_from_their_date():
    table = PriceTable.from_json(None)
    # o3's price was cut on 2025-06-10; a call is priced as it was when it was made.
    before = table.lookup("o3", at=datetime(2025, 5, 1, tzinfo=UTC))
    after = table.lookup("o3", at=datetime(2025, 7, 1, tzinfo=UTC))
    assert (before.input, before.output) == (10.0, 40.0)
    assert (after.input, after.output) == (2.0, 8.0)


def test_the_catalogue_provider_follows_the_base_url():
    assert Catalogue("https://api.groq.com/openai/v1/").provider_id() == "groq"
    assert Catalogue("http://127.0.0.1:9/v1/").provider_id() == "openai"  # unknown: OpenAI's
    assert Catalogue(None).provider_id() == "openai"
    groq = PriceTable.from_json(None, base_url="https://api.groq.com/openai/v1")
    assert groq.lookup("llama-3.3-70b-versatile").source.endswith("groq/llama-3.3-70b-versatile")


def test_cost_formula():
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    assert cost_usd(price, 1_000_000, 250_000, 100_000) == pytest.approx(
        750_000 * 2.0 / 1e6 + 250_000 * 0.5 / 1e6 + 100_000 * 8.0 / 1e6
    )
    assert cost_usd(price, 10, None, None) == pytest.approx(20 / 1e6)
    assert cost_usd(None, 10, 0, 10) is None
    assert cost_usd(price, None, None, None) is None
