"""Acknowledged means committed: SIGKILL the server mid-traffic, every 2xx survives, with its
job and its ledger row (one transaction)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, load_payload

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def leadhook(db_path: Path, *args: str, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "LEADHOOK_DB": str(db_path), "LEADHOOK_AI_PROVIDER": "offline"}
    env.pop("OPENAI_API_KEY", None)
    command = [sys.executable, "-c", "import cli; cli.main()", *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)


def start_server(db_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = leadhook(db_path, "serve", "--port", str(port), background=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


def test_sigkill_loses_no_acknowledged_delivery(tmp_path):
    db_path = tmp_path / "crash.db"
    leadhook(db_path, "db", "migrate")  # only serve and db migrate create a database
    created = json.loads(
        leadhook(
            db_path,
            "clients",
            "add",
            "--name",
            "Crash",
            "--ghl-location-id",
            "loc_AbC123",
            "--json",
        ).stdout
    )
    headers = {"Authorization": f"Bearer {created['token']}"}
    acknowledged: list[tuple[str, int]] = []
    rng = random.Random(7)
    for round_ in range(3):
        process, url = start_server(db_path)
        stop = threading.Event()
        lock = threading.Lock()

        def deliver(
            worker: int, url: str = url, round_: int = round_, stop=stop, lock=lock
        ) -> None:
            with httpx.Client(base_url=url, timeout=5) as http:
                n = 0
                while not stop.is_set():
                    n += 1
                    contact = f"r{round_}-w{worker}-n{n}"
                    data = load_payload("ghl_sms_workflow.json")
                    data["contact_id"] = contact
                    data["message"]["body"] = f"reply {contact}"
                    try:
                        response = http.post("/api/webhooks/ghl/sms", json=data, headers=headers)
                    except httpx.HTTPError:
                        continue  # killed mid-request: not acknowledged
                    if response.status_code == 200:
                        with lock:
                            acknowledged.append((contact, response.json()["messageId"]))

        workers = [threading.Thread(target=deliver, args=(w,)) for w in range(12)]
        for worker in workers:
            worker.start()
        time.sleep(rng.uniform(0.4, 1.0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for worker in workers:
            worker.join(timeout=30)

    assert len(acknowledged) > 50, "the test delivered too little to mean anything"
    process, url = start_server(db_path)  # restart once more: the file opens and migrates
    try:
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
    import sqlite3

    conn = sqlite3.connect(db_path)
    stored = {row[0]: row[1] for row in conn.execute("SELECT body, id FROM messages")}
    jobs = {row[0] for row in conn.execute("SELECT message_id FROM background_jobs")}
    ledger = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT message_id, outcome, status_code, client_id FROM deliveries"
            " WHERE message_id IS NOT NULL"
        )
    }
    conn.close()
    for contact, message_id in acknowledged:
        assert stored.get(f"reply {contact}") == message_id, f"acknowledged {contact} is missing"
        assert message_id in jobs, f"acknowledged message {message_id} has no job"
        assert ledger.get(message_id) == ("stored", 200, created["id"]), (
            f"acknowledged message {message_id} has no ledger row"
        )
    # A row naming a message is there only with its message (the same transaction).
    assert set(ledger) <= set(stored.values())
