"""The ``leadhook`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

import db
from ai.cli import ai_group
from config import Settings
from scheduler.cli import jobs as jobs_group

DEMO_LOCATION = "loc_demo"
DEMO_NAME = "Demo workspace"


def _call(operation: str, *args, **kwargs):
    """Run one store operation against ``$LEADHOOK_DB`` and close the store."""
    store = db.open_store(Settings.from_env().db_path)
    try:
        return getattr(store.sync, operation)(*args, **kwargs)
    finally:
        store.close()


def _emit(data: object, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@click.group()
@click.version_option(package_name="leadhook")
def cli() -> None:
    """leadhook: lead-reply webhooks in, stored exactly once, AI post-processing out.

    The SQLite file is $LEADHOOK_DB (default data/leadhook.db).
    """


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Create the demo workspace (location loc_demo).")
def serve(host: str, port: int, demo: bool) -> None:
    """Serve HTTP, apply migrations and run the scheduler, in one process.

    \b
    Example:
        leadhook serve --port 8000
    """
    import uvicorn

    from app import create_app

    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    store = db.open_store(settings.db_path)
    try:
        if demo:
            _demo_workspace(store, settings, host, port)
    finally:
        store.close()
    # No access log: its request lines would carry ?token= query strings.
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, workers=1)


def _demo_workspace(store: db.Store, settings: Settings, host: str, port: int) -> None:
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
    token_file.write_text(token + "\n")
    os.chmod(token_file, 0o600)
    click.echo(
        f"\nDemo workspace {client.id} (GoHighLevel location {DEMO_LOCATION}); token:\n"
        f"  {token}\n(also in {token_file})\n\nTry:\n"
        f"  curl -s -X POST http://{host}:{port}/api/webhooks/ghl/sms \\\n"
        f'    -H "Authorization: Bearer $(cat {token_file})" \\\n'
        "    -H 'Content-Type: application/json' -d @examples/ghl_sms_demo.json\n"
    )


@cli.group(name="db")
def db_group() -> None:
    """The SQLite file."""


@db_group.command()
def migrate() -> None:
    """Bring the schema up to date (serve does this too).

    \b
    Example:
        LEADHOOK_DB=data/leadhook.db leadhook db migrate
    """
    settings = Settings.from_env()
    store = db.open_store(settings.db_path)
    applied = store.applied_migrations
    store.close()
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@cli.group()
def clients() -> None:
    """Workspaces and their webhook tokens."""


@clients.command(name="add")
@click.option("--name", required=True)
@click.option("--ghl-location-id")
@click.option("--unipile-account-id")
@click.option("--email-workspace-id")
@click.option("--json", "as_json", is_flag=True, help='Print {"id": ..., "token": ...}.')
def clients_add(
    name: str,
    ghl_location_id: str | None,
    unipile_account_id: str | None,
    email_workspace_id: str | None,
    as_json: bool,
) -> None:
    """Add a workspace and print its webhook token (shown once, stored hashed).

    \b
    Example:
        leadhook clients add --name "Acme" --ghl-location-id loc_AbC123 --json
    """
    try:
        client, token = _call(
            "create_client",
            name=name,
            now=db.iso(db.utcnow()),
            ghl_location_id=ghl_location_id,
            unipile_account_id=unipile_account_id,
            email_workspace_id=email_workspace_id,
        )
    except db.DuplicateWorkspace as exc:
        raise click.ClickException(str(exc)) from None
    _emit(
        {"id": client.id, "token": token},
        as_json,
        f"client {client.id} ({client.name})\ntoken: {token}\n"
        "The token is shown only now; `leadhook clients rotate-token` makes a new one.",
    )


@clients.command(name="list")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json: bool) -> None:
    """List workspaces (tokens are never shown, only their first characters).

    \b
    Example:
        leadhook clients list --json
    """
    found = _call("list_clients")
    lines = [
        f"{c.id}\t{c.name}\tghl={c.ghl_location_id or '-'}\tunipile={c.unipile_account_id or '-'}"
        f"\temail={c.email_workspace_id or '-'}\ttoken={c.token_prefix}…"
        for c in found
    ]
    _emit([c.__dict__ for c in found], as_json, "\n".join(lines) or "no clients")


@clients.command(name="rotate-token")
@click.argument("client_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def clients_rotate_token(client_id: int, as_json: bool) -> None:
    """Give a workspace a new token; the old one stops working at once.

    \b
    Example:
        leadhook clients rotate-token 1
    """
    token = _call("rotate_token", client_id, now=db.iso(db.utcnow()))
    if token is None:
        raise click.ClickException(f"no client {client_id}")
    _emit({"id": client_id, "token": token}, as_json, f"client {client_id}\ntoken: {token}")


cli.add_command(jobs_group)
cli.add_command(ai_group)


def main() -> None:
    cli(prog_name="leadhook")


if __name__ == "__main__":
    sys.exit(main())
