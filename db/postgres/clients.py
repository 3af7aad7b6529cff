"""Clients (workspaces) and their webhook tokens, on Postgres (as :mod:`db.sqlite.clients`).

:func:`check_caller` runs inside every write that a token authorises (or an operator's
replay, which names an enabled client); it reads the client's row ``FOR SHARE``, so a
rotation or a disable waits for the writes already authorised and every write after it sees
the new token: "stops working at once", as with SQLite's single writer. ``ingest`` does the
same check in its first statement (:func:`caller_is_valid`).
"""

from __future__ import annotations

import hmac

import psycopg
from psycopg import errors as pg_errors

from db.errors import DuplicateWorkspace, TokenRevoked
from db.postgres._sql import one, rows
from db.records import WORKSPACE_COLUMNS, Client, client_changes
from db.tokens import hash_token, new_token

_COLUMNS = (
    "id, name, ghl_location_id, unipile_account_id, email_workspace_id, token_prefix, "
    "created_at, disabled_at"
)


def create_client(conn: psycopg.Connection, name: str, now: str, ids: dict) -> tuple[Client, str]:
    unknown = set(ids) - {*WORKSPACE_COLUMNS, "token"}
    if unknown:
        raise ValueError(f"not client ids: {sorted(unknown)}")
    token = ids.get("token") or new_token()
    values = [ids.get(column) or None for column in WORKSPACE_COLUMNS]
    try:
        row = one(
            conn,
            f"""INSERT INTO clients (name, ghl_location_id, unipile_account_id,
                                     email_workspace_id, token_hash, token_prefix,
                                     created_at, updated_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
            (name, *values, hash_token(token), token[:10], now, now),
        )
    except pg_errors.UniqueViolation as exc:
        raise DuplicateWorkspace(f"a workspace already uses that id ({_what(exc)})") from None
    assert row is not None
    return Client(**row), token


def _what(exc: pg_errors.UniqueViolation) -> str:
    diag = exc.diag
    return diag.message_detail or diag.constraint_name or "unique"


def rotate_token(conn: psycopg.Connection, client_id: int, now: str) -> str | None:
    token = new_token()
    row = one(
        conn,
        "UPDATE clients SET token_hash = %s, token_prefix = %s, updated_at = %s WHERE id = %s "
        "RETURNING id",
        (hash_token(token), token[:10], now, client_id),
    )
    return token if row else None


def list_clients(conn: psycopg.Connection) -> list[Client]:
    return [Client(**r) for r in rows(conn, f"SELECT {_COLUMNS} FROM clients ORDER BY id")]


def get_client(conn: psycopg.Connection, client_id: int) -> Client | None:
    row = one(conn, f"SELECT {_COLUMNS} FROM clients WHERE id = %s", (client_id,))
    return Client(**row) if row else None


def client_by_token_hash(conn: psycopg.Connection, token_hash: str) -> Client | None:
    row = one(
        conn, f"SELECT {_COLUMNS}, token_hash FROM clients WHERE token_hash = %s", (token_hash,)
    )
    if row is None or not hmac.compare_digest(row.pop("token_hash"), token_hash):
        return None
    if row["disabled_at"] is not None:
        return None
    return Client(**row)


def client_by_workspace(conn: psycopg.Connection, column: str, value: str) -> Client | None:
    if column not in WORKSPACE_COLUMNS:
        raise ValueError(f"not a client lookup column: {column}")
    row = one(conn, f"SELECT {_COLUMNS} FROM clients WHERE {column} = %s", (value,))
    return Client(**row) if row else None


def check_token(conn: psycopg.Connection, client_id: int, token_hash: str) -> None:
    """Raise :class:`TokenRevoked` unless ``token_hash`` is still the client's token."""
    row = one(
        conn,
        "SELECT token_hash, disabled_at FROM clients WHERE id = %s FOR SHARE",
        (client_id,),
    )
    token_is_valid(row, token_hash)


def check_caller(conn: psycopg.Connection, client_id: int, token_hash: str | None) -> None:
    """:func:`check_token`, or with ``token_hash`` None (an operator's replay of a stored
    delivery, which names its client and carries no token) :class:`TokenRevoked` unless the
    client exists and is enabled (as :func:`db.sqlite.clients.check_caller`)."""
    row = one(
        conn,
        "SELECT token_hash, disabled_at FROM clients WHERE id = %s FOR SHARE",
        (client_id,),
    )
    caller_is_valid(row, client_id, token_hash)


def caller_is_valid(row: dict | None, client_id: int, token_hash: str | None) -> None:
    """:func:`token_is_valid`, or for ``token_hash`` None (a replay) the client's row must
    exist and not be disabled."""
    if token_hash is not None:
        token_is_valid(row, token_hash)
        return
    if row is None:
        raise TokenRevoked(f"no client {client_id}")
    if row["disabled_at"] is not None:
        raise TokenRevoked("the client is disabled")


def token_is_valid(row: dict | None, token_hash: str) -> None:
    """Raise :class:`TokenRevoked` unless ``row`` (``token_hash``, ``disabled_at`` of the
    client, read ``FOR SHARE``) still accepts ``token_hash``."""
    if row is None or not hmac.compare_digest(row["token_hash"], token_hash):
        raise TokenRevoked("the client token is no longer valid")
    if row["disabled_at"] is not None:
        raise TokenRevoked("the client is disabled")


def update_client(
    conn: psycopg.Connection, client_id: int, now: str, changes: dict
) -> Client | None:
    values = client_changes(changes)
    sets = "".join(f"{column} = %({column})s, " for column in values)
    try:
        row = one(
            conn,
            f"UPDATE clients SET {sets}updated_at = %(now)s WHERE id = %(id)s RETURNING {_COLUMNS}",
            {**values, "now": now, "id": client_id},
        )
    except pg_errors.UniqueViolation as exc:
        raise DuplicateWorkspace(f"a workspace already uses that id ({_what(exc)})") from None
    return Client(**row) if row else None


def disable_client(
    conn: psycopg.Connection, client_id: int, now: str
) -> tuple[Client | None, bool]:
    return _set_disabled(conn, client_id, True, now)


def enable_client(conn: psycopg.Connection, client_id: int, now: str) -> tuple[Client | None, bool]:
    return _set_disabled(conn, client_id, False, now)


def _set_disabled(
    conn: psycopg.Connection, client_id: int, disabled: bool, now: str
) -> tuple[Client | None, bool]:
    if disabled:
        sql = "UPDATE clients SET disabled_at = %(now)s, updated_at = %(now)s"
        sql += " WHERE id = %(id)s AND disabled_at IS NULL"
    else:
        sql = "UPDATE clients SET disabled_at = NULL, updated_at = %(now)s"
        sql += " WHERE id = %(id)s AND disabled_at IS NOT NULL"
    row = one(conn, f"{sql} RETURNING {_COLUMNS}", {"now": now, "id": client_id})
    if row is not None:
        return Client(**row), True
    return get_client(conn, client_id), False
