"""The delivery ledger's side of the webhook flow: what a request's ``deliveries`` row says.

:class:`Ledger` is ``app.state.ledger``. The webhook flow (:mod:`handlers._webhook`) opens an
:class:`Entry` when a request reaches its route (:meth:`Ledger.begin`), fills in what it
learns (the client, the raw body), and either hands :meth:`Ledger.accepted` rows to the
write that stores the delivery (``ingest``, ``unsubscribe``, ``record_ignored``: the row
commits with the message and job, or not at all) or records a rejected request with
:meth:`Ledger.rejected`: queued for the same group-commit writer without waiting
(:class:`handlers._ledger_kept.KeptRows` keeps rows the database cannot take now, bounded,
and writes them when it can).

Secrets never reach a row: every leadhook token (wherever it appears in the body, the error
or the payload's values: the request's own, another workspace's, a rotated one; found by its
shape, ``lh_`` and 43 characters, the only shape leadhook issues) and every ``secret_key``
value are replaced by ``[redacted]``; the
route is its path, never the query string (``?token=``). A body is kept (redacted) only when
``LEADHOOK_LEDGER_BODY_DAYS`` is not 0 and the request had a valid token: a request without
one is recorded without its body (its size from ``Content-Length``), and at most
``LEADHOOK_LEDGER_REJECTED_PER_MINUTE`` such rows a minute; the others are counted in
:attr:`Ledger.unrecorded` (since the process started), which the metrics read.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import db
from db import NewDelivery
from db.tokens import TOKEN_PATTERN, TOKEN_PREFIX
from handlers._errors import describe
from handlers._ledger_kept import KeptRows

if TYPE_CHECKING:
    from litestar import Request

    from config import Settings

REDACTED = "[redacted]"
# A token shorter than this is no token leadhook issued (they are ``lh_`` + 43 characters):
# it is not searched for in the body (replacing "a" everywhere would ruin it).
MIN_SECRET = 8
# "secret_key": <a string, a number, true/false/null>, anywhere in the JSON text.
_SECRET_KEY = re.compile(
    r'("secret_key"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false|null)'
)
_SECRET_KEY_STRING = re.compile(r'"secret_key"\s*:\s*"((?:[^"\\]|\\.)*)"')
# Anything shaped like a leadhook token (another workspace's, a rotated one) goes too.
_TOKEN_SHAPE = re.compile(TOKEN_PATTERN)


def secret_key_values(text: str) -> list[str]:
    """The ``secret_key`` strings of a JSON text, JSON-decoded (to redact elsewhere too)."""
    values = []
    for raw in _SECRET_KEY_STRING.findall(text):
        try:
            values.append(json.loads(f'"{raw}"'))
        except ValueError:
            values.append(raw)
    return values


def redact(text: str | None, secrets: tuple[str, ...]) -> str | None:
    """``text`` with every ``secret_key`` value and every one of ``secrets`` replaced by
    ``[redacted]``."""
    if not text:
        return text
    if "secret_key" in text:
        text = _SECRET_KEY.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if TOKEN_PREFIX in text:
        text = _TOKEN_SHAPE.sub(REDACTED, text)
    return text


@dataclass(slots=True)
class Entry:
    """One request's ledger facts, filled in as the flow learns them."""

    route: str
    received_at: str
    started: float
    token: str | None = None  # a secret to redact besides the shapes (tests, tools)
    client_id: int | None = None  # set once the token is valid
    raw: bytes | None = None  # the body, once read
    replay_of: int | None = None

    def secrets(self) -> tuple[str, ...]:
        found = []
        if self.token and len(self.token) >= MIN_SECRET:
            found.append(self.token)
        if self.raw is not None and b"secret_key" in self.raw:
            text = self.raw.decode("utf-8", "replace")
            found += [v for v in secret_key_values(text) if len(v) >= MIN_SECRET]
        return tuple(found)


