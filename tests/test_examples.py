"""Every payload in examples/ gets exactly the answer examples/README.md says: first on a
fresh database, then again as a provider's retry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import PAYLOADS

ROW = re.compile(
    r"^\| `(?P<file>[^`]+\.json)` \| `POST (?P<route>[^`]+)` \| [^|]+ \| `(?P<answer>\{.*\})` \|$"
)
TABLE = [
    m.groupdict()
    for line in (PAYLOADS / "README.md").read_text().splitlines()
    if (m := ROW.match(line))
]


def test_the_table_lists_every_example():
    assert sorted(row["file"] for row in TABLE) == sorted(p.name for p in PAYLOADS.glob("*.json"))


@pytest.mark.parametrize("row", TABLE, ids=[row["file"] for row in TABLE])
def test_an_example_gets_the_answer_of_the_table(serve, make_workspace, row):
    acme = make_workspace()  # loc_AbC123, dfXlh46vQYCsMbVarumWlg, 12345: the samples' ids
    demo = make_workspace(ghl_location_id="loc_demo")
    token = (demo if "demo" in row["file"] else acme).token
    live = serve(scheduler_enabled=False)
    body = Path(PAYLOADS / row["file"]).read_text().replace("REPLACE-WITH-CLIENT-SECRET", token)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    first = httpx.post(live.url + row["route"], content=body, headers=headers, timeout=30)
    again = httpx.post(live.url + row["route"], content=body, headers=headers, timeout=30)

    expected = json.loads(row["answer"])
    assert (first.status_code, first.json()) == (200, expected)
    if "deduped" in expected:
        expected |= {"deduped": True, "jobEnqueued": False}
    assert (again.status_code, again.json()) == (200, expected)
