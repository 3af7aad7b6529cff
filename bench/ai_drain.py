"""AI drain benchmark: how fast queued replies are post-processed against a rate-limited
OpenAI-compatible server, alone and while ingest runs, and the memory of a large backlog.

Every case is ``leadhook serve`` (a subprocess, ``LEADHOOK_AI_PROVIDER=openai``) whose AI
calls go to ``bench/_fake_ai.py`` (asyncio, 127.0.0.1) answering after a latency, under a
requests-per-minute limit announced in OpenAI's ``x-ratelimit-*`` headers (429 with
``Retry-After`` past it). A GoHighLevel reply is three AI calls: sentiment and draft (its
inbound job), then the lead's score (the scoring job it queues).

- a: latency 0.5 s, a limit that does not bind (30,000 a minute): AI calls/s with the default
  settings, against 4 jobs at once (the old ``LEADHOOK_JOB_CONCURRENCY``; ``--no-baseline``).
- b: latency 0.3 s, 300 requests a minute, enforced over 1 s like OpenAI (``--burst-seconds``):
  a burst of 200 replies; drain time against the time the limit itself imposes, and 429s.
- c: a backlog draining as in (a); AI calls/s alone, with wrk posting GoHighLevel webhooks at
  64 connections, and alone again; the ingest rate and p99 of that row. Needs wrk.
- d: RSS of the server draining a backlog of 100,000 jobs (offline AI), against an idle one,
  and how fast it drains them (jobs/s, the server's CPU a job).

Drain times come from the database (first reply received → last job finished).

    python -m bench.ai_drain [--cases abcd] [--replies-b 200 --rpm-b 300] [--window 10]
                             [--memory-jobs 100000 --memory-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

import db
from bench import _servers, _wrk
from config import Settings

ROUTE = "/api/webhooks/ghl/sms"
LOCATION = "loc_bench"
CALLS_PER_REPLY = 3


@contextmanager
def fake_ai(latency: float, rpm: float, tpm: float | None = None, burst_seconds: float = 1.0):
    port = _servers.free_port()
    args = ["--port", str(port), "--latency", str(latency), "--rpm", str(rpm)]
    args += ["--burst-seconds", str(burst_seconds), "--max-seconds", "3600"]
    if tpm:
        args += ["--tpm", str(tpm)]
    process = subprocess.Popen([sys.executable, "-m", "bench._fake_ai", *args], cwd=_servers.ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        _servers._wait(f"{url}/stats", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def fake_stats(url: str) -> dict:
    return httpx.get(f"{url}/stats").json()


@contextmanager
def leadhook(db_path: Path, ai_url: str | None, **extra: str):
    """``leadhook serve`` on ``db_path``, its AI on the fake at ``ai_url`` (offline: None);
    yields (url, pid)."""
    env = {"LEADHOOK_AI_PROVIDER": "offline"}
    if ai_url is not None:
        env = {"LEADHOOK_AI_PROVIDER": "openai", "OPENAI_BASE_URL": f"{ai_url}/v1"}
        env["OPENAI_API_KEY"] = "sk-bench"
    port = _servers.free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "import cli; cli.main()", "serve", "--port", str(port)],
        cwd=_servers.ROOT,
        env=_servers.env_for(db_path, **env, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _servers._wait(f"{url}/healthz", process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


def reply(i: int, tag: str = "r") -> dict:
    return {
        "contact_id": f"drain-{tag}-{i}",
        "first_name": "Jane",
        "phone": f"+1555{i:07d}",
        "location": {"id": LOCATION},
        "message": {"type": 2, "body": f"Sounds good, tell me more about the offer ({tag}{i})"},
    }


async def _post_all(url: str, token: str, n: int, tag: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                answer = await http.post(ROUTE, json=reply(i, tag), headers=headers)
                answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(16)))


def _counts(reader: sqlite3.Connection) -> dict[str, int]:
    found = dict(
        reader.execute("SELECT status, COUNT(*) FROM background_jobs GROUP BY status").fetchall()
    )
    calls = reader.execute(
        "SELECT COUNT(*) FROM ai_interactions WHERE status = 'success'"
    ).fetchone()[0]
    return {**found, "calls": calls}


def burst(ai_url: str, replies: int, timeout: float, **extra: str) -> dict:
    """Post ``replies`` GoHighLevel replies at once; wait until every job has finished.
    Returns seconds (first received → last finished), calls, errors, jobs failed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drain.db"
        token = _servers.add_workspace(path, location=LOCATION)
        with leadhook(path, ai_url, **extra) as (url, _):
            asyncio.run(_post_all(url, token, replies, "b"))
            reader = sqlite3.connect(path)
            deadline = time.monotonic() + timeout
            while True:
                counts = _counts(reader)
                done = counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0)
                if done >= 2 * replies or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            first, last = reader.execute(
                "SELECT (SELECT MIN(received_at) FROM messages),"
                " (SELECT MAX(finished_at) FROM background_jobs)"
            ).fetchone()
            errors = reader.execute(
                "SELECT COUNT(*) FROM ai_interactions WHERE status = 'error'"
            ).fetchone()[0]
            reader.close()
    seconds = (db.parse_iso(last) - db.parse_iso(first)).total_seconds()
    return {
        "seconds": seconds,
        "calls": counts["calls"],
        "errors": errors,
        "failed": counts.get("FAILED", 0),
        "finished": done >= 2 * replies,
    }