def _answer(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


class Ledger:
    """``app.state.ledger``: opens each request's :class:`Entry`, builds its row, records the
    rejected ones. ``enabled=False`` (``LEADHOOK_LEDGER_ENABLED=0``, a benchmark knob)
    records nothing."""

    def __init__(self, store: db.Store, settings: Settings) -> None:
        self.enabled = settings.ledger_enabled
        self.keep_bodies = settings.ledger_body_days > 0
        self.per_minute = settings.ledger_rejected_per_minute
        self.kept = KeptRows(store)
        # Requests without a valid token past the per-minute cap: counted, not recorded
        # (since the process started; the metrics read it).
        self.unrecorded = 0
        self.monotonic = time.monotonic  # the clock of the per-minute cap (tests set it)
        self._minute = -1
        self._in_minute = 0

    def begin(self, request: Request, route: str, received_at: str) -> Entry | None:
        """The entry of a request that reached ``route`` (None when the ledger is off)."""
        if not self.enabled:
            return None
        return Entry(route, received_at, time.monotonic())

    # -- rows -----------------------------------------------------------------------------------

    def row(
        self,
        entry: Entry,
        *,
        status: int = 200,
        outcome: str | None = None,
        error: str | None = None,
        event_type: str | None = None,
        dedupe_key: str | None = None,
        answer: dict[str, Any] | None = None,
        content_length: str | None = None,
        duration: bool = False,
    ) -> NewDelivery:
        """The row of ``entry`` with what the flow decided. ``duration``: measure it now
        (a row written later, e.g. a rejected one, must not count its wait for the writer)."""
        secrets = entry.secrets()
        raw = entry.raw
        body = body_bytes = body_sha256 = None
        if raw is not None:
            body_bytes, body_sha256 = len(raw), hashlib.sha256(raw).hexdigest()
            if self.keep_bodies and entry.client_id is not None:
                body = redact(raw.decode("utf-8", "replace"), secrets)
        elif content_length is not None and content_length.isdigit():
            body_bytes = int(content_length)
        return NewDelivery(
            received_at=entry.received_at,
            route=entry.route,
            started=entry.started,
            client_id=entry.client_id,
            status_code=status,
            outcome=outcome,
            error=redact(error, secrets),
            event_type=redact(event_type, secrets),
            dedupe_key=redact(dedupe_key, secrets),
            body_bytes=body_bytes,
            body_sha256=body_sha256,
            body=body,
            answer=None if answer is None else redact(_answer(answer), secrets),
            replay_of=entry.replay_of,
            duration_ms=round((time.monotonic() - entry.started) * 1000, 3) if duration else None,
        )

    def accepted(
        self,
        entry: Entry | None,
        *,
        event_type: str | None,
        dedupe_key: str | None = None,
        error: str | None = None,
        answer: dict[str, Any] | None = None,
    ) -> NewDelivery | None:
        """The row an accepted delivery's write records (its outcome, message and answer are
        set by the write when ``answer`` is None); None when the ledger is off."""
        if entry is None:
            return None
        kind = "ignored" if answer is not None else None
        return self.row(
            entry,
            outcome=kind,
            event_type=event_type,
            dedupe_key=dedupe_key,
            error=error,
            answer=answer,
        )

    def rejected(self, request: Request, entry: Entry | None, exc: BaseException) -> None:
        """Record the request as rejected with the status and error it is answered with
        (:func:`handlers._errors.describe`), without waiting for the commit."""
        if entry is None:
            return
        if entry.client_id is None and not self._admit_tokenless():
            self.unrecorded += 1
            return
        status, detail, _ = describe(exc)
        row = self.row(
            entry,
            status=status,
            outcome="rejected",
            error=detail,
            answer={"success": False, "error": detail},
            content_length=request.headers.get("content-length"),
            duration=True,
        )
        self.kept.submit(row)

    def _admit_tokenless(self) -> bool:
        """Whether this minute's cap on rows without a valid token has room."""
        minute = int(self.monotonic() // 60)
        if minute != self._minute:
            self._minute, self._in_minute = minute, 0
        if self._in_minute >= self.per_minute:
            return False
        self._in_minute += 1
        return True

    async def flush(self, timeout: float = 10.0) -> None:
        """Write what is queued and kept (at shutdown, before the store closes)."""
        await self.kept.flush(timeout)

    async def close(self) -> None:
        await self.kept.close()
