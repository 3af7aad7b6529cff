"""Start the servers under test as subprocesses (one uvicorn worker each), on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start")


def env_for(db_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LEADHOOK_DB": str(db_path), "LEADHOOK_AI_PROVIDER": "offline"}
    env.pop("OPENAI_API_KEY", None)
    env.update(extra)
    return env


def leadhook_cli(db_path: Path, *args: str, **extra: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", *args],
        cwd=ROOT,
        env=env_for(db_path, **extra),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def add_workspace(db_path: Path, location: str = "loc_bench") -> str:
    leadhook_cli(db_path, "db", "migrate")  # only serve and db migrate create a database
    out = leadhook_cli(
        db_path, "clients", "add", "--name", "Bench", "--ghl-location-id", location, "--json"
    )
    return json.loads(out)["token"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def leadhook_server(db_path: Path, *, started: list | None = None, **extra: str):
    """``leadhook serve`` on a free port (``started``: gets the process appended)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "import cli; cli.main()", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env_for(db_path, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    if started is not None:
        started.append(process)
    try:
        _wait(f"{url}/healthz", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def bare_server():
    """The bare route (bench/bare_app.py) on leadhook's own server stack."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
