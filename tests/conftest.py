"""Shared fixtures: a file database in tmp_path, workspaces, and a real server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import sqlite_utils

import app as app_module
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
def store(db_path: Path) -> Iterator[db.Store]:
    """The store on a fresh, migrated file (the same file as ``database`` and the servers)."""
    store = db.open_store(db_path)
    yield store
    store.close()


# The backends every db contract test runs on (tests/test_db_contract.py).
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend_store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[db.Store]:
    """A store on a fresh database of each backend (Postgres: ``pg_url``, its own database)."""
    target = request.getfixturevalue("pg_url") if request.param == "postgres" else db_path
    store = db.open_store(target)
    yield store
    store.close()


def open_file(path: str | Path) -> sqlite_utils.Database:
    """A plain connection to the SQLite file, to look at it as an operator would."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn, execute_plugins=False)


@pytest.fixture
def database(store: db.Store, db_path: Path) -> Iterator[sqlite_utils.Database]:
    """A plain connection to the test's file (migrated by ``store``): to seed and inspect."""
    database = open_file(db_path)
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
def make_workspace(store) -> Callable[..., Workspace]:
    counter = iter(range(1, 10_000))

    def make(**ids: str | None) -> Workspace:
        n = next(counter)
        defaults = {
            "ghl_location_id": "loc_AbC123" if n == 1 else f"loc_{n}",
            "unipile_account_id": "dfXlh46vQYCsMbVarumWlg" if n == 1 else f"acc_{n}",
            "email_workspace_id": "12345" if n == 1 else f"ws_{n}",
        }
        defaults.update(ids)
        client, token = store.sync.create_client(
            name=f"Workspace {n}", now=db.iso(db.utcnow()), **defaults
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
    """The app served in a thread, on 127.0.0.1, by the production server with its connection
    limits (``app.server``; the settings the app was built with)."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = app.state.settings
        self.server = app_module.server(
            app, settings, host="127.0.0.1", port=self.port, log_level="warning"
        )
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


def rows(database, sql: str, params: tuple = ()) -> list[dict]:
    return list(database.query(sql, params))


def assert_rejected(http, database, path: str, headers, payload, status: int, error: str) -> None:
    """POST ``payload`` (bytes as they are, else JSON): a JSON error with ``status`` whose text
    contains ``error``, and not one new row in any table."""
    before = all_counts(database)
    if isinstance(payload, bytes):
        response = http.post(path, content=payload, headers=headers)
    else:
        response = http.post(path, json=payload, headers=headers)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert error in response.json()["error"]
    assert all_counts(database) == before


@pytest.fixture
def ingest_sources(monkeypatch) -> list:
    """The telemetry source seen inside every ``ingest`` write (on the writer's thread)."""
    import ai
    from db.sqlite import ops

    seen: list[str | None] = []
    ingest = ops.ingest

    def recording(database, *args):
        seen.append(ai.current_source())
        return ingest(database, *args)

    monkeypatch.setattr(ops, "ingest", recording)
    return seen


def all_counts(database) -> dict[str, int]:
    tables = ("clients", "leads", "messages", "background_jobs", "ai_interactions", "ai_drafts")
    return {t: count_rows(database, t) for t in tables}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def post_concurrently() -> Callable[..., list[httpx.Response]]:
    """``post_concurrently(base_url, path, n=30, **request_kwargs)``: ``n`` identical POSTs,
    each on its own connection and thread, released together by a barrier."""

    def post(base_url: str, path: str, n: int = 30, **kwargs) -> list[httpx.Response]:
        from concurrent.futures import ThreadPoolExecutor

        barrier = threading.Barrier(n)
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
        with httpx.Client(base_url=base_url, timeout=30, limits=limits) as client:

            def one(_: int) -> httpx.Response:
                barrier.wait(timeout=10)
                return client.post(path, **kwargs)

            with ThreadPoolExecutor(n) as pool:
                return list(pool.map(one, range(n)))

    return post


# -- AI: the fake OpenAI server, and "no AI row is unattributed" across the suite ---------------

_UNATTRIBUTED_AI_ROWS: list[str] = []


@pytest.fixture
def fake_openai():
    """A local OpenAI-compatible server (tests/fake_openai.py); ``.base_url`` ends in /v1."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def openai_client(store, fake_openai):
    """An AI client (gpt-4o-mini, built-in prices) on the ``fake_openai`` server."""
    import ai

    provider = ai.OpenAIProvider(
        model="gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url
    )
    client = ai.AIClient(store, provider)
    yield client
    await client.close()


@pytest.fixture(autouse=True)
def _no_unattributed_ai_rows(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used ``db_path``: collect its ``ai_interactions`` rows whose
    ``source`` is NULL; the session fails at the end if any were found. Tests that seed
    such rows on purpose are marked ``allow_unattributed``."""
    yield
    path = (getattr(request.node, "funcargs", None) or {}).get("db_path")
    if path is None or request.node.get_closest_marker("allow_unattributed"):
        return
    if not Path(path).exists():
        return
    database = open_file(path)
    try:
        found = rows(
            database,
            "SELECT id, feature_id, prompt_key, status, created_at FROM ai_interactions "
            "WHERE source IS NULL ORDER BY id",
        )
    except sqlite3.OperationalError:  # never migrated
        found = []
    finally:
        database.close()
    _UNATTRIBUTED_AI_ROWS.extend(f"{request.node.nodeid}: {row}" for row in found)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _UNATTRIBUTED_AI_ROWS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _UNATTRIBUTED_AI_ROWS:
        terminalreporter.section("unattributed AI rows (source IS NULL)", red=True)
        for line in _UNATTRIBUTED_AI_ROWS:
            terminalreporter.line(line)
        terminalreporter.line(
            f"{len(_UNATTRIBUTED_AI_ROWS)} ai_interactions row(s) have no source: run AI calls "
            "inside ai.ai_telemetry_source(...), or mark the test allow_unattributed"
        )
    pg_fixtures.summary(terminalreporter)


@pytest.fixture
def seed_inbound(store, workspace) -> Callable[..., tuple[dict, dict]]:
    """``seed_inbound(body, channel="sms", contact="contact-1", first_name="Dana", ...)``
    stores an inbound message (and its lead and post-process job) for ``workspace`` as a
    webhook would; returns ``(message_row, lead_row)``. Same ``contact``, same lead."""
    counter = iter(range(1, 1_000_000))
    job_types = {
        "sms": db.vocab.SMS_INBOUND_POST_PROCESS,
        "email": db.vocab.EMAIL_INBOUND_POST_PROCESS,
        "linkedin": db.vocab.LINKEDIN_INBOUND_POST_PROCESS,
    }

    def seed(
        body: str,
        *,
        channel: str = "sms",
        contact: str = "contact-1",
        first_name: str | None = "Dana",
        subject: str | None = None,
        direction: str = "inbound",
        sent_at: str | None = None,
    ) -> tuple[dict, dict]:
        n = next(counter)
        now = db.iso(db.utcnow())
        message = db.NewMessage(
            client_id=workspace.id,
            channel=channel,
            direction=direction,
            body=body,
            subject=subject,
            sent_at=sent_at or now,
            received_at=now,
            source="test",
            dedupe_column="webhook_dedupe_key",
            dedupe_value=f"seed:{n}",
            job_type=job_types[channel] if direction == "inbound" else None,
        )
        lead = db.LeadFields(ghl_contact_id=contact, first_name=first_name)
        result = store.sync.ingest(workspace.id, db.hash_token(workspace.token), message, lead)
        return store.sync.get_message(result.message_id), store.sync.get_lead(result.lead_id)

    return seed


# -- the Postgres leg (tests/pg_fixtures.py) ------------------------------------------------------

from tests import pg_fixtures  # noqa: E402
from tests.pg_fixtures import pg_empty_url, pg_server, pg_template, pg_url  # noqa: E402, F401
