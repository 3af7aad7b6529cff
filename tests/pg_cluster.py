"""A throwaway PostgreSQL cluster for the tests and the benchmarks.

``initdb`` and ``pg_ctl`` (Debian's ``postgresql`` package) make a cluster in a temporary
folder, listening on 127.0.0.1 on a free port and on a private unix socket folder, trust
authentication, and stop it (and delete the folder) at the end. As root they run as the
``postgres`` user (``runuser -u postgres``: initdb refuses root); as any other user, as that
user. ``durable=False`` (tests) turns fsync off: a test cluster never survives a crash;
benchmarks keep the defaults (fsync on, as a real server).

Command line, used by ``.ci/run`` and ``make test-postgres``::

    python -m tests.pg_cluster -- make test      # LEADHOOK_TEST_PG_DSN set for the command
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def find_binary(name: str) -> str | None:
    """``name`` on PATH, or in the newest ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def unavailable_reason() -> str | None:
    """Why no throwaway cluster can be started here, or None."""
    for name in ("initdb", "pg_ctl"):
        if find_binary(name) is None:
            return f"{name} not found (apt-get install postgresql)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "runuser not found (needed to run initdb as postgres)"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "no postgres user (apt-get install postgresql creates it)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="leadhook-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.as_root = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> Cluster:
        self.sockets.mkdir()
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        assert initdb and pg_ctl
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        options = [
            f"-p {self.port}",
            f"-k {self.sockets}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=300",
            "-c shared_buffers=128MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", " ".join(options),
                  "-w", "-t", "60", "start")  # fmt: skip
        return self

    def stop(self) -> None:
        pg_ctl = find_binary("pg_ctl")
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if pg_ctl and (self.data / "postmaster.pid").exists():
                self._run(pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway(*, durable: bool = False) -> Iterator[Cluster]:
    cluster = Cluster(durable=durable).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.pg_cluster -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    reason = unavailable_reason()
    if reason is not None:
        print(f"cannot start a PostgreSQL cluster: {reason}", file=sys.stderr)
        return 1
    started = time.monotonic()
    with throwaway() as cluster:
        print(
            f"throwaway PostgreSQL on 127.0.0.1:{cluster.port} "
            f"(up in {time.monotonic() - started:.1f} s): LEADHOOK_TEST_PG_DSN={cluster.dsn}",
            flush=True,
        )
        env = {**os.environ, "LEADHOOK_TEST_PG_DSN": cluster.dsn}
        return subprocess.run(argv, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
