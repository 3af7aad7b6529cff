"""Helpers of the job-runner tests: a clock tests move by hand, job seeding, test job types.

Also the entry points of the process-level tests, run as ``python -m tests.job_helpers ...``:

- ``drain DB_PATH``: a runner in its own process drains the queue (two of them race);
- ``serve DB_PATH PORT``: the real ``leadhook serve`` command, with the test job types
  registered first (importing this module registers them in the product's registry,
  ``JOB_HANDLERS``; nothing in the product changes).

Runners made by tests outside a server get their own registry: :func:`registry_of_test_jobs`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import ai
import db
from config import Settings
from scheduler import JobRegistry, JobRunContext, Runner
from scheduler._lifespan import scheduled_runner
from scheduler._registry import JOB_HANDLERS
from tests.conftest import rows

START = datetime(2026, 1, 18, 10, 0, 0, tzinfo=UTC)

# Test job types (registered below, on import).
RECORD = "TEST_RECORD"  # records its run in test_job_runs and succeeds
BLOCK = "TEST_BLOCK"  # records its start; blocks while $LEADHOOK_TEST_BLOCK is set, then records


class FakeClock:
    """An aware UTC clock that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def iso(self, delta_seconds: float = 0) -> str:
        return db.iso(self.now + timedelta(seconds=delta_seconds))


RUNS_TABLE = """CREATE TABLE IF NOT EXISTS test_job_runs (
    id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, attempt INTEGER, phase TEXT,
    runner TEXT, pid INTEGER, source TEXT, thread_source TEXT, at REAL)"""


def create_runs_table(database) -> None:
    database.execute(RUNS_TABLE)


def _record(database, row: dict) -> None:
    database.execute(
        "INSERT INTO test_job_runs (job_id, attempt, phase, runner, pid, source, thread_source, at)"
        " VALUES (:job_id, :attempt, :phase, :runner, :pid, :source, :thread_source, :at)",
        row,
    )


async def record_run(ctx: JobRunContext, phase: str = "run") -> None:
    thread_source = await ai.run_in_thread(ai.current_source)
    job = ai.current_job()
    await ctx.store.writer.write(  # the SQLite backend's writer: test-only table
        _record,
        {
            "job_id": ctx.job["id"],
            "attempt": job.attempt if job else None,
            "phase": phase,
            "runner": ctx.job["locked_by"],
            "pid": os.getpid(),
            "source": ai.current_source(),
            "thread_source": thread_source,
            "at": time.time(),
        },
    )


async def record_handler(ctx: JobRunContext) -> None:
    # $LEADHOOK_TEST_JOB_SECONDS makes each job take that long: SQLite's lock is not fair, and
    # a runner that commits back to back can keep a second process from ever getting it.
    pause = float(os.environ.get("LEADHOOK_TEST_JOB_SECONDS") or 0)
    if pause:
        await asyncio.sleep(pause)
    await record_run(ctx)


async def block_handler(ctx: JobRunContext) -> None:
    await record_run(ctx, "start")
    while os.environ.get("LEADHOOK_TEST_BLOCK"):
        await asyncio.sleep(0.05)
    await record_run(ctx, "done")


TEST_HANDLERS = {RECORD: record_handler, BLOCK: block_handler}
for _type, _handler in TEST_HANDLERS.items():  # for the servers tests start
    JOB_HANDLERS.register(_type, _handler, replace=True)


def registry_of_test_jobs() -> JobRegistry:
    """A registry of the test job types only (RECORD, BLOCK), for a test's own runners."""
    registry = JobRegistry()
    for job_type, handler in TEST_HANDLERS.items():
        registry.register(job_type, handler)
    return registry


def runs(database, phase: str | None = None) -> list[dict]:
    sql = "SELECT * FROM test_job_runs" + (" WHERE phase = ?" if phase else "") + " ORDER BY id"
    return rows(database, sql, (phase,) if phase else ())


