"""cli._output: the store is always closed, db errors become messages, text formatting."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
import pytest

import db
from cli import _output


class FakeStore:
    closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_store(monkeypatch, db_path) -> FakeStore:
    store = FakeStore()
    monkeypatch.setenv("LEADHOOK_DB", str(db_path))
    monkeypatch.setattr(db, "open_store", lambda path, **options: store)
    return store


def test_open_store_closes_the_store_when_the_command_fails(fake_store):
    with pytest.raises(click.ClickException, match="no client 7"), _output.open_store():
        raise click.ClickException("no client 7")
    assert fake_store.closed


def test_a_db_error_becomes_a_click_error_with_its_message(fake_store):
    with pytest.raises(click.ClickException) as caught, _output.open_store():
        raise db.DuplicateWorkspace("a workspace already uses that id")
    assert caught.value.message == "a workspace already uses that id"
    assert caught.value.exit_code == 1
    assert fake_store.closed


def test_call_runs_one_operation_and_closes(store, db_path, monkeypatch):
    monkeypatch.setenv("LEADHOOK_DB", str(db_path))
    assert _output.call("list_clients") == []


def test_a_missing_database_is_refused_not_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADHOOK_DB", "data/typo.db")
    with pytest.raises(click.ClickException) as caught, _output.open_store():
        pass
    message = caught.value.message
    assert message.startswith(f"no database at {tmp_path / 'data' / 'typo.db'} ")
    assert "LEADHOOK_DB=data/typo.db" in message and str(tmp_path) in message
    assert "`leadhook db migrate`" in message
    assert "\n" not in message
    assert not (tmp_path / "data").exists()


def test_emit_prints_json_or_text(capsys):
    when = datetime(2026, 1, 18, tzinfo=UTC)
    _output.emit({"at": when}, True, "ignored")
    assert json.loads(capsys.readouterr().out) == {"at": str(when)}
    _output.emit({"at": when}, False, "the text")
    assert capsys.readouterr().out == "the text\n"


def test_table_aligns_the_first_column_left_and_the_others_right():
    assert _output.table([["TYPE", "PENDING"], ["total", "3"]], min_width=9) == [
        "TYPE     PENDING",
        "total          3",
    ]
    assert _output.table([["A", "BB"], ["ccc", "1"]]) == ["A    BB", "ccc   1"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-3, "0s"), (7.9, "7s"), (300, "5m 00s"), (3900, "1h 05m"), (2 * 86400 + 3 * 3600, "2d 3h")],
)
def test_age(seconds, text):
    assert _output.age(seconds) == text


def test_one_line():
    assert _output.one_line("ValueError: broken\n  second line") == (
        "ValueError: broken second line"
    )
    assert _output.one_line(None) == ""
    assert _output.one_line("x" * 70, width=10) == "x" * 9 + "…"
