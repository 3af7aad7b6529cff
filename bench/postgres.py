"""Postgres benchmark: ingest with one and two processes against SQLite, and job drain.

- ingest: the GoHighLevel route driven by wrk (unique ~1 KB payloads, runner off), on SQLite
  with one process (the baseline), on Postgres with one process and with two processes on
  one database (two wrk runs at once, half the connections each; req/s summed);
- drain: N messages stored with their jobs while no server runs, then servers started with
  the runner on (offline AI) until every job (post-process and scoring: 2N) succeeded;
  jobs/s over the window from the first job's start to the last one's finish, SQLite with
  one process, Postgres with one and with two.

Postgres is ``$LEADHOOK_BENCH_PG_DSN`` (a role that may create databases), else a throwaway
cluster with fsync on (``tests/pg_cluster.py``), so both backends are durable: SQLite
``synchronous=FULL``, Postgres ``fsync=on, synchronous_commit=on``.

    python -m bench.postgres [--seconds 8] [--connections 64] [--jobs 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

import db
from bench import _servers, _wrk
from db.vocab import SMS_INBOUND_POST_PROCESS

ROUTE = "/api/webhooks/ghl/sms"
IDLE = {"LEADHOOK_SCHEDULER_ENABLED": "0"}


@contextlib.contextmanager
def postgres_server():
    dsn = os.environ.get("LEADHOOK_BENCH_PG_DSN", "").strip()
    if dsn:
        yield dsn
        return
    from tests.pg_cluster import throwaway, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        raise SystemExit(f"no PostgreSQL for the benchmark: {reason}")
    with throwaway(durable=True) as cluster:
        yield cluster.dsn


_count = iter(range(1, 1_000_000))


@contextlib.contextmanager
def fresh_database(dsn: str):
    name = f"leadhook_bench_{os.getpid()}_{next(_count)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def sqlite_target():
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp) / "bench.db"


def drive(urls: list[str], token: str, seconds: int, connections: int) -> _wrk.Result:
    """wrk on every URL at once (connections split); req/s summed, latencies the worst."""
    share = max(2, connections // len(urls))

    def one(url: str) -> _wrk.Result:
        return _wrk.run(url, ROUTE, seconds=seconds, connections=share, token=token)

    with ThreadPoolExecutor(len(urls)) as pool:
        results = list(pool.map(one, urls))
    return _wrk.Result(
        sum(r.requests_per_s for r in results),
        max(r.p50_ms for r in results),
        max(r.p99_ms for r in results),
        sum(r.requests for r in results),
        sum(r.errors for r in results),
    )


def ingest_case(target, processes: int, seconds: int, connections: int) -> _wrk.Result:
    token = _servers.add_workspace(target)
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(_servers.leadhook_server(target, **IDLE)) for _ in range(processes)
        ]
        drive(urls, token, 2, connections)  # warm-up
        return drive(urls, token, seconds, connections)


def seed(target, jobs: int) -> str:
    """``jobs`` inbound messages with their post-process jobs, stored through the store."""
    token = _servers.add_workspace(target)
    store = db.open_store(target)
    try:
        [client] = store.sync.list_clients()
        now = db.iso(db.utcnow())

        def one(n: int) -> None:
            message = db.NewMessage(
                client_id=client.id, channel="sms", direction="inbound",
                body=f"Yes, interested {n}", sent_at=now, received_at=now, source="bench",
                dedupe_column="webhook_dedupe_key", dedupe_value=f"bench:{n}",
                job_type=SMS_INBOUND_POST_PROCESS,
            )  # fmt: skip
            lead = db.LeadFields(ghl_contact_id=f"c-{n}")
            store.sync.ingest(client.id, db.hash_token(token), message, lead)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(jobs)))
    finally:
        store.close()
    return token


def drain_case(target, processes: int, jobs: int) -> float:
    seed(target, jobs)
    store = db.open_store(target, apply_migrations=False)
    try:
        with contextlib.ExitStack() as stack:
            for _ in range(processes):
                stack.enter_context(_servers.leadhook_server(target))
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                stats = store.sync.job_stats(now=db.iso(db.utcnow()))["by_status"]
                if stats["SUCCEEDED"] >= 2 * jobs and not stats["PENDING"] + stats["RUNNING"]:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("the jobs did not drain in 10 minutes")
        finished = store.sync.list_jobs(limit=10 * jobs)
    finally:
        store.close()
    assert len(finished) == 2 * jobs and {j["attempts"] for j in finished} == {1}
    start = min(db.parse_iso(j["started_at"]) for j in finished)
    end = max(db.parse_iso(j["finished_at"]) for j in finished)
    return len(finished) / max((end - start).total_seconds(), 1e-6)


def measure(seconds: int, connections: int, jobs: int) -> dict:
    results: dict = {"ingest": [], "drain": []}
    with postgres_server() as dsn:
        with sqlite_target() as path:
            results["ingest"].append(
                ("SQLite, 1 process", ingest_case(path, 1, seconds, connections))
            )
        for processes in (1, 2):
            with fresh_database(dsn) as url:
                label = f"Postgres, {processes} process{'es' if processes > 1 else ''}"
                results["ingest"].append((label, ingest_case(url, processes, seconds, connections)))
        with sqlite_target() as path:
            results["drain"].append(("SQLite, 1 process", drain_case(path, 1, jobs)))
        for processes in (1, 2):
            with fresh_database(dsn) as url:
                label = f"Postgres, {processes} process{'es' if processes > 1 else ''}"
                results["drain"].append((label, drain_case(url, processes, jobs)))
    return results


def report(results: dict, connections: int, jobs: int) -> str:
    ingest = results["ingest"]
    base = ingest[0][1].requests_per_s
    lines = [
        f"ingest at {connections} connections (wrk, unique payloads, runner off, durable commits)",
        f"{'case':<24} {'req/s':>9} {'x SQLite':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}",
    ]
    for label, r in ingest:
        lines.append(
            f"{label:<24} {r.requests_per_s:>9.0f} {r.requests_per_s / base:>9.2f} "
            f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors:>7}"
        )
    drain = results["drain"]
    lines += [
        f"job drain: {2 * jobs} jobs (post-process + scoring, offline AI), every job once",
        f"{'case':<24} {'jobs/s':>9} {'x SQLite':>9}",
    ]
    for label, rate in drain:
        lines.append(f"{label:<24} {rate:>9.0f} {rate / drain[0][1]:>9.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    if not _wrk.have_wrk():
        raise SystemExit("wrk is not installed: apt-get install wrk")
    print(report(measure(args.seconds, args.connections, args.jobs), args.connections, args.jobs))


if __name__ == "__main__":
    main()
