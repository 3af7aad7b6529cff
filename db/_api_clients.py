"""The storage interface, part 1: clients (workspaces) and their tokens."""

from __future__ import annotations

from typing import Any

from db.records import Client


class ClientOperations:
    """Clients: created, listed, found by token hash or workspace id, tokens rotated,
    updated, disabled and enabled."""

    write_op: Any
    read_op: Any

    async def create_client(self, *, name: str, now: str, **ids: str | None) -> tuple[Client, str]:
        """Add a client with a new token (or ``token=``); returns it and the token, which is
        stored only hashed. ``ids``: ``ghl_location_id``, ``unipile_account_id``,
        ``email_workspace_id``. :class:`DuplicateWorkspace` when one is taken."""
        return await self.write_op("create_client", name, now, ids)

    async def list_clients(self) -> list[Client]:
        return await self.read_op("list_clients")

    async def get_client(self, client_id: int) -> Client | None:
        return await self.read_op("get_client", client_id)

    async def client_by_token_hash(self, token_hash: str) -> Client | None:
        """The client whose token has this SHA-256 hash (compared in constant time); None
        also when that client is disabled."""
        return await self.read_op("client_by_token_hash", token_hash)

    async def client_by_workspace(self, column: str, value: str) -> Client | None:
        """The client with ``ghl_location_id``/``unipile_account_id``/``email_workspace_id``."""
        return await self.read_op("client_by_workspace", column, value)

    async def rotate_token(self, client_id: int, *, now: str) -> str | None:
        """A new token for the client (the old one stops working at once); None if no client."""
        return await self.write_op("rotate_token", client_id, now)

    async def update_client(
        self, client_id: int, *, now: str, **changes: str | None
    ) -> Client | None:
        """Change ``name`` and/or the workspace ids (a blank id clears it); None if no such
        client; :class:`DuplicateWorkspace` when an id is another client's."""
        return await self.write_op("update_client", client_id, now, changes)

    async def disable_client(self, client_id: int, *, now: str) -> tuple[Client | None, bool]:
        """Refuse the client's token from now on (every lookup and every write's re-check):
        ``(client, changed)``; the client is None when there is none."""
        return await self.write_op("disable_client", client_id, now)

    async def enable_client(self, client_id: int, *, now: str) -> tuple[Client | None, bool]:
        """Accept the client's token again: ``(client, changed)``."""
        return await self.write_op("enable_client", client_id, now)
