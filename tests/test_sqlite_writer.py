"""The SQLite backend's group-committing writer: isolation of units, durability settings,
refusing in time (and the 429 a webhook answers then)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import db
from db.sqlite import ops
from db.sqlite._writer import Writer
from tests.conftest import all_counts, load_payload


@pytest.fixture
def writer(db_path, database):
    writer = Writer(db_path, busy_timeout_ms=200)
    yield writer
    writer.close()


def insert_client(database, name: str) -> int:
    client, _ = ops.create_client(database, name, "2026-01-01T00:00:00.000Z", {})
    return client.id


def fail(database) -> None:
    insert_client(database, "doomed")
    raise ValueError("this unit fails")


def test_pragmas(writer):
    conn = writer._writer_db
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 200
    reader = writer.reader()
    assert reader.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_failing_unit_does_not_fail_the_others(writer, database):
    # Submit many units at once so that they share batches; every third one fails.
    futures = []
    for i in range(60):
        if i % 3 == 0:
            futures.append(writer.submit(fail))
        else:
            futures.append(writer.submit(insert_client, f"c{i}"))
    results = []
    for i, future in enumerate(futures):
        if i % 3 == 0:
            with pytest.raises(ValueError, match="this unit fails"):
                future.result(timeout=10)
        else:
            results.append(future.result(timeout=10))
    names = [r[0] for r in database.execute("SELECT name FROM clients ORDER BY id")]
    assert names == [f"c{i}" for i in range(60) if i % 3]
    assert "doomed" not in names
    assert writer.units == 60
    assert writer.batches < 60  # they were grouped


def test_concurrent_writers_are_group_committed(writer, database):
    with ThreadPoolExecutor(max_workers=32) as pool:
        ids = list(pool.map(lambda i: writer.write_sync(insert_client, f"t{i}"), range(400)))
    assert len(set(ids)) == 400
    assert database.execute("SELECT COUNT(*) FROM clients").fetchone()[0] == 400
    assert writer.batches < 400


def test_an_integrity_error_is_the_units_own(writer, database):
    writer.write_sync(insert_client, "a")
    dup = writer.submit(
        lambda d: d.execute(
            "INSERT INTO clients (id, name, token_hash, token_prefix, created_at,"
            " updated_at) VALUES (1, 'x', 'h', 'p', 'n', 'n')"
        )
    )
    with pytest.raises(sqlite3.IntegrityError):
        dup.result(timeout=10)
    assert writer.write_sync(insert_client, "b") == 2


def test_locked_database_is_refused_in_time_and_nothing_is_written(writer, db_path, database):
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(db.DatabaseUnavailable):
            writer.write_sync(insert_client, "late", timeout=0.5)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # The refused unit is never run later, even though the lock is gone now.
    assert writer.write_sync(insert_client, "after") == 1
    assert [r[0] for r in database.execute("SELECT name FROM clients")] == ["after"]


@pytest.mark.anyio
async def test_write_is_awaitable_without_blocking_the_loop(writer, database):
    ticks = 0
    done = threading.Event()

    async def ticker():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    for i in range(20):
        await writer.write(insert_client, f"a{i}")
    done.set()
    await task
    assert ticks > 0
    assert (
        await writer.read(lambda d: d.execute("SELECT COUNT(*) FROM clients").fetchone()[0]) == 20
    )


def test_closed_writer_refuses(db_path, database):
    writer = Writer(db_path)
    writer.close()
    with pytest.raises(db.DatabaseUnavailable):
        writer.submit(insert_client, "x")


# -- over HTTP: 429 with Retry-After when the write cannot be committed ----------------------


def test_webhook_answers_429_when_the_database_is_locked(serve, workspace, db_path, database):
    live = serve(scheduler_enabled=False, busy_timeout_ms=200, write_timeout_seconds=0.5)
    before = all_counts(database)
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            response = http.post(
                "/api/webhooks/ghl/sms",
                json=load_payload("ghl_sms_workflow.json"),
                headers=workspace.auth,
            )
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["success"] is False
    assert all_counts(database) == before
    with httpx.Client(base_url=live.url, timeout=30) as http:
        again = http.post(
            "/api/webhooks/ghl/sms",
            json=load_payload("ghl_sms_workflow.json"),
            headers=workspace.auth,
        )
    assert again.status_code == 200
    assert again.json()["deduped"] is False


def test_webhook_answers_429_when_the_disk_is_full(serve, workspace, database):
    live = serve(scheduler_enabled=False)
    writer = live.app.state.store.writer
    before = all_counts(database)
    pages = database.execute("PRAGMA page_count").fetchone()[0]
    writer.write_sync(lambda d: d.execute(f"PRAGMA max_page_count = {pages}").fetchall())
    data = load_payload("ghl_sms_workflow.json")
    data["message"]["body"] = "a long reply " * 10_000  # needs new pages
    with httpx.Client(base_url=live.url, timeout=30) as http:
        response = http.post("/api/webhooks/ghl/sms", json=data, headers=workspace.auth)
    assert response.status_code == 429, response.text
    assert all_counts(database) == before
    writer.write_sync(lambda d: d.execute("PRAGMA max_page_count = 1073741823").fetchall())
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert (
            http.post("/api/webhooks/ghl/sms", json=data, headers=workspace.auth).status_code == 200
        )


@pytest.mark.anyio
async def test_a_wedged_writer_does_not_hang_the_caller(writer):
    release = threading.Event()
    blocker = writer.submit(lambda database: release.wait(10))  # the writer is stuck here
    started = time.monotonic()
    try:
        with pytest.raises(db.DatabaseUnavailable, match="not committed in time"):
            await writer.write(insert_client, "waits", timeout=0.2)
    finally:
        release.set()
    assert time.monotonic() - started < 3
    blocker.result(timeout=10)


# -- the bound of a 429: the busy timeout never stacks on the write timeout ------------------


def staggered_posts(url: str, workspace, n: int, gap: float) -> list[tuple[int, float]]:
    """``n`` deliveries, one every ``gap`` seconds, each on its own thread and connection:
    ``(status, seconds until answered)`` of each."""
    results: list[tuple[int, float]] = [(0, 0.0)] * n

    def one(i: int) -> None:
        data = load_payload("ghl_sms_workflow.json")
        data["contact_id"] = f"contact-{i}"
        started = time.monotonic()
        response = httpx.post(
            f"{url}/api/webhooks/ghl/sms", json=data, headers=workspace.auth, timeout=60
        )
        results[i] = (response.status_code, time.monotonic() - started)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
        time.sleep(gap)
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize(
    "write_timeout",
    [pytest.param(2.0, id="2s"), pytest.param(8.0, id="8s-the-readme", marks=pytest.mark.slow)],
)
def test_a_locked_database_is_answered_429_within_the_write_timeout(
    serve, workspace, db_path, write_timeout
):
    """Before: each batch waited the whole busy timeout (5 s) for the lock, and requests
    queued behind it waited for the next batch's 5 s: up to 13 s for an 8 s timeout."""
    live = serve(scheduler_enabled=False, busy_timeout_ms=5000, write_timeout_seconds=write_timeout)
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        results = staggered_posts(live.url, workspace, n=8, gap=write_timeout / 8)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert [status for status, _ in results] == [429] * 8
    assert max(seconds for _, seconds in results) < write_timeout
    assert min(seconds for _, seconds in results) > write_timeout / 2  # it did wait


def test_a_write_waits_for_the_lock_no_longer_than_its_timeout(writer, db_path, database):
    slow = Writer(db_path, busy_timeout_ms=10_000)
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(db.DatabaseUnavailable, match="another process holds the write lock"):
            slow.write_sync(insert_client, "late", timeout=1.0)
        elapsed = time.monotonic() - started
        # A unit without a timeout waits the busy timeout; one queued after it is not stuck
        # behind that wait: it is answered at its own deadline.
        patient = slow.submit(insert_client, "patient")
        started = time.monotonic()
        with pytest.raises(db.DatabaseUnavailable):
            slow.write_sync(insert_client, "hurried", timeout=0.8)
        hurried = time.monotonic() - started
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert 0.5 < elapsed < 1.0
    assert hurried < 0.8
    assert patient.result(timeout=15) == 1  # the lock went before its 10 s were up
    slow.close()
