"""leadhook clients add|list|rotate-token, db migrate, and the demo workspace of make run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import cli
import db
from cli.serve import demo_workspace
from config import Settings
from tests.conftest import open_file


@pytest.fixture
def run(db_path, monkeypatch):
    """The CLI on ``db_path``, created with ``db migrate`` (the other commands never create
    a database)."""
    monkeypatch.setenv("LEADHOOK_DB", str(db_path))

    def invoke(*args: str, ok: bool = True):
        result = CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


@pytest.fixture
def migrated(run):
    run("db", "migrate")
    return run


def test_db_migrate(run, db_path):
    assert "applied: m001_initial" in run("db", "migrate").output
    assert run("db", "migrate").output.strip() == "schema is up to date"


def test_clients_add_json_prints_id_and_token(run, migrated, db_path):
    out = json.loads(
        run("clients", "add", "--name", "Acme", "--ghl-location-id", "loc_1", "--json").output
    )
    assert set(out) == {"id", "token"}
    store = db.open_store(db_path)
    client = store.sync.client_by_token_hash(db.hash_token(out["token"]))
    store.close()
    assert client is not None and client.id == out["id"]
    assert client.ghl_location_id == "loc_1"
    # Only the hash is stored.
    database = open_file(db_path)
    dump = "\n".join(database.conn.iterdump())
    assert out["token"] not in dump


def test_clients_add_refuses_a_taken_workspace_id(run, migrated):
    run("clients", "add", "--name", "A", "--ghl-location-id", "loc_1")
    result = run("clients", "add", "--name", "B", "--ghl-location-id", "loc_1", ok=False)
    assert result.exit_code != 0
    assert "already uses" in result.output


def test_clients_list_never_shows_tokens(run, migrated):
    token = json.loads(run("clients", "add", "--name", "Acme", "--json").output)["token"]
    listing = run("clients", "list").output
    assert "Acme" in listing and token not in listing
    as_json = json.loads(run("clients", "list", "--json").output)
    assert as_json[0]["name"] == "Acme"
    assert token not in json.dumps(as_json)


def test_rotate_token(run, migrated, db_path):
    created = json.loads(run("clients", "add", "--name", "Acme", "--json").output)
    rotated = json.loads(run("clients", "rotate-token", str(created["id"]), "--json").output)
    assert rotated["token"] != created["token"]
    store = db.open_store(db_path)
    assert store.sync.client_by_token_hash(db.hash_token(created["token"])) is None
    assert store.sync.client_by_token_hash(db.hash_token(rotated["token"])).id == created["id"]
    store.close()
    assert run("clients", "rotate-token", "999", ok=False).exit_code != 0


def test_help_texts_carry_examples(run):
    for command in (
        ["clients", "add"],
        ["clients", "list"],
        ["clients", "rotate-token"],
        ["db", "migrate"],
        ["serve"],
    ):
        assert "Example:" in run(*command, "--help").output


def test_demo_workspace_is_created_once_and_its_token_reprinted(db_path, store, capsys):
    settings = Settings(db_path=str(db_path))
    demo_workspace(store, settings, "127.0.0.1", 8000)
    first = (db_path.parent / "demo-token.txt").read_text().strip()
    demo_workspace(store, settings, "127.0.0.1", 8000)
    second = (db_path.parent / "demo-token.txt").read_text().strip()
    assert first == second
    assert first in capsys.readouterr().out
    client = store.sync.client_by_token_hash(db.hash_token(first))
    assert client.ghl_location_id == "loc_demo"
    assert len(store.sync.list_clients()) == 1
    # A lost token file gets a fresh token, never a second workspace.
    (db_path.parent / "demo-token.txt").unlink()
    demo_workspace(store, settings, "127.0.0.1", 8000)
    third = (db_path.parent / "demo-token.txt").read_text().strip()
    assert store.sync.client_by_token_hash(db.hash_token(third)).id == client.id
    assert len(store.sync.list_clients()) == 1
