"""Two ``leadhook serve`` processes on one Postgres database, as behind a load balancer:
identical deliveries split across them make one message, every job runs once, a killed
server's job is taken over, a job of a runner on another host after its lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import db
from tests.conftest import free_port, load_payload
from tests.process_helpers import ROOT, command, environment, run

pytestmark = pytest.mark.slow
LEASE = 5  # the shortest lease the settings allow


class PgServer:
    def __init__(self, url: str, logs: Path, **extra: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        logs.mkdir(parents=True, exist_ok=True)
        self.err = logs / f"serve-{port}.err"
        env = environment(url, LEADHOOK_JOB_LEASE_SECONDS=str(LEASE), **extra)
        with open(logs / f"serve-{port}.out", "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                command("serve", "--port", str(port)), cwd=ROOT, env=env, stdout=out, stderr=err
            )

    def wait_ready(self, timeout: float = 60) -> PgServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.err.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become ready: {self.err.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def workspace_url(pg_empty_url):
    """A migrated database (by ``leadhook db migrate``) with one workspace: (url, token)."""
    assert run(pg_empty_url, "db", "migrate").returncode == 0
    added = run(pg_empty_url, "clients", "add", "--name", "Shared", "--ghl-location-id",
                "loc_AbC123", "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    return pg_empty_url, json.loads(added.stdout)["token"]


@pytest.fixture
def servers(request):
    started: list[PgServer] = []
    yield started
    for server in started:
        server.stop()


def ghl(n: int | str) -> dict:
    payload = load_payload("ghl_sms_workflow.json")
    payload["message"]["body"] = payload["customData"]["Message"] = f"Yes, call me {n}"
    return payload


def post(server: PgServer, token: str, payload: dict) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/webhooks/ghl/sms",
        json=payload,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_servers_store_identical_deliveries_once_and_run_each_job_once(
    workspace_url, servers, tmp_path
):
    url, token = workspace_url
    servers += [PgServer(url, tmp_path / "logs"), PgServer(url, tmp_path / "logs")]
    for server in servers:
        server.wait_ready()
    same = ghl("same")
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: post(servers[i % 2], token, same), range(32)))
        distinct = list(pool.map(lambda i: post(servers[i % 2], token, ghl(i)), range(40)))
    assert all(a.status_code == 200 for a in answers + distinct)
    bodies = [a.json() for a in answers]
    assert sum(b["deduped"] is False for b in bodies) == 1
    assert len({b["messageId"] for b in bodies}) == 1
    store = db.open_store(url, apply_migrations=False)
    try:
        assert store.sync.console_overview(now=db.iso(db.utcnow()))["messages_total"] == 41

        def all_done():
            stats = store.sync.job_stats(now=db.iso(db.utcnow()))["by_status"]
            return stats["PENDING"] == stats["RUNNING"] == 0 and stats["SUCCEEDED"] >= 82

        wait_for(all_done, 60, "every job to finish")
        jobs = store.sync.list_jobs(limit=500)
        assert len(jobs) == 82  # a post-process and a scoring job per message
        assert {j["status"] for j in jobs} == {"SUCCEEDED"}
        assert {j["attempts"] for j in jobs} == {1}  # none ran twice
        rows = store.sync.list_interactions(feature_id="sentiment.classify")
        per_job = [r["background_job_id"] for r in rows]
        assert len(per_job) == len(set(per_job))  # one classification per job, no repeat
    finally:
        store.close()
    logs = "".join(s.err.read_text() for s in servers)
    assert "Traceback" not in logs


def test_a_killed_server_s_job_is_taken_over_by_the_other(workspace_url, servers, tmp_path):
    from tests.fake_openai import FakeOpenAI

    url, token = workspace_url
    with FakeOpenAI() as fake:
        fake.answer_delay = 120  # the first server's AI call never returns in time
        first = PgServer(
            url,
            tmp_path / "logs",
            LEADHOOK_AI_PROVIDER="openai",
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=fake.base_url,
        )
        servers.append(first)
        first.wait_ready()
        assert post(first, token, ghl("kill")).status_code == 200
        store = db.open_store(url, apply_migrations=False)
        try:

            def running():
                found = store.sync.list_jobs(status="RUNNING")
                return found[0] if found else None

            job = wait_for(running, 30, "the first server to claim the job")
            assert f":{first.process.pid}:" in job["locked_by"]
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait()
            killed_at = time.monotonic()
            second = PgServer(url, tmp_path / "logs")  # the offline provider answers at once
            servers.append(second)
            second.wait_ready()

            def finished():
                found = store.sync.get_job(job["id"])
                return found if found["status"] == "SUCCEEDED" else None

            done = wait_for(finished, 30, "the second server to take the job over")
            assert done["attempts"] == 2 and "recovered" not in (done["last_error"] or "")
            assert time.monotonic() - killed_at < LEASE + 20
        finally:
            store.close()


def test_a_job_of_a_runner_on_another_host_is_taken_over_after_its_lease(
    workspace_url, servers, tmp_path
):
    url, token = workspace_url
    store = db.open_store(url, apply_migrations=False)
    try:
        [client] = store.sync.list_clients()
        message = db.NewMessage(
            client_id=client.id, channel="sms", direction="inbound", body="Interested",
            sent_at=db.iso(db.utcnow()), received_at=db.iso(db.utcnow()), source="test",
            dedupe_column="webhook_dedupe_key", dedupe_value="other-host",
            job_type=db.vocab.SMS_INBOUND_POST_PROCESS,
        )  # fmt: skip
        stored = store.sync.ingest(client.id, db.hash_token(token), message, db.LeadFields())
        [claimed] = store.sync.claim_jobs(
            runner_id="db-host-2:4242:cafe", now=db.iso(db.utcnow()), limit=1
        )
        claimed_at = time.monotonic()
        server = PgServer(url, tmp_path / "logs")
        servers.append(server)
        server.wait_ready()
        time.sleep(max(0.0, LEASE / 2 - (time.monotonic() - claimed_at)))
        assert store.sync.get_job(stored.job_id)["status"] == "RUNNING"  # its lease holds

        def finished():
            found = store.sync.get_job(stored.job_id)
            return found if found["status"] == "SUCCEEDED" else None

        done = wait_for(finished, LEASE + 30, "the job to be taken over after its lease")
        assert done["attempts"] == claimed["attempts"] + 1
        assert time.monotonic() - claimed_at >= LEASE
    finally:
        store.close()
