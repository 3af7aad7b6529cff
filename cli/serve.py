"""``leadhook serve``: HTTP, migrations and the scheduler in one process; ``--demo`` (what
``make run`` uses) first creates the demo workspace and prints its token.

The demo token is kept in ``demo-token.txt`` beside the database (mode 0600), so that a
restart prints the same token; a lost or stale token file gets a fresh token, never a second
workspace.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

import db
from cli._output import open_store
from config import Settings

DEMO_LOCATION = "loc_demo"
DEMO_NAME = "Demo workspace"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Create the demo workspace (location loc_demo).")
def serve(host: str, port: int, demo: bool) -> None:
    """Serve HTTP, apply migrations and run the scheduler, in one process.

    \b
    Example:
        leadhook serve --port 8000
    """
    from app import create_app
    from app import serve as serve_http

    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    with open_store(settings) as store:
        if demo:
            demo_workspace(store, settings, host, port)
    serve_http(create_app(settings), settings, host=host, port=port)


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
    token_file.write_text(token + "\n")
    os.chmod(token_file, 0o600)
    click.echo(
        f"\nDemo workspace {client.id} (GoHighLevel location {DEMO_LOCATION}); token:\n"
        f"  {token}\n(also in {token_file})\n\nTry:\n"
        f"  curl -s -X POST http://{host}:{port}/api/webhooks/ghl/sms \\\n"
        f'    -H "Authorization: Bearer $(cat {token_file})" \\\n'
        "    -H 'Content-Type: application/json' -d @examples/ghl_sms_demo.json\n"
    )
