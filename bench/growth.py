"""Growth benchmark: ingest rate and report time with 10k against 1M rows.

For each size, a database with that many ``messages`` (each with its job) and
``ai_interactions`` rows (bench/_seed.py), then: the GoHighLevel webhook under wrk (64
connections, unique payloads, the job runner off so that only ingest is measured), and the
spend report (``Store.ai_report``) by source, feature and model, best of 3.

    python -m bench.growth [--small 10000] [--large 1000000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import db
from bench import _seed, _servers, _wrk
from db.sqlite import connect

ROUTE = "/api/webhooks/ghl/sms"


def report_seconds(path: Path, by: str) -> float:
    store = db.open_store(path)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        store.sync.ai_report(by)
        best = min(best, time.perf_counter() - started)
    store.close()
    return best


def measure(rows: int, seconds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "growth.db"
        token = _servers.add_workspace(path)
        database = connect(path)
        client_id = database.execute("SELECT MIN(id) FROM clients").fetchone()[0]
        started = time.perf_counter()
        _seed.seed(database, client_id, messages=rows, ai_rows=rows)
        seeded = time.perf_counter() - started
        database.close()
        result = {"seed_s": seeded}
        for by in ("source", "feature", "model"):
            result[f"report_{by}_s"] = report_seconds(path, by)
        with _servers.leadhook_server(path, LEADHOOK_SCHEDULER_ENABLED="0") as url:
            _wrk.run(url, ROUTE, seconds=2, connections=64, token=token)  # warm-up
            ingest = _wrk.run(url, ROUTE, seconds=seconds, connections=64, token=token)
        result.update(rps=ingest.requests_per_s, p99=ingest.p99_ms, errors=ingest.errors)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    small = measure(args.small, args.seconds)
    large = measure(args.large, args.seconds)
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
