"""``leadhook clients``: workspaces and their webhook tokens.

A token is printed once, when it is made (``add``, ``rotate-token``); the database keeps only
its hash and first characters, which is all ``list`` shows. ``disable`` makes every webhook
with the client's token answer 401 (its data stays; ``enable`` undoes it); ``update`` changes
its name and workspace ids. Refusals exit with status 1 and a message: a workspace id another
client has (``add``, ``update``), an unknown client.
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
    lines = [_line(c) for c in found]
    emit(
        [c.__dict__ for c in found],
        as_json,
        "\n".join(lines) or 'no clients yet: leadhook clients add --name "Acme"',
    )


def _line(c: db.Client) -> str:
    return (
        f"{c.id}\t{c.name}\tghl={c.ghl_location_id or '-'}\tunipile={c.unipile_account_id or '-'}"
        f"\temail={c.email_workspace_id or '-'}\ttoken={c.token_prefix}…"
        + (f"\tDISABLED since {c.disabled_at}" if c.disabled_at else "")
    )


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


@clients_group.command(name="update")
@click.argument("client_id", type=int)
@click.option("--name")
@click.option("--ghl-location-id", help='The GoHighLevel location id ("" clears it).')
@click.option("--unipile-account-id", help='The Unipile account id ("" clears it).')
@click.option("--email-workspace-id", help='The email platform workspace id ("" clears it).')
@click.option("--json", "as_json", is_flag=True)
def clients_update(
    client_id: int,
    name: str | None,
    ghl_location_id: str | None,
    unipile_account_id: str | None,
    email_workspace_id: str | None,
    as_json: bool,
) -> None:
    """Change a workspace's name or workspace ids (only the options given).

    \b
    Example:
        leadhook clients update 1 --name "Acme EU" --email-workspace-id 67890
        leadhook clients update 1 --unipile-account-id ""
    """
    given = {
        "name": name,
        "ghl_location_id": ghl_location_id,
        "unipile_account_id": unipile_account_id,
        "email_workspace_id": email_workspace_id,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise click.UsageError("nothing to change: give --name or a workspace id option")
    if "name" in changes and not changes["name"].strip():
        raise click.UsageError("--name cannot be blank")
    client = call("update_client", client_id, now=db.iso(db.utcnow()), **changes)
    if client is None:
        raise click.ClickException(f"no client {client_id}")
    emit(client.__dict__, as_json, _line(client))


@clients_group.command(name="disable")
@click.argument("client_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def clients_disable(client_id: int, as_json: bool) -> None:
    """Refuse a workspace's token (401) from now on; its data stays. `enable` undoes it.

    \b
    Example:
        leadhook clients disable 1
    """
    _set_disabled("disable_client", client_id, as_json)


@clients_group.command(name="enable")
@click.argument("client_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def clients_enable(client_id: int, as_json: bool) -> None:
    """Accept a disabled workspace's token again.

    \b
    Example:
        leadhook clients enable 1
    """
    _set_disabled("enable_client", client_id, as_json)


def _set_disabled(operation: str, client_id: int, as_json: bool) -> None:
    client, changed = call(operation, client_id, now=db.iso(db.utcnow()))
    if client is None:
        raise click.ClickException(f"no client {client_id}")
    state = "disabled" if client.disabled_at else "enabled"
    text = f"client {client_id} ({client.name}) is {state}" + ("" if changed else " already")
    if client.disabled_at:
        text += f" (since {client.disabled_at}): its webhooks answer 401"
    emit({**client.__dict__, "changed": changed}, as_json, text)
