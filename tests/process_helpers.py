"""Running ``leadhook`` as a separate process, as an operator does (process-level tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def environment(db_path: Path | str, **extra: str) -> dict[str, str]:
    """This environment without any LEADHOOK_*/OPENAI_* of the caller, on ``db_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADHOOK_", "OPENAI_"))}
    return {**env, "LEADHOOK_DB": str(db_path), "LEADHOOK_AI_PROVIDER": "offline", **extra}


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", "import cli; cli.main()", *args]


def run(db_path: Path | str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """``leadhook ARGS`` to completion (not checked: look at ``returncode``)."""
    return subprocess.run(
        command(*args),
        cwd=ROOT,
        env=environment(db_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


class Server:
    """``leadhook serve`` in the background, its output in files."""

    def __init__(self, db_path: Path, port: int, *args: str, logs: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path = logs / f"serve-{port}.out"
        self.stderr_path = logs / f"serve-{port}.err"
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen(
                command("serve", "--port", str(port), *args),
                cwd=ROOT,
                env=environment(db_path),
                stdout=out,
                stderr=err,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def wait_ready(self, timeout: float = 30) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.stderr_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)
