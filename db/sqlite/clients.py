"""Clients (workspaces) and their webhook tokens. Tokens are stored only as a SHA-256 hash.

A disabled client (``disabled_at`` set) is refused everywhere a token is checked: the lookup
(:func:`client_by_token_hash`) finds no client, and :func:`check_token` inside a write raises
:class:`TokenRevoked`. ``disable_client``/``enable_client``/``update_client`` are the
operations of ``leadhook clients disable|enable|update``.
"""

from __future__ import annotations

import hmac
import sqlite3

from sqlite_utils import Database

from db.errors import DuplicateWorkspace, TokenRevoked
from db.records import WORKSPACE_COLUMNS, Client, client_changes
from db.sqlite._connection import one, rows
from db.tokens import hash_token, new_token

_COLUMNS = (
    "id, name, ghl_location_id, unipile_account_id, email_workspace_id, token_prefix, "
    "created_at, disabled_at"
)


def create_client(db: Database, name: str, now: str, ids: dict) -> tuple[Client, str]:
    """Insert a client; return it and its webhook token (shown once, stored hashed)."""
    unknown = set(ids) - {*WORKSPACE_COLUMNS, "token"}
    if unknown:
        raise ValueError(f"not client ids: {sorted(unknown)}")
    token = ids.get("token") or new_token()
    values = [ids.get(column) or None for column in WORKSPACE_COLUMNS]
    try:
        row = one(
            db,
            f"""INSERT INTO clients (name, ghl_location_id, unipile_account_id,
                                     email_workspace_id, token_hash, token_prefix,
                                     created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}""",
            (name, *values, hash_token(token), token[:10], now, now),
        )
    except sqlite3.IntegrityError as exc:
        raise DuplicateWorkspace(f"a workspace already uses that id ({exc})") from None
    assert row is not None
    return Client(**row), token


def rotate_token(db: Database, client_id: int, now: str) -> str | None:
    """Give the client a new token (the old one stops working at once); None if no client."""
    token = new_token()
    row = one(
        db,
        "UPDATE clients SET token_hash = ?, token_prefix = ?, updated_at = ? WHERE id = ? "
        "RETURNING id",
        (hash_token(token), token[:10], now, client_id),
    )
    return token if row else None


def list_clients(db: Database) -> list[Client]:
    return [Client(**r) for r in rows(db, f"SELECT {_COLUMNS} FROM clients ORDER BY id")]


def get_client(db: Database, client_id: int) -> Client | None:
    row = one(db, f"SELECT {_COLUMNS} FROM clients WHERE id = ?", (client_id,))
    return Client(**row) if row else None


def client_by_token_hash(db: Database, token_hash: str) -> Client | None:
    """The client whose token has this hash, or None. The comparison is constant-time."""
    row = one(db, f"SELECT {_COLUMNS}, token_hash FROM clients WHERE token_hash = ?", (token_hash,))
    if row is None or not hmac.compare_digest(row.pop("token_hash"), token_hash):
        return None
    if row["disabled_at"] is not None:
        return None
    return Client(**row)


def client_by_workspace(db: Database, column: str, value: str) -> Client | None:
    if column not in WORKSPACE_COLUMNS:
        raise ValueError(f"not a client lookup column: {column}")
    row = one(db, f"SELECT {_COLUMNS} FROM clients WHERE {column} = ?", (value,))
    return Client(**row) if row else None


def check_token(db: Database, client_id: int, token_hash: str) -> None:
    """Raise :class:`TokenRevoked` unless ``token_hash`` is still the client's token.

    Run inside write transactions; once per client, token and batch (the write lock is held,
    so the answer cannot change within the batch).
    """
    memo = getattr(db, "batch_memo", None)
    if memo is not None and (client_id, token_hash) in memo:
        return
    row = one(db, "SELECT token_hash, disabled_at FROM clients WHERE id = ?", (client_id,))
    if row is None or not hmac.compare_digest(row["token_hash"], token_hash):
        raise TokenRevoked("the client token is no longer valid")
    if row["disabled_at"] is not None:
        raise TokenRevoked("the client is disabled")
    if memo is not None:
        memo[client_id, token_hash] = True


def check_caller(db: Database, client_id: int, token_hash: str | None) -> None:
    """:func:`check_token`, or with ``token_hash`` None (an operator's replay of a stored
    delivery, which names its client and carries no token) :class:`TokenRevoked` unless the
    client exists and is enabled."""
    if token_hash is not None:
        check_token(db, client_id, token_hash)
        return
    row = one(db, "SELECT disabled_at FROM clients WHERE id = ?", (client_id,))
    if row is None:
        raise TokenRevoked(f"no client {client_id}")
    if row["disabled_at"] is not None:
        raise TokenRevoked("the client is disabled")


def update_client(db: Database, client_id: int, now: str, changes: dict) -> Client | None:
    """Set the client's ``name`` and workspace ids given in ``changes`` (a blank id clears
    it); None if there is no such client. :class:`DuplicateWorkspace` when an id is taken."""
    values = client_changes(changes)
    sets = "".join(f"{column} = :{column}, " for column in values)
    try:
        row = one(
            db,
            f"UPDATE clients SET {sets}updated_at = :now WHERE id = :id RETURNING {_COLUMNS}",
            {**values, "now": now, "id": client_id},
        )
    except sqlite3.IntegrityError as exc:
        raise DuplicateWorkspace(f"a workspace already uses that id ({exc})") from None
    return Client(**row) if row else None


def disable_client(db: Database, client_id: int, now: str) -> tuple[Client | None, bool]:
    return _set_disabled(db, client_id, True, now)


def enable_client(db: Database, client_id: int, now: str) -> tuple[Client | None, bool]:
    return _set_disabled(db, client_id, False, now)


def _set_disabled(
    db: Database, client_id: int, disabled: bool, now: str
) -> tuple[Client | None, bool]:
    """Disable (``disabled_at = now``) or enable the client: ``(client, changed)``; changed
    is False when it already was in that state, and the client None when there is none."""
    if disabled:
        sql = "UPDATE clients SET disabled_at = :now, updated_at = :now"
        sql += " WHERE id = :id AND disabled_at IS NULL"
    else:
        sql = "UPDATE clients SET disabled_at = NULL, updated_at = :now"
        sql += " WHERE id = :id AND disabled_at IS NOT NULL"
    row = one(db, f"{sql} RETURNING {_COLUMNS}", {"now": now, "id": client_id})
    if row is not None:
        return Client(**row), True
    return get_client(db, client_id), False
