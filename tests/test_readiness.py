"""GET /readyz tells the truth: a full disk, a write lock another process holds, a writer whose
writes keep being refused and a lost server lock are each 503 with the failing check named;
it is 200 again once the cause is gone."""

from __future__ import annotations

import os
import re
import sqlite3
import time

import httpx
import pytest

import db
from tests.conftest import load_payload, open_file
from tests.ledger_helpers import ledger_rows

GHL = "/api/webhooks/ghl/sms"


def readyz(live) -> tuple[int, dict]:
    response = httpx.get(f"{live.url}/readyz", timeout=30)
    return response.status_code, response.json()["checks"]


def deliver(live, workspace, body: str, contact: str) -> httpx.Response:
    data = load_payload("ghl_sms_workflow.json")
    data["contact_id"] = contact
    data["message"]["body"] = body
    return httpx.post(f"{live.url}{GHL}", json=data, headers=workspace.auth, timeout=30)


def set_max_pages(writer, pages: int) -> None:
    """``max_page_count`` is per connection: set it on the writer's, the one that writes."""
    writer.write_sync(lambda d: d.execute(f"PRAGMA max_page_count = {pages}").fetchall())


def test_a_full_database_is_503_disk_and_failing_writes_503_writer(serve, workspace, database):
    live = serve(scheduler_enabled=False)
    writer = live.app.state.store.writer
    assert readyz(live)[0] == 200
    set_max_pages(writer, database.execute("PRAGMA page_count").fetchone()[0])

    status, checks = readyz(live)
    assert status == 503
    assert checks["disk"].startswith("full: the database reached its size limit")
    assert checks["database"] == "ok"  # a small write still fits: only the disk check knows

    refused = [deliver(live, workspace, "a long reply " * 10_000, f"c{i}") for i in range(3)]
    assert [r.status_code for r in refused] == [429, 429, 429]
    status, checks = readyz(live)
    assert status == 503
    # The three deliveries, and the ledger rows of their 429s (kept, written again later).
    refusals = re.match(r"failing: the last (\d+) writes were refused", checks["writer"])
    assert refusals and 3 <= int(refusals.group(1)) <= 6, checks["writer"]
    assert "full" in checks["writer"]

    set_max_pages(writer, 1_073_741_823)
    assert deliver(live, workspace, "a short reply", "c-ok").status_code == 200
    assert readyz(live) == (
        200,
        {"database": "ok", "disk": "ok", "writer": "ok", "scheduler": "disabled"},
    )


def test_a_filesystem_without_free_space_is_503_disk(serve, workspace, db_path):
    live = serve(scheduler_enabled=False)
    stat = os.statvfs(db_path.parent)
    free = stat.f_bavail * stat.f_frsize
    live.app.state.store.disk_free_min_bytes = free + 2**40  # this filesystem is "full"
    status, checks = readyz(live)
    assert status == 503
    assert checks["disk"].startswith("full: ")
    assert "MiB free on the filesystem of" in checks["disk"]
    live.app.state.store.disk_free_min_bytes = 0
    assert readyz(live)[0] == 200


def test_a_write_lock_held_by_another_process_is_503_database_in_time(serve, workspace, db_path):
    # The default busy timeout (5 s) must not stretch the probe past its own 2 s.
    live = serve(scheduler_enabled=False, write_timeout_seconds=1.0)
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        status, checks = readyz(live)
        elapsed = time.monotonic() - started
        refused = [deliver(live, workspace, "yes", f"c{i}") for i in range(3)]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert status == 503
    assert checks["database"].startswith("not writable: ")
    assert "another process holds the write lock" in checks["database"]
    assert elapsed < 2.5
    assert [r.status_code for r in refused] == [429, 429, 429]
    # The 429s' ledger rows waited for the lock and commit once it is free: the writer takes
    # writes again, and says so.
    found = ledger_rows(open_file(db_path), 3)
    assert [(r["status_code"], r["client_id"]) for r in found] == [(429, workspace.id)] * 3
    status, checks = readyz(live)
    assert checks["database"] == checks["writer"] == "ok"
    assert deliver(live, workspace, "yes", "c-ok").status_code == 200
    assert readyz(live)[0] == 200


def test_a_server_lock_whose_file_was_removed_is_503_lock(serve, workspace, db_path):
    lock = db.hold_server_lock(db_path, command="pytest")
    try:
        live = serve(scheduler_enabled=False)
        assert readyz(live) == (
            200,
            {"database": "ok", "disk": "ok", "writer": "ok", "lock": "ok", "scheduler": "disabled"},
        )
        lock.path.unlink()
        status, checks = readyz(live)
        assert status == 503
        assert checks["lock"].startswith("lost: ")
        assert "a second server could start" in checks["lock"]
    finally:
        lock.release()


@pytest.mark.anyio
async def test_store_ready_raises_naming_the_failing_check(store, db_path):
    await store.ready()  # all fine
    store.disk_free_min_bytes = 2**62
    with pytest.raises(db.DatabaseUnavailable, match=r"^disk: full: "):
        await store.ready()
