"""Backup and restore as docs/deploy.md tells an operator: back up while the server runs and
writes, stop it, put the backup in place of the database (and remove the old -wal/-shm),
check it, start again: everything acknowledged before the backup is there, and a provider's
redelivery of it is a duplicate. Real processes."""

from __future__ import annotations

import json
import subprocess
import threading

import httpx
import pytest

from tests.conftest import free_port, load_payload, open_file
from tests.process_helpers import Server, run

pytestmark = pytest.mark.slow


def delivery(n: int) -> dict:
    data = load_payload("ghl_sms_workflow.json")
    data["contact_id"] = f"contact-{n}"
    data["message"]["body"] = f"reply {n}"
    return data


def test_backup_while_serving_then_restore(tmp_path):
    db_path = tmp_path / "data" / "leadhook.db"
    assert run(db_path, "db", "migrate").returncode == 0
    added = run(
        db_path, "clients", "add", "--name", "Acme", "--ghl-location-id", "loc_AbC123", "--json"
    )
    headers = {"Authorization": f"Bearer {json.loads(added.stdout)['token']}"}
    server = Server(db_path, free_port(), logs=tmp_path / "logs").wait_ready()
    acknowledged: dict[int, int] = {}
    stop = threading.Event()

    def keep_delivering() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            n = 1000
            while not stop.is_set():
                n += 1
                response = http.post("/api/webhooks/ghl/sms", json=delivery(n), headers=headers)
                assert response.status_code == 200

    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for n in range(30):
                response = http.post("/api/webhooks/ghl/sms", json=delivery(n), headers=headers)
                acknowledged[n] = response.json()["messageId"]
        writer = threading.Thread(target=keep_delivering)
        writer.start()
        backup = tmp_path / "backups" / "leadhook-before-upgrade.db"
        made = run(db_path, "db", "backup", str(backup))
        stop.set()
        writer.join(timeout=30)
    finally:
        stop.set()
        server.stop()
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backup written: {backup} (")

    # Restore, step by step as docs/deploy.md says (the server is stopped).
    for suffix in ("", "-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    subprocess.run(["cp", "-p", str(backup), str(db_path)], check=True)
    checked = run(db_path, "db", "check")
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.startswith("ok: integrity, foreign keys, migrations")

    restarted = Server(db_path, free_port(), logs=tmp_path / "logs2").wait_ready()
    try:
        assert "1 workspace, schema up to date" in restarted.stdout
        with httpx.Client(base_url=restarted.url, timeout=30) as http:
            again = http.post("/api/webhooks/ghl/sms", json=delivery(7), headers=headers).json()
            fresh = http.post("/api/webhooks/ghl/sms", json=delivery(99_999), headers=headers)
    finally:
        restarted.stop()
    assert (again["deduped"], again["messageId"]) == (True, acknowledged[7])
    assert fresh.status_code == 200 and fresh.json()["deduped"] is False
    stored = {
        body: message_id
        for body, message_id in open_file(db_path).execute("SELECT body, id FROM messages")
    }
    for n, message_id in acknowledged.items():
        assert stored[f"reply {n}"] == message_id
