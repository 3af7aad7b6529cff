"""Leads' personal data and token hashes are readable by their owner only: the database and
its -wal/-shm files 0600, the folders leadhook creates 0700, the demo token file, the server
lock file and backups 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import db
from cli.serve import demo_workspace
from config import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The common default umask 022 would make new files 0644: leadhook must not rely on it."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_database_and_its_folders_are_private(tmp_path):
    path = tmp_path / "var" / "lib" / "leadhook" / "leadhook.db"
    store = db.open_store(path)
    try:
        store.sync.create_client(name="A", now=db.iso(db.utcnow()))
        for name in ("leadhook.db", "leadhook.db-wal", "leadhook.db-shm"):
            assert mode(path.parent / name) == 0o600, name
        for folder in (tmp_path / "var", tmp_path / "var" / "lib", path.parent):
            assert mode(folder) == 0o700, folder
    finally:
        store.close()


def test_an_existing_folder_keeps_its_mode_and_an_existing_wide_file_is_narrowed(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    path = folder / "old.db"
    db.open_store(path).close()
    os.chmod(path, 0o644)  # as leadhook before this fix created it
    store = db.open_store(path)
    try:
        assert mode(path) == 0o600
        assert mode(folder) == 0o755
    finally:
        store.close()


def test_the_demo_token_file_is_private(tmp_path, capsys):
    path = tmp_path / "data" / "leadhook.db"
    store = db.open_store(path)
    try:
        demo_workspace(store, Settings(db_path=str(path)), "127.0.0.1", 8000)
    finally:
        store.close()
    assert mode(path.parent / "demo-token.txt") == 0o600
    assert capsys.readouterr().out.count("lh_") == 1


def test_the_server_lock_file_and_backups_are_private(tmp_path, store, db_path):
    lock = db.hold_server_lock(db_path, command="pytest")
    try:
        assert mode(lock.path) == 0o600
    finally:
        lock.release()
    result = store.sync.backup(tmp_path / "backups" / "copy.db")
    assert mode(Path(result["path"])) == 0o600
    assert mode(tmp_path / "backups") == 0o700
