"""What only the shared backend has to do: several stores (processes) on one Postgres
database, LISTEN/NOTIFY, the maintenance turn, concurrent migrations, errors at the boundary.

Two ``PostgresStore`` objects on one database are two processes as far as Postgres can tell
(separate pools, separate sessions); ``tests/test_postgres_servers.py`` runs real servers.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

import db
from db.postgres.migrations import MIGRATIONS
from db.vocab import SMS_INBOUND_POST_PROCESS
from tests.pg_cluster import free_port

T0 = "2026-01-18T10:00:00.000Z"
LATER = "2026-01-18T11:00:00.000Z"


@pytest.fixture
def two_stores(pg_url):
    first, second = db.open_store(pg_url), db.open_store(pg_url)
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def client(two_stores):
    found, token = two_stores[0].sync.create_client(name="Acme", now=T0, ghl_location_id="loc")
    return found, db.hash_token(token)


def message(client_id: int, key: str = "m1", **overrides) -> db.NewMessage:
    values = dict(
        client_id=client_id,
        channel="sms",
        direction="inbound",
        body="Sounds good",
        sent_at=T0,
        received_at=T0,
        source="test",
        dedupe_column="webhook_dedupe_key",
        dedupe_value=key,
        job_type=SMS_INBOUND_POST_PROCESS,
    )
    values.update(overrides)
    return db.NewMessage(**values)


def test_identical_deliveries_to_two_processes_make_one_message_and_one_lead(two_stores, client):
    found, token_hash = client
    lead = db.LeadFields(email="dana@example.com")  # no unique index: the lock decides

    def deliver(i: int) -> db.IngestResult:
        store = two_stores[i % 2]
        return store.sync.ingest(found.id, token_hash, message(found.id), lead)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(deliver, range(48)))
    assert sum(not r.deduped for r in results) == 1
    assert len({r.message_id for r in results}) == 1
    assert len({r.lead_id for r in results}) == 1
    assert sum(r.job_enqueued for r in results) == 1
    overview = two_stores[1].sync.console_overview(now=LATER)
    assert (overview["messages_total"], overview["leads_total"]) == (1, 1)


def test_a_ghl_repeat_chain_is_decided_once_across_processes(two_stores, client):
    found, token_hash = client
    first = two_stores[0].sync.ingest(
        found.id,
        token_hash,
        message(found.id, "ghl_sms:k", repeat_window_seconds=60),
        db.LeadFields(),
    )
    repeat = message(found.id, "ghl_sms:k", repeat_window_seconds=60, received_at=LATER)

    def deliver(i: int) -> db.IngestResult:
        return two_stores[i % 2].sync.ingest(found.id, token_hash, repeat, db.LeadFields())

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(deliver, range(16)))
    new = [r for r in results if not r.deduped]
    assert len(new) == 1 and new[0].message_id != first.message_id
    stored = two_stores[0].sync.get_message(new[0].message_id)
    assert stored["webhook_dedupe_key"] == "ghl_sms:k#2"


def test_claims_in_two_processes_never_take_the_same_job(two_stores, client):
    found, token_hash = client
    for n in range(60):
        two_stores[0].sync.ingest(found.id, token_hash, message(found.id, f"m{n}"), db.LeadFields())
    claimed: list[list[int]] = [[], []]

    def claim(i: int) -> None:
        store = two_stores[i % 2]
        jobs = store.sync.claim_jobs(runner_id=f"runner-{i}", now=LATER, limit=3)
        claimed[i % 2].extend(job["id"] for job in jobs)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(claim, range(40)))
    every = claimed[0] + claimed[1]
    assert len(every) == len(set(every)) == 60


def test_a_commit_in_one_process_wakes_the_runner_of_another(two_stores, client):
    found, token_hash = client
    woken = threading.Event()
    listener_store, writer = two_stores
    stop = listener_store.listen_for_jobs(woken.set)
    try:
        assert listener_store._listeners[0].listening.wait(10)
        woken.clear()  # the wake-up every (re)connection gives
        writer.sync.ingest(found.id, token_hash, message(found.id, "wake"), db.LeadFields())
        assert woken.wait(5), "no NOTIFY reached the other process"
        woken.clear()
        # A duplicate enqueues nothing: no notification.
        writer.sync.ingest(found.id, token_hash, message(found.id, "wake"), db.LeadFields())
        assert not woken.wait(1.0)
    finally:
        stop()


def test_sqlite_has_nobody_else_to_listen_to(store):
    stop = store.listen_for_jobs(lambda: None)
    assert stop() is None


@pytest.mark.anyio
async def test_the_daily_maintenance_is_one_process_s_turn(two_stores):
    first, second = two_stores
    async with first.maintenance_turn(now=T0, every_seconds=3600) as mine:
        assert mine
        async with second.maintenance_turn(now=T0, every_seconds=3600) as theirs:
            assert not theirs  # the lock is held
    async with second.maintenance_turn(now=T0, every_seconds=3600) as again:
        assert not again  # it ran less than an hour ago
    async with second.maintenance_turn(now=LATER, every_seconds=3600) as later:
        assert later


@pytest.mark.anyio
async def test_a_maintenance_that_fails_is_not_recorded(two_stores):
    first, second = two_stores
    with pytest.raises(RuntimeError):
        async with first.maintenance_turn(now=T0, every_seconds=3600) as mine:
            assert mine
            raise RuntimeError("prune failed")
    async with second.maintenance_turn(now=T0, every_seconds=3600) as mine:
        assert mine


def test_servers_starting_together_apply_each_migration_once(pg_empty_url):
    barrier = threading.Barrier(4)

    def start(_: int) -> list[str]:
        barrier.wait()
        store = db.open_store(pg_empty_url)
        store.close()
        return store.applied_migrations

    with ThreadPoolExecutor(4) as pool:
        applied = list(pool.map(start, range(4)))
    assert sorted(len(names) for names in applied) == [0, 0, 0, len(MIGRATIONS)]
    with psycopg.connect(pg_empty_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _leadhook_migrations ORDER BY id")]
    assert names[0] == "m001_initial" and len(names) == len(set(names)) == len(MIGRATIONS)


def test_a_database_without_the_schema_is_refused_when_asked_not_to_create(pg_empty_url):
    with pytest.raises(db.DatabaseMissing, match="no leadhook schema"):
        db.open_store(pg_empty_url, create=False)


def test_a_server_that_does_not_answer_is_database_unavailable():
    url = f"postgresql://leadhook:secret@127.0.0.1:{free_port()}/leadhook"
    with pytest.raises(db.DatabaseUnavailable) as caught:
        db.open_store(url)
    assert "secret" not in str(caught.value)


def test_connections_the_server_closed_are_replaced_without_an_error(pg_url, pg_server):
    store = db.open_store(pg_url)
    try:
        found, token = store.sync.create_client(name="A", now=T0)
        name = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        outcomes = []
        for key in ("a", "b", "c"):
            try:
                store.sync.ingest(
                    found.id, db.hash_token(token), message(found.id, key), db.LeadFields()
                )
                outcomes.append("ok")
            except db.DatabaseUnavailable:
                outcomes.append("unavailable")
        # Every pooled connection was closed by the server: found before anything ran on
        # it, each operation runs again on a new one.
        assert outcomes == ["ok", "ok", "ok"]
        assert store.sync.get_client(found.id) == found
    finally:
        store.close()


def test_timestamps_are_timestamptz_inside_and_iso_strings_outside(two_stores, client, pg_url):
    found, token_hash = client
    result = two_stores[0].sync.ingest(
        found.id, token_hash, message(found.id, sent_at="2026-01-18T10:00:00.5Z"), db.LeadFields()
    )
    stored = two_stores[0].sync.get_message(result.message_id)
    assert stored["sent_at"] == "2026-01-18T10:00:00.500Z"
    assert stored["created_at"] == T0
    with psycopg.connect(pg_url) as conn:
        kind = conn.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'messages' AND column_name = 'sent_at'"
        ).fetchone()[0]
    assert kind == "timestamp with time zone"


def test_a_write_that_cannot_commit_in_time_keeps_nothing(two_stores, client, pg_url):
    found, token_hash = client
    store = two_stores[0]
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(db.DatabaseUnavailable):
            asyncio.run(
                store.ingest(
                    found.id, token_hash, message(found.id, "late"), db.LeadFields(), timeout=0.5
                )
            )
        blocker.rollback()
    assert store.sync.console_overview(now=LATER)["messages_total"] == 0


@pytest.mark.anyio
async def test_the_scheduled_maintenance_runs_in_one_of_two_processes_a_day(two_stores, caplog):
    """The scheduler's daily job in two processes at once, then again the same day: the
    maintenance runs once (``maintenance done`` is logged by the run itself)."""
    import logging
    import types

    from config import Settings
    from scheduler import _lifespan

    class Scheduler:  # what _schedule_maintenance hands the job to
        def add_job(self, fn, *args, **kwargs):
            self.fn = fn

    daily = []
    for store in two_stores:
        runner = types.SimpleNamespace(store=store, settings=Settings(), clock=db.utcnow)
        scheduler = Scheduler()
        _lifespan._schedule_maintenance(scheduler, runner)
        daily.append(scheduler.fn)
    with caplog.at_level(logging.INFO):
        await asyncio.gather(*(job() for job in daily))
        await daily[1]()
    done = [r for r in caplog.records if r.getMessage().startswith("maintenance done")]
    skipped = [r for r in caplog.records if "another process" in r.getMessage()]
    assert (len(done), len(skipped)) == (1, 2)
