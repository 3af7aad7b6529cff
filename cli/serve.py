"""``leadhook serve``: HTTP, migrations and the scheduler in one process; ``--demo`` (what
``make run`` uses) also creates the demo workspace and prints its token.

In this order, so that a start that cannot work fails before it changes anything:

1. the settings (a wrong value: one line naming the variable, exit status 78);
2. the server lock of the SQLite file (``<db>.lock``, :func:`db.hold_server_lock`): a second
   server on the same file exits with one line naming the process that holds it;
3. the port: a port another process listens on is refused (one line) before the database is
   opened, so the banner, migrations and the job runner never start for nothing;
4. the database (created if missing, migrated), the demo workspace with ``--demo`` only
   (without it no workspace is created), the start-up banner (:mod:`cli._banner`);
5. the server.

The demo token is kept in ``demo-token.txt`` beside the database (created 0600), so that a
restart prints the same token; a lost or stale token file gets a fresh token, never a second
workspace.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import click

import db
from cli._banner import banner
from cli._output import open_store, read_settings
from config import Settings
from monitoring import configure_logging

DEMO_LOCATION = "loc_demo"
DEMO_NAME = "Demo workspace"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Create the demo workspace (location loc_demo).")
def serve(host: str, port: int, demo: bool) -> None:
    """Serve HTTP, apply migrations and run the scheduler, in one process.

    One server per SQLite file: a second one on the same file refuses to start and names the
    process holding it.

    \b
    Example:
        leadhook serve --port 8000
    """
    from app import create_app
    from app import serve as serve_http

    settings = read_settings()
    lock = hold_lock(settings)
    try:
        check_port(host, port)
    except click.ClickException:
        if lock is not None:
            lock.release()
        raise
    configure_logging(settings.log_level, settings.log_format)  # every line in one format
    with open_store(settings, create=True) as store:
        if demo:
            demo_workspace(store, settings, host, port)
        click.echo(banner(store, settings, host, port))
    serve_http(create_app(settings), settings, host=host, port=port)


def hold_lock(config: Settings) -> db.ServerLock | None:
    """This process's server lock on the database (held until it exits; None for a
    database URL)."""
    command = " ".join(["leadhook", *sys.argv[1:]])
    try:
        return db.hold_server_lock(config.db_path, command=command)
    except db.DatabaseInUse as exc:
        raise click.ClickException(
            f"{exc}: stop that server first, or set LEADHOOK_DB to another file"
        ) from None
    except OSError as exc:
        raise click.ClickException(f"cannot lock {config.db_path}: {exc}") from None


def check_port(host: str, port: int) -> None:
    """Refuse a port that cannot be bound (another process listens there), before anything
    else starts. The server binds it again a moment later (SO_REUSEADDR, as uvicorn does)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {reason} (another server runs there? "
                "stop it or choose another --port)"
            ) from None


def write_private(path: Path, text: str) -> None:
    """``text`` into ``path``, readable by its owner only from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have had wider rights
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def demo_workspace(store: db.Store, settings: Settings, host: str, port: int) -> None:
    """Create the demo workspace once; keep its token in data/ so restarts print the same one."""
    token_file = Path(settings.db_path).parent / "demo-token.txt"
    now = db.iso(db.utcnow())
    sync = store.sync
    client = sync.client_by_workspace("ghl_location_id", DEMO_LOCATION)
    token = token_file.read_text().strip() if token_file.exists() else ""
    if client is None:
        client, token = sync.create_client(
            name=DEMO_NAME,
            now=now,
            ghl_location_id=DEMO_LOCATION,
            unipile_account_id="acc_demo",
            email_workspace_id="demo",
        )
    elif not token or sync.client_by_token_hash(db.hash_token(token)) is None:
        token = sync.rotate_token(client.id, now=now) or ""
    write_private(token_file, token + "\n")
    click.echo(
        f"\nDemo workspace {client.id} (GoHighLevel location {DEMO_LOCATION}); token:\n"
        f"  {token}\n(also in {token_file})\n\nTry:\n"
        f"  curl -s -X POST http://{host}:{port}/api/webhooks/ghl/sms \\\n"
        f'    -H "Authorization: Bearer $(cat {token_file})" \\\n'
        "    -H 'Content-Type: application/json' -d @examples/ghl_sms_demo.json\n"
    )
