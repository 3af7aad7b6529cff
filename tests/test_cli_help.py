"""Every ``leadhook`` command and group explains itself: help with an ``Example:`` block."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

import cli

GROUPS = {"serve", "db", "config", "clients", "jobs", "leads", "drafts", "ai", "deliveries"}


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli.cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


COMMANDS = list(walk(cli.cli))


def test_the_tree_has_every_command():
    assert {" ".join(p) for p in COMMANDS} >= {
        "",
        "serve",
        "db migrate",
        "clients add",
        "clients list",
        "clients rotate-token",
        "jobs stats",
        "jobs list",
        "jobs retry",
        "ai report",
        "leads opt-in",
        "deliveries list",
        "deliveries show",
        "deliveries replay",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "leadhook")
def test_help_has_an_example_that_names_the_command(path):
    # \b keeps click from re-wrapping the example lines into one paragraph.
    assert "\b\nExample:\n" in inspect.cleandoc(command_at(path).help or "")
    result = CliRunner().invoke(cli.cli, [*path, "--help"], prog_name="leadhook")
    assert result.exit_code == 0, result.output
    example = result.output.split("Example:\n", 1)[1]
    assert " ".join(("leadhook", *path)) in example


def test_root_help_lists_every_group():
    result = CliRunner().invoke(cli.cli, ["--help"], prog_name="leadhook")
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert {line.split()[0] for line in listed if line.strip()} == GROUPS
    assert set(cli.cli.commands) == GROUPS
