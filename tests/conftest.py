"""Shared fixtures: a file database in tmp_path, workspaces, and a real server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn

import db
from app import create_app
from config import Settings

PAYLOADS = Path(__file__).resolve().parent.parent / "examples"


def load_payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "leadhook.db"


@pytest.fixture
def database(db_path: Path):
    database = db.connect(db_path)
    db.migrate(database)
    yield database
    database.close()


@dataclass
class Workspace:
    id: int
    token: str
    ghl_location_id: str | None
    unipile_account_id: str | None
    email_workspace_id: str | None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_workspace(database) -> Callable[..., Workspace]:
    counter = iter(range(1, 10_000))

    def make(**ids: str | None) -> Workspace:
        n = next(counter)
        defaults = {
            "ghl_location_id": "loc_AbC123" if n == 1 else f"loc_{n}",
            "unipile_account_id": "dfXlh46vQYCsMbVarumWlg" if n == 1 else f"acc_{n}",
            "email_workspace_id": "12345" if n == 1 else f"ws_{n}",
        }
        defaults.update(ids)
        client, token = db.clients.create_client(
            database, name=f"Workspace {n}", now=db.iso(db.utcnow()), **defaults
        )
        return Workspace(client.id, token, **defaults)

    return make


@pytest.fixture
def workspace(make_workspace) -> Workspace:
    return make_workspace()


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(db_path=str(db_path), ai_provider="offline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app served by uvicorn in a thread, on 127.0.0.1, like production."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, access_log=False, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def serve(settings: Settings) -> Iterator[Callable[..., LiveServer]]:
    """``serve(**setting_overrides, clock=...)`` starts a server; stopped after the test."""
    started: list[LiveServer] = []

    def start(clock: Callable | None = None, **overrides) -> LiveServer:
        kwargs = {"clock": clock} if clock else {}
        server = LiveServer(create_app(replace(settings, **overrides), **kwargs)).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__(None, None, None)


@pytest.fixture
def live(serve, workspace) -> LiveServer:
    return serve()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def count_rows(database, table: str) -> int:
    return database.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def all_counts(database) -> dict[str, int]:
    tables = ("clients", "leads", "messages", "background_jobs", "ai_interactions", "ai_drafts")
    return {t: count_rows(database, t) for t in tables}
