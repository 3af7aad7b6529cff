"""One server per SQLite file, and a start that cannot work fails before it changes anything:
a second ``leadhook serve`` on the same file exits non-zero with one line naming the holder;
a taken port is refused before the database is touched; without ``--demo`` no workspace is
created; the start-up banner says what the server runs on. Real processes."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from config import Settings
from tests.conftest import free_port, open_file
from tests.process_helpers import Server, run

pytestmark = pytest.mark.slow


@pytest.fixture
def first(tmp_path):
    db_path = tmp_path / "data" / "leadhook.db"
    server = Server(db_path, free_port(), "--demo", logs=tmp_path / "logs").wait_ready()
    yield server, db_path
    server.stop()


def test_a_second_server_on_the_same_file_refuses_naming_the_first(first, tmp_path):
    server, db_path = first
    before = open_file(db_path).execute("SELECT COUNT(*) FROM clients").fetchone()[0]
    token_file = db_path.parent / "demo-token.txt"
    token = token_file.read_text()

    second = run(db_path, "serve", "--port", str(free_port()), "--demo")

    assert second.returncode == 1
    [line] = second.stderr.strip().splitlines()
    assert line.startswith(f"Error: {db_path} is in use by pid {server.process.pid} on host ")
    assert f"({'leadhook serve --port'}" in line and "stop that server first" in line
    assert second.stdout == ""  # no banner, no demo token
    assert token_file.read_text() == token  # no rotation
    assert open_file(db_path).execute("SELECT COUNT(*) FROM clients").fetchone()[0] == before
    holder = json.loads((db_path.parent / "leadhook.db.lock").read_text())
    assert holder["pid"] == server.process.pid
    assert set(holder) == {"pid", "host", "started_at", "command"}
    # The first one never noticed.
    assert httpx.get(f"{server.url}/readyz", timeout=10).json()["checks"]["lock"] == "ok"


def test_the_lock_goes_with_the_server(first, tmp_path):
    server, db_path = first
    server.stop()  # SIGTERM: uvicorn shuts down, then ends by the signal it caught
    again = Server(db_path, free_port(), logs=tmp_path / "logs2").wait_ready()
    try:
        assert "1 workspace," in again.stdout
    finally:
        again.stop()


def test_other_commands_do_not_take_the_lock(first):
    _, db_path = first
    assert run(db_path, "clients", "list").returncode == 0
    assert run(db_path, "db", "check").returncode == 0


def test_a_taken_port_is_refused_before_the_database_is_touched(tmp_path):
    db_path = tmp_path / "other" / "leadhook.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(db_path, "serve", "--port", str(port), "--demo")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert result.stdout == ""
    assert not db_path.exists()  # no database, no migrations, no runner, no demo token
    assert not (db_path.parent / "demo-token.txt").exists()


def test_serve_without_demo_creates_no_workspace_and_prints_the_banner(tmp_path):
    db_path = tmp_path / "data" / "leadhook.db"
    port = free_port()
    server = Server(db_path, port, logs=tmp_path / "logs").wait_ready()
    try:
        banner = server.stdout
    finally:
        server.stop()
    assert open_file(db_path).execute("SELECT COUNT(*) FROM clients").fetchone()[0] == 0
    assert not (db_path.parent / "demo-token.txt").exists()
    lines = banner.splitlines()
    assert lines[0].startswith(f"leadhook 0.1.0 serving http://127.0.0.1:{port} (pid ")
    assert lines[1].startswith(f"  database   {db_path}: 0 workspaces, applied now: m001_initial")
    assert lines[2].startswith("  AI         offline")
    assert lines[3] == f"  jobs       on, up to {Settings().job_concurrency} jobs at once"
    assert "cron off (set LEADHOOK_CRON_SECRET)" in lines[4]
