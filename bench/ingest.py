"""Ingest benchmark: the GoHighLevel route against a bare Litestar JSON route.

Same stack (Litestar, uvicorn, one worker), same ~1 KB JSON bodies, wrk on 127.0.0.1 at
64 connections, each run bounded in time. Rows: the bare route (baseline), the webhook with
unique payloads, with 50 % duplicates, for comparison with one commit per request
(``LEADHOOK_WRITER_MAX_BATCH=1``) at the same ``synchronous=FULL`` durability, all with the
job runner off (``LEADHOOK_SCHEDULER_ENABLED=0``: jobs queue up), and last with the runner
draining the jobs (offline AI) in the same process.

    python -m bench.ingest [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import _servers, _wrk

ROUTE = "/api/webhooks/ghl/sms"


def measure(seconds: int, connections: int) -> list[tuple[str, _wrk.Result]]:
    rows: list[tuple[str, _wrk.Result]] = []
    with _servers.bare_server() as url:
        _wrk.run(url, "/bare", seconds=2, connections=connections)  # warm-up
        rows.append(
            (
                "bare Litestar JSON route",
                _wrk.run(url, "/bare", seconds=seconds, connections=connections),
            )
        )
    # Jobs stay queued during the ingest rows (the runner would share the process's CPU);
    # the last row shows ingest with the runner draining at the same time.
    idle = {"LEADHOOK_SCHEDULER_ENABLED": "0"}
    cases = [
        ("webhook, unique payloads", 0.0, idle),
        ("webhook, 50 % duplicates", 0.5, idle),
        ("webhook, commit per request", 0.0, {**idle, "LEADHOOK_WRITER_MAX_BATCH": "1"}),
        ("webhook, runner draining too", 0.0, {}),
    ]
    for label, dup_ratio, extra in cases:
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "bench.db"
            token = _servers.add_workspace(db_path)
            with _servers.leadhook_server(db_path, **extra) as url:
                _wrk.run(
                    url,
                    ROUTE,
                    seconds=2,
                    connections=connections,
                    token=token,
                    dup_ratio=dup_ratio,
                    location="loc_bench",
                )  # warm-up
                rows.append(
                    (
                        label,
                        _wrk.run(
                            url,
                            ROUTE,
                            seconds=seconds,
                            connections=connections,
                            token=token,
                            dup_ratio=dup_ratio,
                        ),
                    )
                )
    return rows


def report(rows: list[tuple[str, _wrk.Result]], connections: int) -> str:
    base = rows[0][1].requests_per_s
    lines = [
        f"ingest at {connections} connections (wrk, 1 uvicorn worker, synchronous=FULL)",
        f"{'case':<34} {'req/s':>9} {'x bare':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}",
    ]
    for label, r in rows:
        lines.append(
            f"{label:<34} {r.requests_per_s:>9.0f} {r.requests_per_s / base:>7.2f} "
            f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors:>7}"
        )
    unique = dict(rows)["webhook, unique payloads"]
    dups = dict(rows)["webhook, 50 % duplicates"]
    lines.append(
        f"duplicates vs new: {dups.requests_per_s / unique.requests_per_s:.2f}x the rate "
        f"(target >= 1.0); unique vs bare {unique.requests_per_s / base:.2f} (target >= 0.6, "
        f"p99 <= 50 ms)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if not _wrk.have_wrk():
        raise SystemExit("wrk is not installed: apt-get install wrk")
    print(report(measure(args.seconds, args.connections), args.connections))


if __name__ == "__main__":
    main()
