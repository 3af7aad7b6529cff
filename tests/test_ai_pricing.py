"""Issue #9 item 8, black box: calls are priced from the genai-prices catalogue at call time,
dated snapshots as themselves, ``LEADHOOK_AI_PRICES_JSON`` first; the unit prices and their
source are stored on every row and a stored cost never changes."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from tests.ai_jobs import MODES, Jobs
from tests.fake_openai import FakeOpenAI, usage

SNAPSHOT = "gpt-4o-2024-05-13"  # $5 / $15 per million tokens; its alias gpt-4o is $2.50 / $10


def priced(row: dict) -> tuple:
    return (
        row["price_input_per_mtok"],
        row["price_cached_input_per_mtok"],
        row["price_output_per_mtok"],
        row["price_source"],
    )


@pytest.mark.parametrize("mode", MODES)
def test_a_dated_snapshot_is_priced_as_itself_the_environment_wins_and_costs_stay(
    serve, workspace, database, mode
):
    with FakeOpenAI(model=SNAPSHOT) as fake:
        fake.default_usage = usage(1000, 100, cached=200)
        first = Jobs(serve, database, fake, mode, ai_model=SNAPSHOT)
        first.deliver(workspace)
        first.wait_for(first.status_is("SUCCEEDED", "LEAD_SCORING_POST_PROCESS"), "both jobs")
        first.close()
        first.live.__exit__(None, None, None)  # one runner at a time on the file
        before = first.ai_rows()
        assert before and {r["model"] for r in before} == {SNAPSHOT}
        for row in before:
            assert priced(row) == (
                5.0,
                5.0,
                15.0,
                f"genai-prices {version('genai-prices')} openai/{SNAPSHOT}",
            )
            assert row["cost_usd"] == pytest.approx((1000 * 5.0 + 100 * 15.0) / 1e6)

        # The same model priced by the operator: the override wins for new calls only.
        prices = {SNAPSHOT: {"input": 1.0, "cached_input": 0.5, "output": 2.0}}
        second = Jobs(
            serve, database, fake, mode, ai_model=SNAPSHOT, ai_prices_json=json.dumps(prices)
        )
        second.deliver(workspace, body="Yes please, call me on Friday")
        second.wait_for(
            lambda: len(second.ai_rows()) >= 2 * len(before), "the second message's calls"
        )
        second.wait_for(
            lambda: all(
                j["status"] == "SUCCEEDED"
                for j in database.query("SELECT status FROM background_jobs")
            ),
            "every job",
        )
        second.close()
        after = second.ai_rows()
        assert [dict(r) for r in after[: len(before)]] == before  # stored costs never change
        for row in after[len(before) :]:
            assert priced(row) == (1.0, 0.5, 2.0, "env")
            assert row["cost_usd"] == pytest.approx((800 * 1.0 + 200 * 0.5 + 100 * 2.0) / 1e6)
