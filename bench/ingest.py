"""Ingest benchmark: the GoHighLevel route against a bare Litestar JSON route.

Same stack on both sides (Litestar on leadhook's own server, :data:`handlers._server.STACK`:
uvicorn on uvloop with httptools, one worker), same ~1 KB JSON bodies, wrk on 127.0.0.1 at
64 connections, each run bounded in time. Rows: the bare route (baseline), the webhook with
unique payloads, with 50 % duplicates, for comparison with one commit per request
(``LEADHOOK_WRITER_MAX_BATCH=1``) at the same ``synchronous=FULL`` durability, all with the
job runner off (``LEADHOOK_SCHEDULER_ENABLED=0``: jobs queue up), and last with the runner
draining the jobs (offline AI) in the same process: the row issue 15's target is measured on
(ingest with the runner enabled, the ledger and the metrics on, at least 0.75 x bare with
p99 <= 50 ms).

What the delivery ledger and the metrics cost: the same server with and without them
(:data:`WITHOUT`, the benchmark knobs ``LEADHOOK_LEDGER_ENABLED=0`` and
``LEADHOOK_METRICS_ENABLED=0``; the delivery's log line stays), unique payloads, run alternately
:data:`PAIRS` times each (the machine is shared: alternating spreads its drift over both);
the report gives the mean of each and the cost (target: at most 10 % of the rate).

    python -m bench.ingest [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import _servers, _wrk
from handlers._server import STACK

ROUTE = "/api/webhooks/ghl/sms"
# What "without" leaves out: the ledger and the metrics (issue 12: at most 10 % together).
WITHOUT = {"LEADHOOK_LEDGER_ENABLED": "0", "LEADHOOK_METRICS_ENABLED": "0"}
WITH_LABEL, WITHOUT_LABEL = "webhook, ledger+metrics on", "webhook, ledger+metrics off"
PAIRS = 2
# The row of issue 15's target: the runner enabled (draining), ledger and metrics on.
TARGET_LABEL = "webhook, runner draining too"
TARGET_RATIO, TARGET_P99_MS = 0.75, 50.0


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
        (TARGET_LABEL, 0.0, {}),
    ]
    for _ in range(PAIRS):
        cases += [(WITH_LABEL, 0.0, idle), (WITHOUT_LABEL, 0.0, {**idle, **WITHOUT})]
    for label, dup_ratio, extra in cases:
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "bench.db"
            token = _servers.add_workspace(db_path)
            started: list = []
            with _servers.leadhook_server(db_path, started=started, **extra) as url:
                warm = _wrk.run(
                    url,
                    ROUTE,
                    seconds=2,
                    connections=connections,
                    token=token,
                    dup_ratio=dup_ratio,
                    location="loc_bench",
                )  # warm-up
                cpu = _servers.cpu_seconds(started[0].pid)
                result = _wrk.run(
                    url,
                    ROUTE,
                    seconds=seconds,
                    connections=connections,
                    token=token,
                    dup_ratio=dup_ratio,
                )
                # The server's CPU per request: steadier than the rate on a shared machine.
                cpu = _servers.cpu_seconds(started[0].pid) - cpu
                result.cpu_us = cpu / max(1, result.requests) * 1e6
                grown = sum(p.stat().st_size for p in Path(tmp).glob("bench.db*"))
                result.file_bytes = grown / max(1, warm.requests + result.requests)
                rows.append((label, result))
    return rows


def _mean(rows: list[tuple[str, _wrk.Result]], label: str, field: str) -> float:
    values = [getattr(r, field) for name, r in rows if name == label]
    return sum(values) / len(values)


def report(rows: list[tuple[str, _wrk.Result]], connections: int) -> str:
    base = rows[0][1].requests_per_s
    lines = [
        f"ingest at {connections} connections (wrk, 1 worker, synchronous=FULL)",
        f"stack, both sides: {STACK}",
        f"{'case':<34} {'req/s':>9} {'x bare':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'CPU us/req':>11} {'file B/req':>11}",
    ]
    for label, r in rows:
        cpu = f"{r.cpu_us:>11.0f}" if r.cpu_us is not None else f"{'':>11}"
        grown = f"{r.file_bytes:>11.0f}" if r.file_bytes is not None else f"{'':>11}"
        lines.append(
            f"{label:<34} {r.requests_per_s:>9.0f} {r.requests_per_s / base:>7.2f} "
            f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors:>7} {cpu} {grown}"
        )
    unique = dict(rows)["webhook, unique payloads"]
    dups = dict(rows)["webhook, 50 % duplicates"]
    target = dict(rows)[TARGET_LABEL]
    ratio = target.requests_per_s / base
    met = ratio >= TARGET_RATIO and target.p99_ms <= TARGET_P99_MS
    lines.append(
        f"target (#15): ingest with the runner enabled, ledger and metrics on: "
        f"{ratio:.2f} x bare (>= {TARGET_RATIO}), p99 {target.p99_ms:.1f} ms "
        f"(<= {TARGET_P99_MS:g}): {'met' if met else 'NOT met'}"
    )
    lines.append(
        f"duplicates vs new: {dups.requests_per_s / unique.requests_per_s:.2f}x the rate "
        f"(target >= 1.0); unique, runner off, vs bare {unique.requests_per_s / base:.2f}"
    )
    on, off = (
        _mean(rows, WITH_LABEL, "requests_per_s"),
        _mean(rows, WITHOUT_LABEL, "requests_per_s"),
    )
    cpu_on, cpu_off = _mean(rows, WITH_LABEL, "cpu_us"), _mean(rows, WITHOUT_LABEL, "cpu_us")
    bytes_on = _mean(rows, WITH_LABEL, "file_bytes")
    bytes_off = _mean(rows, WITHOUT_LABEL, "file_bytes")
    lines.append(
        f"the ledger and metrics: {on:.0f} req/s with them, {off:.0f} without (mean of "
        f"{PAIRS} alternate runs each): they cost {(1 - on / off) * 100:.1f} % of the rate "
        f"(target <= 10 %); "
        f"server CPU {cpu_on:.0f} against {cpu_off:.0f} us a request "
        f"({(cpu_on / cpu_off - 1) * 100:+.1f} %); the files grow {bytes_on:.0f} against "
        f"{bytes_off:.0f} bytes a request"
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
