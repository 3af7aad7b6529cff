"""The Postgres leg of the suite: a server, a migrated template, a fresh database per test.

The server is ``$LEADHOOK_TEST_PG_DSN`` (a role that may create databases), else a throwaway
cluster this session starts itself (:mod:`tests.pg_cluster`) when ``initdb``/``pg_ctl`` are
there and it may run them. Without either, every Postgres test is skipped with the reason
(shown in the summary: ``postgres leg: SKIPPED ...``); under ``CI=true`` that is a failure.

Each test gets its own database, ``CREATE DATABASE ... TEMPLATE`` a database migrated once
per session (a copy takes milliseconds; migrating takes longer), dropped afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import db
from tests import pg_cluster

TEMPLATE = f"leadhook_tpl_{os.getpid()}"
_counter = itertools.count(1)
STATE: dict = {"used": 0, "dsn": None, "skipped": None}


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=10)


def _skip(reason: str) -> None:
    STATE["skipped"] = reason
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the Postgres leg ({reason}); .ci/run starts a cluster")
    pytest.skip(f"postgres leg skipped: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A DSN of a server where databases may be created (see the module docstring)."""
    dsn = os.environ.get("LEADHOOK_TEST_PG_DSN", "").strip()
    cluster = None
    if not dsn:
        reason = pg_cluster.unavailable_reason()
        if reason is not None:
            _skip(f"no LEADHOOK_TEST_PG_DSN and no throwaway cluster ({reason})")
        cluster = pg_cluster.Cluster().start()
        dsn = cluster.dsn
    try:
        with _admin(dsn):
            pass
    except psycopg.Error as exc:
        if cluster is not None:
            cluster.stop()
        _skip(f"cannot connect to LEADHOOK_TEST_PG_DSN: {str(exc).strip().splitlines()[0]}")
    STATE["dsn"] = db.redact(dsn)
    try:
        yield dsn
    finally:
        if cluster is not None:
            cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """The name of a database migrated once, the template of every test's database."""
    with _admin(pg_server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    db.open_store(with_database(pg_server, TEMPLATE)).close()
    try:
        yield TEMPLATE
    finally:
        with contextlib.suppress(psycopg.Error), _admin(pg_server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')


def new_database(pg_server: str, template: str | None) -> str:
    name = f"leadhook_t{os.getpid()}_{next(_counter)}"
    with _admin(pg_server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    STATE["used"] += 1
    return name


def drop_database(pg_server: str, name: str) -> None:
    with contextlib.suppress(psycopg.Error), _admin(pg_server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str, pg_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated database of this test's own."""
    name = new_database(pg_server, pg_template)
    yield with_database(pg_server, name)
    drop_database(pg_server, name)


@pytest.fixture
def pg_empty_url(pg_server: str) -> Iterator[str]:
    """The URL of a fresh database without any schema (for migrations and ``db copy``)."""
    name = new_database(pg_server, None)
    yield with_database(pg_server, name)
    drop_database(pg_server, name)


def summary(terminalreporter) -> None:
    """One line in the summary: whether the Postgres leg ran, and on what."""
    if STATE["skipped"]:
        terminalreporter.write_line(
            f"postgres leg: SKIPPED ({STATE['skipped']}); run `make test-postgres`", yellow=True
        )
    elif STATE["used"]:
        terminalreporter.write_line(
            f"postgres leg: ran on {STATE['dsn']} ({STATE['used']} databases)"
        )
