"""``leadhook db``: the database file. ``db migrate`` applies the pending migrations and
names them (``serve`` applies them too, at start)."""

from __future__ import annotations

import click

from cli._output import open_store


@click.group(name="db")
def db_group() -> None:
    """The SQLite file.

    \b
    Example:
        leadhook db migrate
    """


@db_group.command()
def migrate() -> None:
    """Bring the schema up to date (serve does this too).

    \b
    Example:
        LEADHOOK_DB=data/leadhook.db leadhook db migrate
    """
    with open_store() as store:
        applied = store.applied_migrations
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
