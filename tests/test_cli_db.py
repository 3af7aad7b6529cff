"""leadhook db backup|check, and the CLI never creating a database: every command but
``serve`` and ``db migrate`` refuses a file that does not exist, with one line saying which
file and how to create it."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import cli
from db.sqlite import connect
from db.sqlite.migrations import migrations
from tests.conftest import load_payload, open_file


def invoke(db_path: Path | str, *args: str):
    return CliRunner().invoke(cli.cli, list(args), env={"LEADHOOK_DB": str(db_path)})


@pytest.mark.parametrize(
    "args",
    [
        ("clients", "list"),
        ("clients", "add", "--name", "Acme"),
        ("clients", "rotate-token", "1"),
        ("jobs", "stats"),
        ("jobs", "list"),
        ("jobs", "retry", "1"),
        ("ai", "report"),
        ("db", "check"),
        ("db", "backup", "copy.db"),
        ("deliveries", "list"),
        ("deliveries", "show", "1"),
        ("deliveries", "replay", "1"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_commands_refuse_a_database_that_does_not_exist(tmp_path, args):
    db_path = tmp_path / "dta" / "leadhook.db"  # a typo of data/
    result = invoke(db_path, *args)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: no database at {db_path} (LEADHOOK_DB={db_path}")
    assert "`leadhook db migrate`" in line
    assert not db_path.parent.exists()  # nothing created, not even the folder


def test_db_migrate_creates_the_database(tmp_path):
    db_path = tmp_path / "new" / "leadhook.db"
    assert invoke(db_path, "db", "migrate").exit_code == 0
    assert invoke(db_path, "clients", "list").output.startswith("no clients")


# -- db check ---------------------------------------------------------------------------------


def test_check_of_a_sound_file(store, db_path):
    result = invoke(db_path, "db", "check")
    assert result.exit_code == 0, result.output
    last = migrations._migrations[-1].name
    assert result.output.strip() == (
        f"ok: integrity, foreign keys, migrations ({len(migrations._migrations)} applied, "
        f"the last {last})"
    )


def test_check_names_pending_migrations_and_does_not_apply_them(db_path):
    database = connect(db_path)
    migrations.apply(database, stop_before="m005_per_client_dedupe")
    database.close()
    result = invoke(db_path, "db", "check")
    assert result.exit_code == 1
    assert "migrations not applied: m005_per_client_dedupe" in result.output
    assert "run `leadhook db migrate`" in result.output
    pending = [m.name for m in migrations.pending(open_file(db_path))]
    assert pending[0] == "m005_per_client_dedupe"


def test_check_finds_rows_that_point_nowhere(store, db_path, workspace, seed_inbound):
    seed_inbound("Yes please")
    raw = sqlite3.connect(db_path)  # foreign keys off, as in the sqlite3 shell
    raw.execute("DELETE FROM leads")
    raw.commit()
    raw.close()
    result = invoke(db_path, "db", "check", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert "messages row 1 points to a missing leads row" in report["foreign_keys"]
    assert report["integrity"] == []
    assert "foreign key: messages row 1 points to a missing leads row" in report["problems"]


def test_check_finds_a_damaged_index(store, db_path, workspace, seed_inbound):
    for n in range(20):
        seed_inbound(f"reply number {n}", contact=f"c{n}")
    raw = sqlite3.connect(db_path, isolation_level=None)
    # Make an index disagree with its table, as a damaged page would: its definition now
    # names another column than the entries it holds.
    raw.execute("PRAGMA writable_schema = ON")
    raw.execute(
        "UPDATE sqlite_master SET sql = replace(sql, '(lead_id, sent_at)', '(lead_id, body)')"
        " WHERE name = 'messages_lead_sent_at'"
    )
    raw.close()
    result = invoke(db_path, "db", "check", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["integrity"], report
    assert any("messages_lead_sent_at" in line for line in report["integrity"])
    assert all(p.startswith("integrity: ") for p in report["problems"])


# -- db backup ---------------------------------------------------------------------------------


def test_backup_is_a_consistent_copy_while_the_server_writes(serve, workspace, db_path, tmp_path):
    live = serve(scheduler_enabled=False)
    stop = threading.Event()
    acknowledged: list[int] = []

    def deliver(worker: int) -> None:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            n = 0
            while not stop.is_set():
                n += 1
                data = load_payload("ghl_sms_workflow.json")
                data["contact_id"] = f"w{worker}-c{n}"
                data["message"]["body"] = f"reply {worker}/{n}"
                response = http.post("/api/webhooks/ghl/sms", json=data, headers=workspace.auth)
                if response.status_code == 200:
                    acknowledged.append(response.json()["messageId"])

    writers = [threading.Thread(target=deliver, args=(w,)) for w in range(4)]
    for thread in writers:
        thread.start()
    try:
        while len(acknowledged) < 40:
            threading.Event().wait(0.01)
        before = len(acknowledged)
        result = invoke(db_path, "db", "backup", str(tmp_path / "copy.db"), "--json")
        after = len(acknowledged)
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
    assert result.exit_code == 0, result.output
    copy = Path(json.loads(result.output)["path"])
    assert not Path(f"{copy}-wal").exists()
    database = open_file(copy)
    assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    messages = database.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    # One snapshot: each message with its job and lead (they commit together), and
    # everything acknowledged before the backup started.
    orphans = database.execute(
        "SELECT COUNT(*) FROM messages WHERE id NOT IN (SELECT message_id FROM background_jobs)"
    ).fetchone()[0]
    assert orphans == 0
    assert before <= messages <= max(after, len(acknowledged))
    assert database.execute("PRAGMA foreign_key_check").fetchall() == []


def test_backup_into_a_folder_names_the_file_and_never_overwrites(store, db_path, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    made = json.loads(invoke(db_path, "db", "backup", str(folder), "--json").output)["path"]
    assert Path(made).parent == folder and Path(made).name.startswith("leadhook-")
    again = invoke(db_path, "db", "backup", made)
    assert again.exit_code == 1
    assert f"Error: {made} exists already" in again.output
    itself = invoke(db_path, "db", "backup", str(db_path))
    assert itself.exit_code == 1


def test_backup_does_not_migrate_the_source(db_path, tmp_path):
    """A backup taken before an upgrade is of the old schema."""
    database = connect(db_path)
    migrations.apply(database, stop_before="m005_per_client_dedupe")
    database.close()
    assert invoke(db_path, "db", "backup", str(tmp_path / "old.db")).exit_code == 0
    applied = {m.name for m in migrations.applied(open_file(tmp_path / "old.db"))}
    assert "m005_per_client_dedupe" not in applied
    assert "m005_per_client_dedupe" not in {m.name for m in migrations.applied(open_file(db_path))}
