"""leadhook ai report: JSON and table output over the hand-computed rows of test_ai_report."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import cli
from cli.ai import format_report
from tests.test_ai_report import BY_SOURCE_SINCE, SCORING, SEED

# One row on purpose has no source (the "unattributed" group).
pytestmark = pytest.mark.allow_unattributed


@pytest.fixture
def seeded(store, database):
    for values in SEED:
        store.sync.record_interaction(values)
    return database


def run_cli(db_path, *args: str):
    return CliRunner().invoke(cli, ["ai", "report", *args], env={"LEADHOOK_DB": str(db_path)})


def test_cli_report_json(seeded, db_path):
    result = run_cli(db_path, "--json", "--since", "2026-01-05")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == BY_SOURCE_SINCE
    result = run_cli(db_path, "--by", "model", "--json")
    assert json.loads(result.output)["groups"][0]["group"] == "o4-mini"


def test_cli_report_table(seeded, db_path):
    result = run_cli(db_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "AI calls by source (all time)"
    assert lines[1].split()[:3] == ["SOURCE", "CALLS", "ERRORS"]
    scoring = "3 1 5500 500 900 550 6400 0.009500 1 50 70"
    assert lines[3].split() == [SCORING, *scoring.split()]
    assert lines[5].split()[0] == "unattributed"
    total = "9 2 10600 1700 1560 550 12160 0.010538 2 100 1000"
    assert lines[-1].split() == ["total", *total.split()]


def test_cli_report_rejects_bad_options(database, db_path):
    assert run_cli(db_path, "--by", "day").exit_code == 2
    result = run_cli(db_path, "--since", "yesterday")
    assert result.exit_code == 2 and "since must be an ISO-8601 time" in result.output


def test_format_report_of_no_calls():
    counts = ("calls", "errors", "unpriced_calls", "input_tokens", "cached_input_tokens")
    tokens = ("output_tokens", "reasoning_tokens", "total_tokens")
    total = {
        "group": "total",
        **dict.fromkeys((*counts, *tokens), 0),
        "cost_usd": 0.0,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
    }
    result = {"by": "model", "since": "2026-01-05T00:00:00.000Z", "groups": [], "total": total}
    header = (
        "MODEL  CALLS  ERRORS  INPUT  CACHED  OUTPUT  REASONING  TOTAL  COST_USD  UNPRICED"
        "  P50_MS  P95_MS"
    )
    assert format_report(result).splitlines() == [
        "AI calls by model since 2026-01-05T00:00:00.000Z",
        header,
        "-" * len(header),
        "-" * len(header),
        "total      0       0      0       0       0          0      0  0.000000         0"
        "       -       -",
    ]


def prices(*args: str, **env: str):
    base = {"LEADHOOK_AI_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test"}
    return CliRunner().invoke(cli, ["ai", "prices", *args], env={**base, **env})


def test_cli_prices_shows_the_configured_model_the_overrides_and_where_each_comes_from():
    from ai.prices import catalogue_version

    catalogue = f"genai-prices {catalogue_version()}"
    result = prices(
        "--json",
        LEADHOOK_AI_MODEL="gpt-4o-2024-05-13",
        LEADHOOK_AI_PRICES_JSON='{"acme-1": {"input": 1, "output": 2}}',
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["provider"], data["catalogue"]) == ("openai", catalogue)
    assert data["prices"] == [
        {
            "model": "gpt-4o-2024-05-13",
            "configured": True,
            "priced": True,
            "input_per_mtok": 5.0,
            "cached_input_per_mtok": 5.0,
            "output_per_mtok": 15.0,
            "source": f"{catalogue} openai/gpt-4o-2024-05-13",
        },
        {
            "model": "acme-1",
            "configured": False,
            "priced": True,
            "input_per_mtok": 1.0,
            "cached_input_per_mtok": 1.0,
            "output_per_mtok": 2.0,
            "source": "env",
        },
    ]
    text = prices("local-llama").output.splitlines()
    assert text[1].split() == ["MODEL", "INPUT", "CACHED_INPUT", "OUTPUT", "SOURCE"]
    assert text[2].split()[:4] == ["local-llama", "-", "-", "-"]
    assert "unpriced: calls are stored with cost_usd NULL" in text[2]
    offline = prices(LEADHOOK_AI_PROVIDER="offline").output.splitlines()
    assert offline[2].split() == ["offline", "(configured)", "0", "0", "0", "offline"]
    bad = prices(LEADHOOK_AI_PRICES_JSON="{gpt")
    assert bad.exit_code == 78  # a configuration error, as at every start
    assert "LEADHOOK_AI_PRICES_JSON: JSON is malformed" in bad.output
