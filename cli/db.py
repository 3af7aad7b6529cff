"""``leadhook db``: the database file.

- ``db migrate`` applies the pending migrations and names them (``serve`` applies them too,
  at start); with ``serve`` it is the only command that creates a missing file.
- ``db backup PATH`` writes a consistent copy (SQLite's online backup: one snapshot, while a
  server runs and writes), readable by its owner only, to a new file ``PATH``, or into the
  folder ``PATH`` as ``leadhook-<UTC time>.db``. The database is not migrated first: a
  backup before an upgrade is of the old schema.
- ``db check`` runs ``integrity_check`` and ``foreign_key_check`` and compares the
  migrations applied with those this version knows; exit status 1 with one line per
  problem. It does not migrate either. On Postgres it checks the migrations and that every
  table is there (Postgres enforces foreign keys itself).
- ``db copy --to URL`` copies the SQLite file of ``LEADHOOK_DB`` into an empty Postgres
  database (migrated first): every table, ids kept, sequences set past them, row counts
  verified and printed; a target that is not empty is refused in one line. Stop the server
  first: what it writes after the copy's snapshot is not copied.
- ``db backup`` is for SQLite files; on Postgres it says to use ``pg_dump``.

Restoring is documented in docs/deploy.md (stop the server, copy the backup into place,
start).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

import db
from cli._output import emit, open_store, read_settings


@click.group(name="db")
def db_group() -> None:
    """The database: migrate, back up, check, copy to Postgres.

    \b
    Example:
        leadhook db migrate
        leadhook db backup /var/backups/leadhook/
        leadhook db check
        leadhook db copy --to postgresql://leadhook@db.internal/leadhook
    """


@db_group.command()
def migrate() -> None:
    """Bring the schema up to date, creating the file if it does not exist (serve does
    this too).

    \b
    Example:
        LEADHOOK_DB=data/leadhook.db leadhook db migrate
    """
    with open_store(create=True) as store:
        applied = store.applied_migrations
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


def backup_target(path: str) -> Path:
    """``path``, or a new timestamped file in it when it is a folder (or ends in ``/``: a
    folder to create)."""
    if path.endswith("/") or Path(path).is_dir():
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1000):03d}Z"
        return Path(path) / f"leadhook-{stamp}.db"
    return Path(path)


@db_group.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help='Print {"path", "bytes", "pages"}.')
def backup(path: str, as_json: bool) -> None:
    """Write a consistent copy of the database to PATH (a new file, or a folder), safe
    while the server runs. The copy is readable by its owner only.

    \b
    Example:
        leadhook db backup backups/leadhook-$(date +%F).db
        leadhook db backup /var/backups/leadhook/
    """
    target = backup_target(path)
    with open_store(migrate=False) as store:
        result = store.sync.backup(target)
    emit(
        result,
        as_json,
        f"backup written: {result['path']} ({result['bytes']} bytes, {result['pages']} "
        "pages, quick_check ok)",
    )


@db_group.command()
@click.option("--json", "as_json", is_flag=True)
def check(as_json: bool) -> None:
    """Check the file: integrity, foreign keys, migrations up to date. Exit status 1 with
    what is wrong.

    \b
    Example:
        leadhook db check
    """
    with open_store(migrate=False) as store:
        result = store.sync.check()
    problems = result["problems"]
    applied = result["migrations"]["applied"]
    ok = (
        f"ok: integrity, foreign keys, migrations ({len(applied)} applied, the last "
        f"{applied[-1] if applied else 'none'})"
    )
    emit(result, as_json, "\n".join(problems) if problems else ok)
    if problems:
        raise SystemExit(1)


@db_group.command()
@click.option("--to", "url", required=True, metavar="URL", help="postgresql://user@host/db")
@click.option("--json", "as_json", is_flag=True, help="Print {table: rows}.")
def copy(url: str, as_json: bool) -> None:
    """Copy the SQLite database (LEADHOOK_DB) into the EMPTY Postgres database URL: every
    table, ids kept, row counts verified. Stop the server first; afterwards point
    LEADHOOK_DB at URL (docs/scaling.md).

    \b
    Example:
        leadhook db copy --to postgresql://leadhook@db.internal:5432/leadhook
    """
    source = read_settings().db_path
    if db.is_database_url(source):
        raise click.ClickException(
            "LEADHOOK_DB is already a database URL: db copy reads a SQLite file (set "
            "LEADHOOK_DB to it)"
        )
    if not db.is_database_url(url):
        raise click.ClickException(f"--to must be a postgresql:// URL, not {db.redact(url)!r}")
    try:
        counts = db.copy_to_postgres(source, url)
    except db.DatabaseMissing as exc:
        raise click.ClickException(f"{exc} (LEADHOOK_DB names the SQLite file to copy)") from None
    except db.DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    width = max(len(table) for table in counts)
    lines = [f"  {table:<{width}}  {n:>9}" for table, n in counts.items()]
    text = "\n".join(
        [
            f"copied {source} into {db.redact(url)}; rows per table (verified equal):",
            *lines,
            f"  {'total':<{width}}  {sum(counts.values()):>9}",
            f"next: stop using the file, set LEADHOOK_DB={db.redact(url)} and start the servers",
        ]
    )
    emit(counts, as_json, text)