def _concurrency(args) -> dict[str, str]:
    """The environment of ``--concurrency`` (none: the default settings)."""
    return {"LEADHOOK_JOB_CONCURRENCY": str(args.concurrency)} if args.concurrency else {}


def case_a(args) -> None:
    default = args.concurrency or Settings().job_concurrency
    print(f"(a) latency {args.latency_a}s, {args.rpm_a:.0f} requests/min (not binding)")
    print(f"{'jobs at once':>14} {'replies':>8} {'AI calls':>9} {'seconds':>8} {'calls/s':>8}")
    rows = []
    runs = [(None, args.replies_a)]
    if not args.no_baseline:
        runs.insert(0, (4, args.baseline_replies))
    for concurrency, replies in runs:
        extra = (
            _concurrency(args)
            if concurrency is None
            else {"LEADHOOK_JOB_CONCURRENCY": str(concurrency)}
        )
        with fake_ai(args.latency_a, args.rpm_a) as ai_url:
            expected = replies * CALLS_PER_REPLY * args.latency_a / (concurrency or default)
            found = burst(ai_url, replies, timeout=30 + 5 * expected, **extra)
            stats = fake_stats(ai_url)
        rate = found["calls"] / found["seconds"]
        rows.append(rate)
        label = f"{concurrency or default}{'' if concurrency or args.concurrency else ' (default)'}"
        print(
            f"{label:>14} {replies:>8} {found['calls']:>9} {found['seconds']:>8.1f} {rate:>8.1f}"
            f"   (429s {stats['rate_limited']}, most in flight {stats['most_in_flight']})"
        )
    ratio = f"; {rows[-1] / rows[0]:.1f}x 4 jobs at once" if len(rows) > 1 else ""
    print(f"default settings: {rows[-1]:.1f} AI calls/s (target >= 40){ratio}")


def case_b(args) -> None:
    calls = args.replies_b * CALLS_PER_REPLY
    per_second = args.rpm_b / 60
    burst_capacity = max(1.0, args.rpm_b * min(args.burst_seconds, 60) / 60)
    imposed = max(0.0, calls - burst_capacity) / per_second + args.latency_b
    print(
        f"(b) latency {args.latency_b}s, {args.rpm_b:.0f} requests/min enforced over "
        f"{args.burst_seconds:g}s: {args.replies_b} replies = {calls} calls; the limit imposes "
        f"({calls} - {burst_capacity:.0f}) / {per_second:g} per s + {args.latency_b}s = "
        f"{imposed:.1f}s"
    )
    with fake_ai(args.latency_b, args.rpm_b, burst_seconds=args.burst_seconds) as ai_url:
        found = burst(ai_url, args.replies_b, timeout=60 + 3 * imposed, **_concurrency(args))
        stats = fake_stats(ai_url)
    share = stats["rate_limited"] / max(1, stats["requests"])
    print(
        f"drained in {found['seconds']:.1f}s = {found['seconds'] / imposed:.2f}x the limit's "
        f"time (target <= 1.25); {stats['rate_limited']} of {stats['requests']} requests "
        f"answered 429 = {share:.1%} (target <= 5 %); calls {found['calls']}, jobs failed "
        f"{found['failed']}{'' if found['finished'] else ', NOT FINISHED'}"
    )


def seed_backlog(path: Path, client_id: int, n: int) -> None:
    """``n`` GoHighLevel replies with their PENDING inbound jobs (bench data only)."""
    now = db.iso(db.utcnow())
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    first = conn.execute("SELECT COALESCE(MAX(id), 0) FROM leads").fetchone()[0] + 1
    conn.executemany(
        "INSERT INTO leads (client_id, ghl_contact_id, status, created_at, updated_at)"
        " VALUES (?, ?, 'new', ?, ?)",
        ((client_id, f"backlog-{i}", now, now) for i in range(n)),
    )
    conn.executemany(
        "INSERT INTO messages (client_id, lead_id, channel, direction, body, sent_at,"
        " received_at, source, webhook_dedupe_key, created_at)"
        " VALUES (?, ?, 'sms', 'inbound', ?, ?, ?, 'ghl', ?, ?)",
        (
            (client_id, first + i, f"Sounds good, tell me more ({i})", now, now, f"bk{i}", now)
            for i in range(n)
        ),
    )
    conn.execute(
        "INSERT INTO background_jobs (type, status, dedupe_key, client_id, lead_id, message_id,"
        " run_at, attempts, max_attempts, created_at, updated_at)"
        " SELECT 'SMS_INBOUND_POST_PROCESS', 'PENDING', client_id || ':' || id ||"
        " ':SMS_INBOUND_POST_PROCESS', client_id, lead_id, id, created_at, 0, 5, created_at,"
        " created_at FROM messages WHERE client_id = ?",
        (client_id,),
    )
    conn.execute("COMMIT")
    conn.close()