def insert_jobs(
    database,
    client_id: int,
    n: int = 1,
    *,
    job_type: str = RECORD,
    run_at: str | None = None,
    status: str = "PENDING",
    max_attempts: int = 5,
    key_prefix: str = "test",
    **columns: Any,
) -> list[int]:
    """Insert ``n`` jobs directly (no message needed); returns their ids in order."""
    now = run_at or db.iso(START)
    names = ["type", "status", "dedupe_key", "client_id", "run_at", "max_attempts"]
    names += ["created_at", "updated_at", *columns]
    placeholders = ", ".join("?" for _ in names)
    start = database.execute("SELECT COALESCE(MAX(id), 0) FROM background_jobs").fetchone()[0]
    values: Iterable[tuple] = (
        (
            job_type,
            status,
            f"{key_prefix}:{start + i}:{job_type}",
            client_id,
            now,
            max_attempts,
            now,
            now,
            *columns.values(),
        )
        for i in range(n)
    )
    database.execute("BEGIN IMMEDIATE")
    database.conn.executemany(
        f"INSERT INTO background_jobs ({', '.join(names)}) VALUES ({placeholders})", values
    )
    database.execute("COMMIT")
    found = database.execute(
        "SELECT id FROM background_jobs WHERE id > ? ORDER BY id", (start,)
    ).fetchall()
    return [r[0] for r in found]


def job(database, job_id: int) -> dict:
    [found] = rows(database, "SELECT * FROM background_jobs WHERE id = ?", (job_id,))
    return found


def statuses(database) -> dict[str, int]:
    return {
        row[0]: row[1]
        for row in database.execute(
            "SELECT status, COUNT(*) FROM background_jobs GROUP BY status"
        ).fetchall()
    }


def seed_client(database) -> int:
    now = db.iso(START)
    cursor = database.execute(
        "INSERT INTO clients (name, token_hash, token_prefix, created_at, updated_at)"
        " VALUES ('Jobs', ?, 'lh_jobs', ?, ?)",
        (db.hash_token(f"jobs-{time.monotonic_ns()}"), now, now),
    )
    return cursor.lastrowid


# -- process entry points ---------------------------------------------------------------------


def drain(db_path: str, ready_path: str | None = None, concurrency: int = 8) -> None:
    """Run one runner until no job is PENDING or RUNNING (at most 120 s).

    ``ready_path``: a file created once the runner runs, so a test can release the jobs
    (make them due) only when every runner is ready to race for them.
    """

    async def main() -> None:
        store = db.open_store(db_path)
        settings = replace(Settings(db_path=db_path), job_poll_seconds=0.05)
        runner = Runner(store, settings, registry=registry_of_test_jobs(), concurrency=concurrency)
        reader = sqlite3.connect(db_path)
        try:
            async with scheduled_runner(runner, grace=5):  # the poll finds the released jobs
                if ready_path:
                    with open(ready_path, "w") as ready:
                        ready.write(runner.id)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    left = reader.execute(
                        "SELECT COUNT(*) FROM background_jobs"
                        " WHERE status IN ('PENDING', 'RUNNING')"
                    ).fetchone()[0]
                    if left == 0:
                        break
                    await asyncio.sleep(0.1)
        finally:
            reader.close()
            store.close()

    asyncio.run(main())


def drain_in_thread(db_path: str, ready_path: str, results: list) -> threading.Thread:
    def target() -> None:
        try:
            drain(db_path, ready_path)
            results.append("ok")
        except BaseException as exc:  # reported by the test
            results.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def wait_for(predicate, timeout: float = 30, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def release_jobs(database, now: str) -> None:
    """Make every PENDING job due now (they are seeded far in the future, held back)."""
    database.execute("UPDATE background_jobs SET run_at = ? WHERE status = 'PENDING'", (now,))


HELD_BACK = "2999-01-01T00:00:00.000Z"


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "drain":
        drain(args[0], args[1])
    elif command == "serve":
        import cli

        os.environ["LEADHOOK_DB"] = args[0]
        sys.argv = ["leadhook", "serve", "--port", args[1]]
        cli.main()
    else:
        raise SystemExit(f"unknown command {command}")
