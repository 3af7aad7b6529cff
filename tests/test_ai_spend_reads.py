"""Issue #9 item 9, black box: spend reads right. An unpriced model's calls are counted apart
and never shown as a cost of 0; a 429 row has a NULL cost like every other failure without
usage; ``jobs list`` and ``jobs stats`` show failed attempts and snoozes apart."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import cli
from tests.ai_jobs import MODES, Captured, Jobs
from tests.fake_openai import FakeOpenAI

ADMIN = "admin-token-for-spend-tests-0123456789"
UNPRICED = "local-llama-3"


def leadhook(db_path, *args: str) -> str:
    result = CliRunner().invoke(cli.cli, list(args), env={"LEADHOOK_DB": str(db_path)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("mode", MODES)
def test_unpriced_calls_and_failures_have_no_cost_and_snoozes_are_not_failures(
    serve, workspace, database, db_path, mode
):
    with FakeOpenAI() as fake:
        # gpt-4o-mini (priced): the first call is rate limited, the second meets a 500.
        fake.fail_once(429, call=1, headers={"Retry-After": "1"}, message="Rate limit reached")
        fake.fail_once(500, call=2)
        priced = Jobs(serve, database, fake, mode, admin_token=ADMIN)
        priced.deliver(workspace)
        job = priced.wait_for(priced.status_is("SUCCEEDED"), "the job after a 429 and a 500")
        assert (job["attempts"], job["snoozes"]) == (3, 1)  # a snooze, a failure, a success
        priced.wait_for(priced.status_is("SUCCEEDED", "LEAD_SCORING_POST_PROCESS"), "scoring")
        priced.close()
        priced.live.__exit__(None, None, None)
        errors = [r for r in priced.ai_rows() if r["status"] == "error"]
        assert ["429" in e["error_message"] for e in errors] == [True, False]
        assert [e["cost_usd"] for e in errors] == [None, None]  # the 429 like the 500

        # A model no catalogue prices: a warning at start-up, its calls have no cost.
        fake.model = UNPRICED  # the model that answers, too
        with Captured() as log:
            unpriced = Jobs(serve, database, fake, mode, ai_model=UNPRICED, admin_token=ADMIN)
        assert any(f"AI model '{UNPRICED}' has no price" in line for line in log.lines())
        unpriced.deliver(workspace, body="Sounds good, send me the details")
        unpriced.wait_for(
            lambda: (
                len(
                    [
                        j
                        for j in database.query("SELECT status FROM background_jobs")
                        if j["status"] == "SUCCEEDED"
                    ]
                )
                == 4
            ),
            "the second message's jobs",
        )
        answer = unpriced.http.get(
            "/api/telemetry/ai",
            params={"by": "model"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        ).json()
        unpriced.close()

    groups = {g["group"]: g for g in answer["groups"]}
    assert groups[UNPRICED]["cost_usd"] is None  # never 0 for calls whose cost is unknown
    assert groups[UNPRICED]["unpriced_calls"] == groups[UNPRICED]["calls"] == 3
    assert groups["gpt-4o-mini"]["cost_usd"] > 0
    assert groups["gpt-4o-mini"]["unpriced_calls"] == 2  # the 429 and the 500
    report = json.loads(leadhook(db_path, "ai", "report", "--by", "model", "--json"))
    assert {g["group"]: g["cost_usd"] for g in report["groups"]}[UNPRICED] is None
    table = leadhook(db_path, "ai", "report", "--by", "model")
    [line] = [line for line in table.splitlines() if line.startswith(UNPRICED)]
    assert line.split()[8:10] == ["-", "3"]  # COST_USD "-", UNPRICED 3

    listed = leadhook(db_path, "jobs", "list", "--type", "SMS_INBOUND_POST_PROCESS")
    first = listed.splitlines()[-1]  # oldest last: the job with the 429 and the 500
    assert "\tSUCCEEDED\tfailures 1/5\tsnoozes 1\t" in first
    stats = json.loads(leadhook(db_path, "jobs", "stats", "--json"))
    assert stats["attempts_by_type"]["SMS_INBOUND_POST_PROCESS"] == {"failures": 1, "snoozes": 1}