def _client_id(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT MIN(id) FROM clients").fetchone()[0]


def case_c(args) -> None:
    window = args.window
    print(
        f"(c) a backlog draining at latency {args.latency_a}s ({args.rpm_a:.0f}/min), "
        f"{window}s windows; ingest: wrk, {args.connections} connections, GoHighLevel webhooks"
    )
    with tempfile.TemporaryDirectory() as tmp, fake_ai(args.latency_a, args.rpm_a) as ai_url:
        path = Path(tmp) / "mixed.db"
        token = _servers.add_workspace(path, location=LOCATION)
        seed_backlog(path, _client_id(path), args.backlog)
        with leadhook(path, ai_url, **_concurrency(args)) as (url, _):
            reader = sqlite3.connect(path)
            time.sleep(3)  # warm-up: every slot busy
            rates = []
            for phase in ("alone", "ingest", "alone again"):
                before, started = _counts(reader)["calls"], time.monotonic()
                if phase == "ingest":
                    result = _wrk.run(
                        url,
                        ROUTE,
                        seconds=window,
                        connections=args.connections,
                        token=token,
                        location=LOCATION,
                    )
                else:
                    time.sleep(window)
                calls = _counts(reader)["calls"] - before
                rates.append(calls / (time.monotonic() - started))
            reader.close()
    alone = (rates[0] + rates[2]) / 2
    print(
        f"drain alone {rates[0]:.1f} and {rates[2]:.1f} AI calls/s; with ingest {rates[1]:.1f} "
        f"= {rates[1] / alone:.2f}x alone (target >= 0.80)"
    )
    print(
        f"ingest in that row: {result.requests_per_s:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, errors {result.errors} (the ingest target: p99 <= 50 ms)"
    )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def case_d(args) -> None:
    where = "the fake AI server" if args.memory_fake else "offline AI"
    print(
        f"(d) RSS of the server ({where}) over {args.memory_seconds}s: idle, and draining a "
        f"backlog of {args.memory_jobs} jobs"
    )
    with fake_ai(args.latency_a, args.rpm_a) as ai_url:
        for label, jobs in (("idle", 0), ("backlog", args.memory_jobs)):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "memory.db"
                _servers.add_workspace(path, location=LOCATION)
                if jobs:
                    seed_backlog(path, _client_id(path), jobs)
                server = leadhook(path, ai_url if args.memory_fake else None, **_concurrency(args))
                with server as (_, pid):
                    reader = sqlite3.connect(path)
                    samples, started = [], time.monotonic()
                    cpu = _servers.cpu_seconds(pid)
                    while (elapsed := time.monotonic() - started) < args.memory_seconds:
                        samples.append((elapsed, _rss_mb(pid)))
                        time.sleep(min(5, args.memory_seconds / 6))
                    samples.append((time.monotonic() - started, _rss_mb(pid)))
                    done = _counts(reader).get("SUCCEEDED", 0)
                    cpu = _servers.cpu_seconds(pid) - cpu
                    reader.close()
            shown = ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in samples)
            rate = ""
            if done:
                rate = (
                    f" ({done / samples[-1][0]:.0f} jobs/s, {cpu / done * 1e6:.0f} us of CPU a job)"
                )
            print(f"{label:>8}: RSS MB {shown}; jobs finished {done}{rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="abcd", help="which cases to run (default abcd)")
    parser.add_argument(
        "--concurrency", type=int, help="LEADHOOK_JOB_CONCURRENCY (default: the setting's)"
    )
    parser.add_argument("--latency-a", type=float, default=0.5)
    parser.add_argument("--rpm-a", type=float, default=30_000)
    parser.add_argument("--replies-a", type=int, default=300)
    parser.add_argument("--baseline-replies", type=int, default=100)
    parser.add_argument("--no-baseline", action="store_true", help="(a) without 4 at once")
    parser.add_argument("--latency-b", type=float, default=0.3)
    parser.add_argument("--rpm-b", type=float, default=300)
    parser.add_argument("--replies-b", type=int, default=200)
    parser.add_argument("--burst-seconds", type=float, default=1.0)
    parser.add_argument("--window", type=int, default=10, help="(c) seconds per window")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--backlog", type=int, default=20_000, help="(c) replies queued")
    parser.add_argument("--memory-jobs", type=int, default=100_000)
    parser.add_argument("--memory-seconds", type=int, default=30)
    parser.add_argument("--memory-fake", action="store_true", help="(d) against the fake server")
    args = parser.parse_args()
    for case in args.cases:
        if case == "c" and not _wrk.have_wrk():
            print("(c) skipped: wrk is not installed (apt-get install wrk)")
            continue
        {"a": case_a, "b": case_b, "c": case_c, "d": case_d}[case](args)


if __name__ == "__main__":
    main()
