"""``leadhook clients``: workspaces and their webhook tokens.

A token is printed once, when it is made (``add``, ``rotate-token``); the database keeps only
its hash and first characters, which is all ``list`` shows. Refusals exit with status 1 and
a message: a workspace id another client has (``add``), an unknown client (``rotate-token``).
"""

from __future__ import annotations

import click

import db
from cli._output import call, emit


@click.group(name="clients")
def clients_group() -> None:
    """Workspaces and their webhook tokens.

    \b
    Example:
        leadhook clients add --name "Acme" --ghl-location-id loc_AbC123
        leadhook clients list
    """


@clients_group.command(name="add")
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
    client, token = call(
        "create_client",
        name=name,
        now=db.iso(db.utcnow()),
        ghl_location_id=ghl_location_id,
        unipile_account_id=unipile_account_id,
        email_workspace_id=email_workspace_id,
    )
    emit(
        {"id": client.id, "token": token},
        as_json,
        f"client {client.id} ({client.name})\ntoken: {token}\n"
        "The token is shown only now; `leadhook clients rotate-token` makes a new one.",
    )


@clients_group.command(name="list")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json: bool) -> None:
    """List workspaces (tokens are never shown, only their first characters).

    \b
    Example:
        leadhook clients list --json
    """
    found = call("list_clients")
    lines = [
        f"{c.id}\t{c.name}\tghl={c.ghl_location_id or '-'}\tunipile={c.unipile_account_id or '-'}"
        f"\temail={c.email_workspace_id or '-'}\ttoken={c.token_prefix}…"
        for c in found
    ]
    emit([c.__dict__ for c in found], as_json, "\n".join(lines) or "no clients")


@clients_group.command(name="rotate-token")
@click.argument("client_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def clients_rotate_token(client_id: int, as_json: bool) -> None:
    """Give a workspace a new token; the old one stops working at once.

    \b
    Example:
        leadhook clients rotate-token 1
    """
    token = call("rotate_token", client_id, now=db.iso(db.utcnow()))
    if token is None:
        raise click.ClickException(f"no client {client_id}")
    emit({"id": client_id, "token": token}, as_json, f"client {client_id}\ntoken: {token}")
