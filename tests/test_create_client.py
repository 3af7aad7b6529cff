"""Choosing the AI client from the settings: provider, model, base URL, key; and what
importing ``ai`` loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ai
from config import Settings

pytestmark = pytest.mark.anyio

SOURCE = "test:ai-client"
PROMPT = ai.Prompt(
    feature_id="sentiment.classify",
    prompt_key="sentiment.classify.v1",
    system='Answer with only a JSON object: {"tag": "..."}',
    user="Reply: yes please",
)


async def test_create_client_uses_the_base_url_setting(store, fake_openai, database):
    settings = Settings(
        db_path=store.path,
        ai_provider="openai",
        openai_api_key="sk-test",
        openai_base_url=fake_openai.base_url,
        ai_model="gpt-4.1-mini",
    )
    client = ai.create_client(settings, store)
    try:
        with ai.ai_telemetry_source(SOURCE):
            await client.complete_json(PROMPT)
    finally:
        await client.close()
    await client.flush()
    [row] = await store.list_interactions()
    assert fake_openai.requests[0]["model"] == "gpt-4.1-mini"
    assert (row["provider"], row["model"]) == ("openai", "gpt-4.1-mini")


async def test_openai_base_url_from_the_environment(store, fake_openai, database, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.delenv("LEADHOOK_AI_PROVIDER", raising=False)
    settings = Settings.from_env(db_path=store.path)
    assert settings.ai_provider == "openai"
    client = ai.create_client(settings, store)
    try:
        with ai.ai_telemetry_source(SOURCE):
            await client.complete_json(PROMPT)
    finally:
        await client.close()
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-env"


def test_create_client_rejects_bad_provider_settings(store):
    with pytest.raises(ValueError, match="must be 'openai' or 'offline'"):
        ai.create_client(Settings(ai_provider="anthropic"), store)
    with pytest.raises(ValueError, match="needs OPENAI_API_KEY"):
        ai.create_client(Settings(ai_provider="openai"), store)


def test_importing_ai_loads_neither_postprocess_nor_the_sdk():
    """Handlers import ai for the telemetry context: the SDK is loaded by the first provider."""
    code = (
        "import sys, ai.context, ai\n"
        "assert 'openai' not in sys.modules, 'openai'\n"
        "assert not [m for m in sys.modules if m.startswith('postprocess')], 'postprocess'\n"
        "ai.OpenAIProvider(model='m', api_key='k')\n"
        "assert 'openai' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_provider_defaults_to_offline_without_an_api_key(monkeypatch, store):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LEADHOOK_AI_PROVIDER", raising=False)
    settings = Settings.from_env(db_path=store.path)
    assert settings.ai_provider == "offline"
    assert ai.create_client(settings, store).provider.name == "offline"
