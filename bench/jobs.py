"""Job benchmark: our runner against Huey's SqliteHuey, and enqueue→start latency.

- drain: N no-op jobs already queued, drained by our runner (``synchronous=FULL``) running
  4, 8 and 16 jobs at once (4 is ``LEADHOOK_JOB_CONCURRENCY``'s default) and by a Huey
  consumer with as many worker threads on ``SqliteHuey(fsync=True)`` (the same durability);
  jobs/s and the ratio.
- latency: single GoHighLevel webhooks to an idle ``leadhook serve``; for each, the time from
  the message's receipt (``messages.received_at``) to its job's ``started_at``, p50 and p99.

    python -m bench.jobs [--jobs 2000] [--samples 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx

import db
from bench import _servers
from config import Settings
from db.sqlite import connect, ops
from scheduler import JobRegistry, Runner

NOOP = "BENCH_NOOP"


async def _noop(ctx) -> None:
    return None


def _queue_jobs(database, n: int) -> None:
    client, _ = ops.create_client(database, "Bench", db.iso(db.utcnow()), {})
    now = db.iso(db.utcnow())
    database.conn.execute("BEGIN IMMEDIATE")
    database.conn.executemany(
        "INSERT INTO background_jobs (type, status, dedupe_key, client_id, run_at, created_at,"
        " updated_at) VALUES (?, 'PENDING', ?, ?, ?, ?, ?)",
        ((NOOP, f"bench:{i}", client.id, now, now, now) for i in range(n)),
    )
    database.conn.execute("COMMIT")


def drain_ours(n: int, concurrency: int | None = None) -> float:
    registry = JobRegistry()
    registry.register(NOOP, _noop)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ours.db"
        db.open_store(path).close()  # a migrated file
        database = connect(path)
        _queue_jobs(database, n)
        settings = replace(Settings.from_env(), db_path=str(path))

        async def main() -> float:
            store = db.open_store(path)
            runner = Runner(store, settings, registry=registry, concurrency=concurrency)
            started = time.perf_counter()
            await runner.start()
            while runner.totals.succeeded < n:  # counted after each result's commit
                await asyncio.sleep(0.002)
            elapsed = time.perf_counter() - started
            await runner.stop()
            store.close()
            left = database.execute(
                "SELECT COUNT(*) FROM background_jobs WHERE status != 'SUCCEEDED'"
            ).fetchone()[0]
            assert left == 0, f"{left} jobs not SUCCEEDED"
            return elapsed

        elapsed = asyncio.run(main())
        database.close()
    return n / elapsed


def drain_huey(n: int, workers: int = 4) -> float:
    from huey import SqliteHuey
    from huey.consumer import Consumer

    with tempfile.TemporaryDirectory() as tmp:
        huey = SqliteHuey("bench", filename=str(Path(tmp) / "huey.db"), fsync=True)
        done = 0
        lock = threading.Lock()
        finished = threading.Event()

        @huey.task()
        def noop() -> None:
            nonlocal done
            with lock:
                done += 1
                if done == n:
                    finished.set()

        for _ in range(n):
            noop()
        consumer = Consumer(
            huey,
            workers=workers,
            periodic=False,
            initial_delay=0.001,
            max_delay=0.01,
            check_worker_health=False,
        )
        started = time.perf_counter()
        consumer.start()
        finished.wait(timeout=600)
        elapsed = time.perf_counter() - started
        consumer.stop(graceful=True)
    return n / elapsed


def enqueue_to_start(samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "latency.db"
        token = _servers.add_workspace(path, location="loc_bench")
        latencies = []
        with _servers.leadhook_server(path) as url, httpx.Client(base_url=url) as http:
            reader = sqlite3.connect(path)
            for i in range(samples):
                body = {
                    "contact_id": f"lat-{i}",
                    "location": {"id": "loc_bench"},
                    "message": {"body": f"latency probe {i}"},
                }
                message_id = http.post(
                    "/api/webhooks/ghl/sms", json=body, headers={"Authorization": f"Bearer {token}"}
                ).json()["messageId"]
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    row = reader.execute(
                        "SELECT m.received_at, j.started_at FROM messages m JOIN background_jobs j"
                        " ON j.message_id = m.id AND j.type = 'SMS_INBOUND_POST_PROCESS'"
                        " WHERE m.id = ?",
                        (message_id,),
                    ).fetchone()
                    if row and row[1]:
                        gap = db.parse_iso(row[1]) - db.parse_iso(row[0])
                        latencies.append(gap.total_seconds() * 1000)
                        break
                    time.sleep(0.002)
                time.sleep(0.05)  # idle between samples
            reader.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    print(f"job drain: {args.jobs} no-op jobs, synchronous=FULL / fsync=True")
    print(f"{'jobs at once':>12} {'huey jobs/s':>12} {'leadhook jobs/s':>16} {'x huey':>7}")
    for concurrency in (4, 8, 16):  # 4 is LEADHOOK_JOB_CONCURRENCY's default
        ours = drain_ours(args.jobs, concurrency)
        theirs = drain_huey(args.jobs, workers=concurrency)
        print(f"{concurrency:>12} {theirs:>12.0f} {ours:>16.0f} {ours / theirs:>7.2f}")
    print("(target: >= 2.0x; huey runs that many worker threads, leadhook that many jobs)")
    lat = enqueue_to_start(args.samples)
    print(
        f"enqueue->start on an idle server ({len(lat)} webhooks): "
        f"p50 {statistics.median(lat):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms "
        "(target p50 <= 10 ms; timestamps have 1 ms resolution)"
    )


if __name__ == "__main__":
    main()
