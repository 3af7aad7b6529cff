"""Clients (workspaces) and their webhook tokens. Tokens are stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlite_utils import Database

from db._connection import one, rows

TOKEN_PREFIX = "lh_"


@dataclass(frozen=True)
class Client:
    id: int
    name: str
    ghl_location_id: str | None
    unipile_account_id: str | None
    email_workspace_id: str | None
    token_prefix: str
    created_at: str


_COLUMNS = (
    "id, name, ghl_location_id, unipile_account_id, email_workspace_id, token_prefix, created_at"
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_client(
    db: Database,
    *,
    name: str,
    now: str,
    ghl_location_id: str | None = None,
    unipile_account_id: str | None = None,
    email_workspace_id: str | None = None,
    token: str | None = None,
) -> tuple[Client, str]:
    """Insert a client; return it and its webhook token (shown once, stored hashed)."""
    token = token or new_token()
    row = one(
        db,
        f"""INSERT INTO clients (name, ghl_location_id, unipile_account_id, email_workspace_id,
                                token_hash, token_prefix, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}""",
        (
            name,
            ghl_location_id or None,
            unipile_account_id or None,
            email_workspace_id or None,
            hash_token(token),
            token[:10],
            now,
            now,
        ),
    )
    assert row is not None
    return Client(**row), token


def rotate_token(db: Database, client_id: int, *, now: str) -> str | None:
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


def find_client_by_token(db: Database, token: str) -> Client | None:
    """The client whose token this is, or None."""
    return find_client_by_token_hash(db, hash_token(token)) if token else None


def find_client_by_token_hash(db: Database, token_hash: str) -> Client | None:
    """The client whose token has this hash, or None. The comparison is constant-time."""
    row = one(db, f"SELECT {_COLUMNS}, token_hash FROM clients WHERE token_hash = ?", (token_hash,))
    if row is None or not hmac.compare_digest(row.pop("token_hash"), token_hash):
        return None
    return Client(**row)


def token_is_current(db: Database, client_id: int, token_hash: str) -> bool:
    """Whether ``token_hash`` is still the client's token (checked inside write transactions)."""
    row = one(db, "SELECT token_hash FROM clients WHERE id = ?", (client_id,))
    return row is not None and hmac.compare_digest(row["token_hash"], token_hash)


def find_client_by(db: Database, column: str, value: str) -> Client | None:
    if column not in ("ghl_location_id", "unipile_account_id", "email_workspace_id"):
        raise ValueError(f"not a client lookup column: {column}")
    row = one(db, f"SELECT {_COLUMNS} FROM clients WHERE {column} = ?", (value,))
    return Client(**row) if row else None
