"""Where a job's time goes under ingest: case (c) of ``bench.ai_drain`` (a backlog of
GoHighLevel replies draining against ``bench/_fake_ai.py`` at 0.5 s) with every store
operation of the server timed by name (``bench/_timed_serve.py``), first alone, then with wrk
posting webhooks at 64 connections. Printed per window: the inbound jobs finished and their
mean duration, the AI calls and their mean latency, and each operation's count and mean.

    python -m bench.job_turns [--window 8]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import db
from bench import _servers, _wrk
from bench.ai_drain import LOCATION, ROUTE, _client_id, fake_ai, seed_backlog

_JOBS = """SELECT COUNT(*), AVG((julianday(finished_at) - julianday(started_at)) * 86400000)
             FROM background_jobs
            WHERE finished_at >= ? AND finished_at < ? AND type = 'SMS_INBOUND_POST_PROCESS'"""
_CALLS = (
    "SELECT COUNT(*), AVG(latency_ms) FROM ai_interactions WHERE created_at >= ? AND created_at < ?"
)


def _window(reader: sqlite3.Connection, since: str, until: str) -> str:
    jobs, took = reader.execute(_JOBS, (since, until)).fetchone()
    calls, latency = reader.execute(_CALLS, (since, until)).fetchone()
    return (
        f"inbound jobs {jobs}, {took or 0:.0f} ms each; "
        f"AI calls {calls}, {latency or 0:.0f} ms each"
    )


def _serve(path: Path, ai_url: str, turns: Path, port: int) -> subprocess.Popen:
    env = _servers.env_for(
        path,
        LEADHOOK_AI_PROVIDER="openai",
        OPENAI_BASE_URL=f"{ai_url}/v1",
        OPENAI_API_KEY="sk-bench",
        BENCH_TURNS_DIR=str(turns),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bench._timed_serve", "serve", "--port", str(port)],
        cwd=_servers.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fake_ai(0.5, 30000.0) as ai_url:
        path, turns = Path(tmp) / "turns.db", Path(tmp)
        token = _servers.add_workspace(path, location=LOCATION)
        seed_backlog(path, _client_id(path), args.backlog)
        port = _servers.free_port()
        server = _serve(path, ai_url, turns, port)
        url = f"http://127.0.0.1:{port}"
        windows = []
        try:
            _servers._wait(f"{url}/healthz", server)
            time.sleep(3)  # every job slot busy
            for phase in ("alone", "ingest"):
                (turns / "phase").write_text(phase)
                since = db.iso(db.utcnow())
                if phase == "ingest":
                    result = _wrk.run(
                        url,
                        ROUTE,
                        seconds=args.window,
                        connections=64,
                        token=token,
                        location=LOCATION,
                    )
                else:
                    time.sleep(args.window)
                windows.append((phase, since, db.iso(db.utcnow())))
            (turns / "phase").write_text("")
        finally:
            server.terminate()
            server.wait(timeout=60)
        with sqlite3.connect(path) as reader:
            for phase, since, until in windows:
                print(f"{phase:6s}: {_window(reader, since, until)}")
        print(f"ingest: {result.requests_per_s:.0f} req/s, p99 {result.p99_ms:.1f} ms")
        totals = json.loads((turns / "turns.json").read_text())
    print(f"{'operation':34s} {'alone':>16s} {'under ingest':>16s}")
    for name in sorted(set(totals.get("alone", {})) | set(totals.get("ingest", {}))):
        cells = []
        for phase in ("alone", "ingest"):
            count, seconds = totals.get(phase, {}).get(name, (0, 0.0))
            cells.append(f"{count:6d} {seconds / count * 1000 if count else 0:6.1f} ms")
        print(f"{name:34s} {cells[0]:>16s} {cells[1]:>16s}")


if __name__ == "__main__":
    main()
