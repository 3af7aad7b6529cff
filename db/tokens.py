"""Webhook tokens: made here, shown once, stored only as their SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "lh_"
# What every token :func:`new_token` makes looks like (to find tokens in text and redact them).
TOKEN_PATTERN = TOKEN_PREFIX + r"[A-Za-z0-9_-]{43}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
