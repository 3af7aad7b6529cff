"""Growth benchmark: ingest rate, report time and console pages with 10k against 1M rows.

For each size, a database with that many ``messages`` (each with its job and its
``deliveries`` row), ``ai_interactions`` rows (bench/_seed.py) and ``ai_drafts`` (one per
message; 1 % of the jobs FAILED, some RUNNING and PENDING, lead changes), then: the
GoHighLevel webhook under wrk (64 connections, unique payloads, the job runner off so that
only ingest is measured), the spend report (``Store.ai_report``) by source, feature and
model, best of 3, and every console page (logged in over HTTP on 127.0.0.1: the time to the
last byte, best of 5, so server time plus the loopback round trip).

    python -m bench.growth [--small 10000] [--large 1000000] [--seconds 8] [--console-only]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

import db
from bench import _seed, _servers, _wrk
from db.sqlite import connect

ROUTE = "/api/webhooks/ghl/sms"
ADMIN_TOKEN = "bench-admin-token"
# The console's pages as an operator opens them; {job}, {lead}, {before} are filled in.
CONSOLE_PAGES = [
    "/console",
    "/console/jobs",
    "/console/jobs?status=FAILED",
    "/console/jobs?status=FAILED&type=SMS_INBOUND_POST_PROCESS&before={before}",
    "/console/jobs?status=RUNNING",
    "/console/jobs?error=timeout",
    "/console/jobs/retry-all?status=FAILED",
    "/console/jobs/{job}",
    # The seeded AI calls start on 2026-01-01 (one every 2 s: 1M rows span 23 days).
    "/console/ai?window=custom&since=2026-01-01&until=2026-01-07&by=source",
    "/console/ai?window=custom&since=2026-01-01&until=2026-01-30&by=client&bucket=hour",
    "/console/ai.csv?window=custom&since=2026-01-01&until=2026-01-30&by=model&kind=series",
    "/console/leads?status=qualified",
    "/console/leads/{lead}",
    "/console/drafts",
    "/console/about",
    "/console/deliveries",
    "/console/deliveries?outcome=rejected",
    "/console/deliveries?route=/api/webhooks/ghl/sms&before={delivery_before}",
    "/console/deliveries?key=ghl_sms:seed{key:024d}",
    "/console/deliveries/{delivery}",
]


def report_seconds(path: Path, by: str) -> float:
    store = db.open_store(path)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        store.sync.ai_report(by)
        best = min(best, time.perf_counter() - started)
    store.close()
    return best


def seed_console(database, rows: int) -> dict[str, int]:
    """What the console shows besides messages and AI rows (bench data only): one draft per
    message, 1 % of the jobs FAILED, 100 RUNNING, 1,000 PENDING, sentiment changes, and the
    delivery ledger: a stored row per message (its body kept for one in ten) and a rejected
    row without a client for one message in a hundred."""
    conn = database.conn
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO ai_drafts (client_id, lead_id, trigger_message_id, channel, body, status,"
        " created_at, updated_at) SELECT client_id, lead_id, id, channel, 'Thanks! Tuesday?',"
        " CASE WHEN id % 10 = 0 THEN 'pending' ELSE 'approved' END, created_at, created_at"
        " FROM messages"
    )
    conn.execute(
        "UPDATE background_jobs SET status = 'FAILED', finished_at = updated_at,"
        " last_error = CASE WHEN id % 200 = 0 THEN 'AIRetryableError: timeout'"
        " ELSE 'AIRequestError: 401 invalid api key' END WHERE id % 100 = 0"
    )
    conn.execute(
        "UPDATE background_jobs SET status = 'RUNNING', locked_by = 'bench:1',"
        " locked_at = updated_at WHERE id % 10000 = 1"
    )
    conn.execute("UPDATE background_jobs SET status = 'PENDING' WHERE id % 1000 = 7")
    conn.execute(
        "UPDATE leads SET status = 'qualified', sentiment_tag = 'Interested' WHERE id % 3 = 0"
    )
    conn.execute(
        "INSERT INTO deliveries (received_at, route, client_id, status_code, outcome, event_type,"
        " message_id, dedupe_key, duration_ms, body_bytes, body_sha256, body, answer)"
        " SELECT received_at, '/api/webhooks/ghl/sms', client_id, 200, 'stored', 'InboundMessage',"
        " id, webhook_dedupe_key, 4.2, 900, printf('%064d', id),"
        ' CASE WHEN id % 10 = 0 THEN \'{"type":"InboundMessage","body":"\' || body || \'"}\' END,'
        " '{\"success\":true}' FROM messages ORDER BY id"
    )
    conn.execute(
        "INSERT INTO deliveries (received_at, route, status_code, outcome, error, duration_ms,"
        " body_bytes, body_sha256, answer) SELECT received_at, '/api/webhooks/email', 401,"
        " 'rejected', 'Missing or invalid client token', 0.3, 700, printf('%064d', id),"
        " '{\"success\":false}' FROM messages WHERE id % 100 = 0 ORDER BY id"
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    job = conn.execute("SELECT MAX(id) FROM background_jobs WHERE status = 'FAILED'").fetchone()
    lead = conn.execute("SELECT MAX(lead_id) FROM messages").fetchone()
    delivery = conn.execute("SELECT MAX(id) FROM deliveries WHERE body IS NOT NULL").fetchone()
    return {
        "job": job[0] or 1,
        "lead": lead[0] or 1,
        "before": max(1, rows // 2),
        "delivery": delivery[0] or 1,
        "delivery_before": max(1, rows // 2),
        "key": rows // 3,
    }


def console_ms(url: str, ids: dict[str, int]) -> dict[str, float]:
    """The best of 5 for each console page, in milliseconds (logged in, over HTTP)."""
    timings = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/console/login", data={"token": ADMIN_TOKEN})
        assert response.status_code == 303, response.text
        for template in CONSOLE_PAGES:
            path = template.format(**ids)
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, (path, response.status_code)
                best = min(best, elapsed)
            timings[template] = best * 1000
    return timings


def measure(rows: int, seconds: int, console_only: bool = False) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "growth.db"
        token = _servers.add_workspace(path)
        database = connect(path)
        client_id = database.execute("SELECT MIN(id) FROM clients").fetchone()[0]
        started = time.perf_counter()
        _seed.seed(database, client_id, messages=rows, ai_rows=rows)
        ids = seed_console(database, rows)
        seeded = time.perf_counter() - started
        database.close()
        result: dict = {"seed_s": seeded}
        for by in ("source", "feature", "model"):
            result[f"report_{by}_s"] = report_seconds(path, by)
        env = {"LEADHOOK_SCHEDULER_ENABLED": "0", "LEADHOOK_ADMIN_TOKEN": ADMIN_TOKEN}
        with _servers.leadhook_server(path, **env) as url:
            result["console_ms"] = console_ms(url, ids)
            if not console_only:
                _wrk.run(url, ROUTE, seconds=2, connections=64, token=token)  # warm-up
                ingest = _wrk.run(url, ROUTE, seconds=seconds, connections=64, token=token)
                result.update(rps=ingest.requests_per_s, p99=ingest.p99_ms, errors=ingest.errors)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--console-only", action="store_true", help="skip the ingest runs")
    args = parser.parse_args()
    small = measure(args.small, args.seconds, args.console_only)
    large = measure(args.large, args.seconds, args.console_only)
    print(f"console pages (ms to the last byte, best of 5): {args.small} rows / {args.large} rows")
    for template, ms in large["console_ms"].items():
        print(f"  {small['console_ms'][template]:>7.1f} {ms:>7.1f}  {template}")
    slowest = max(large["console_ms"].values())
    print(f"slowest console page at {args.large} rows: {slowest:.0f} ms (target < 200 ms)")
    if args.console_only:
        return
    print("growth: messages (+ their jobs) and ai_interactions rows already in the database")
    print(
        f"{'rows':>10} {'ingest req/s':>13} {'p99 ms':>7} {'report by source ms':>20} "
        f"{'feature ms':>11} {'model ms':>9} {'seed s':>7}"
    )
    for rows, r in ((args.small, small), (args.large, large)):
        print(
            f"{rows:>10} {r['rps']:>13.0f} {r['p99']:>7.1f} {r['report_source_s'] * 1000:>20.0f} "
            f"{r['report_feature_s'] * 1000:>11.0f} {r['report_model_s'] * 1000:>9.0f} "
            f"{r['seed_s']:>7.1f}"
        )
    print(
        f"ingest at {args.large} rows: {large['rps'] / small['rps']:.2f}x the rate at "
        f"{args.small} (target >= 0.80); spend report at {args.large} rows: "
        f"{large['report_source_s']:.2f} s (target < 1 s)"
    )


if __name__ == "__main__":
    main()
