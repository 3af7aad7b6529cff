"""``leadhook serve`` with every store operation timed by name (for ``bench.job_turns``).

The phase to count under is read from the file ``$BENCH_TURNS_DIR/phase`` (at most every
0.2 s); at SIGTERM, after the server's shutdown, the totals go to ``$BENCH_TURNS_DIR/turns.json`` as
``{phase: {"read_op get_lead": [count, seconds], ...}}``. Benchmarks only.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import db.store

DIR = Path(os.environ["BENCH_TURNS_DIR"])
_totals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
_phase = [0.0, ""]


def _current_phase() -> str:
    now = time.monotonic()
    if now - _phase[0] > 0.2:
        _phase[0] = now
        try:
            _phase[1] = (DIR / "phase").read_text().strip()
        except OSError:
            _phase[1] = ""
    return _phase[1]


def _timed(kind: str):
    original = getattr(db.store.Store, kind)

    async def timed(self, name, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await original(self, name, *args, **kwargs)
        finally:
            if phase := _current_phase():
                total = _totals[phase][f"{kind} {name}"]
                total[0] += 1
                total[1] += time.perf_counter() - started

    setattr(db.store.Store, kind, timed)


def _dump_and_exit(signum: int, _frame: object) -> None:
    # uvicorn restores this handler after its shutdown and raises SIGTERM again, so this is
    # the last thing the process does (atexit handlers would not run).
    (DIR / "turns.json").write_text(json.dumps(_totals))
    os._exit(0)


if __name__ == "__main__":
    import sys

    import cli

    _timed("read_op")
    _timed("write_op")
    signal.signal(signal.SIGTERM, _dump_and_exit)
    sys.argv = ["leadhook", *sys.argv[1:]]
    cli.main()
