"""What an ``ai_interactions`` row costs the writer: 10,000 rows (50 a transaction, as a batch
of the recorder's), ``synchronous=FULL``, into a migrated database as it is, without the three
covering indexes of ``leadhook ai report`` (migration ``m003_ai_report``), without the spend
roll-up trigger (``m009_console``), and without both. Printed: µs a row.

    python -m bench.ai_rows [--rows 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench import _servers
from db.sqlite import connect
from db.sqlite.interactions import record_interaction

ROW = {
    "source": "background_job:SMS_INBOUND_POST_PROCESS",
    "feature_id": "sentiment.classify",
    "provider": "openai",
    "api_type": "chat",
    "model": "gpt-4o-mini",
    "input_tokens": 300,
    "output_tokens": 20,
    "total_tokens": 320,
    "status": "success",
    "cost_usd": 0.0001,
}
VARIANTS = ("as migrated", "without the report indexes", "without the trigger", "without both")
PER_TRANSACTION = 50


def _drop(database, variant: str) -> None:
    if variant in ("without the report indexes", "without both"):
        for name in ("source", "feature", "model"):
            database.execute(f"DROP INDEX ai_interactions_report_{name}")
    if variant in ("without the trigger", "without both"):
        database.execute("DROP TRIGGER ai_interactions_rollup")


def measure(variant: str, rows: int) -> float:
    """µs a row for ``variant``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.db"
        _servers.leadhook_cli(path, "db", "migrate")
        database = connect(path)
        _drop(database, variant)
        started = time.perf_counter()
        for n in range(rows):
            if n % PER_TRANSACTION == 0:
                database.execute("BEGIN IMMEDIATE")
            minute, second = divmod(n // 100, 60)
            at = f"2026-01-18T10:{minute % 60:02d}:{second:02d}.000Z"
            record_interaction(database, {**ROW, "latency_ms": 400 + n % 300, "created_at": at})
            if n % PER_TRANSACTION == PER_TRANSACTION - 1 or n == rows - 1:
                database.execute("COMMIT")
        took = time.perf_counter() - started
        database.close()
    return took / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    print(f"ai_interactions rows, {PER_TRANSACTION} a transaction, synchronous=FULL")
    base = measure(VARIANTS[0], args.rows)
    print(f"  {VARIANTS[0]:28s} {base:6.1f} us a row")
    for variant in VARIANTS[1:]:
        us = measure(variant, args.rows)
        print(f"  {variant:28s} {us:6.1f} us a row ({us / base:.2f}x)")


if __name__ == "__main__":
    main()
