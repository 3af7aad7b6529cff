"""The records that cross the storage interface, in and out.

In: :class:`NewMessage` and :class:`LeadFields` (what a webhook delivers), :class:`NewDelivery`
(its ledger row), :class:`JobResult` (how a job attempt ended). Out: :class:`Client`,
:class:`IngestResult`. Rows of ``leads``,
``messages``, ``background_jobs``, ``ai_interactions`` and ``ai_drafts`` come back as plain
dicts keyed by column name, with timestamps as ISO-8601 UTC strings on every backend.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, fields
from typing import Any

from db.vocab import (
    BLACKLISTED,
    DELIVERY_OUTCOMES,
    FINISH_WRITES,
    SUCCEEDED,
    is_sms_opt_out,
)

_NON_DIGITS = re.compile(r"\D+")

Row = dict[str, Any]


def phone_digits(phone: str | None) -> str | None:
    """The digits of a phone number (how leads are matched by phone), None when there are none."""
    digits = _NON_DIGITS.sub("", phone or "")
    return digits or None


@dataclass(frozen=True)
class Client:
    """A workspace. Its token is never stored, only its hash and first characters."""

    id: int
    name: str
    ghl_location_id: str | None
    unipile_account_id: str | None
    email_workspace_id: str | None
    token_prefix: str
    created_at: str
    disabled_at: str | None = None  # a disabled client's token is refused (401)


@dataclass(frozen=True)
class LeadFields:
    """What a webhook knows about the contact; blanks are None."""

    ghl_contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    linkedin_id: str | None = None
    linkedin_url: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def cleaned(self) -> LeadFields:
        """Trimmed, blanks as None, the email lowercased."""
        values = {f.name: (getattr(self, f.name) or "").strip() or None for f in fields(self)}
        if values["email"]:
            values["email"] = values["email"].lower()
        return LeadFields(**values)

    def has_identifier(self) -> bool:
        """Whether any field a lead can be matched by is set."""
        cleaned = self.cleaned()
        identifiers = ("ghl_contact_id", "email", "phone", "linkedin_id", "linkedin_url")
        return any(getattr(cleaned, name) for name in identifiers)


@dataclass(frozen=True)
class NewMessage:
    """A message as a webhook delivers it, deduplicated by exactly one dedupe column."""

    client_id: int
    channel: str  # sms | email | linkedin
    direction: str  # inbound | outbound
    body: str
    sent_at: str
    received_at: str
    source: str  # the provider
    dedupe_column: str
    dedupe_value: str
    subject: str | None = None
    job_type: str | None = None  # the post-process job; None for no job
    # For keys computed from content (GoHighLevel): a key seen longer ago than this many
    # seconds is a genuine repeat and gets a derived key. None: plain dedupe; 0: forever.
    repeat_window_seconds: int | None = None
    # The provider's own timestamp, raw, when ``sent_at`` is not it (out of bounds or
    # unreadable); None when ``sent_at`` is the provider's time (or it gave none).
    provider_sent_at: str | None = None
    # A sentiment tag the provider itself gives the lead for this message (EmailBison's
    # LEAD_INTERESTED: "Interested"), applied in the delivery's transaction, also when the
    # message is already stored, under the lead state rules (an opt-out is final).
    sentiment_hint: str | None = None

    @property
    def opts_out(self) -> bool:
        """An inbound SMS that says STOP (or the like): the lead opts out with it."""
        return self.channel == "sms" and self.direction == "inbound" and is_sms_opt_out(self.body)


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    lead_id: int
    deduped: bool
    job_id: int | None
    job_enqueued: bool

    def answer(self) -> dict[str, Any]:
        """The webhook's answer for it."""
        return {
            "success": True,
            "deduped": self.deduped,
            "messageId": self.message_id,
            "leadId": self.lead_id,
            "jobEnqueued": self.job_enqueued,
        }

    def answer_json(self) -> str:
        """:meth:`answer` as compact JSON (as the ledger row stores it; no encoder needed for
        two booleans and two integers)."""
        return (
            f'{{"success":true,"deduped":{"true" if self.deduped else "false"},'
            f'"messageId":{int(self.message_id)},"leadId":{int(self.lead_id)},'
            f'"jobEnqueued":{"true" if self.job_enqueued else "false"}}}'
        )


def unsubscribe_answer(lead_id: int) -> dict[str, Any]:
    """The webhook's answer to an unsubscribe (stored in the ledger row with it)."""
    return {"success": True, "leadId": lead_id, "status": BLACKLISTED}


@dataclass(slots=True)
class NewDelivery:
    """One ``deliveries`` row (the delivery ledger) as the webhook flow knows it.

    Every text is already free of secrets (the caller redacts: the token, ``secret_key``
    values; no query string). The write that records it sets what only it knows: for an
    accepted delivery ``outcome`` (``stored`` or ``deduped``), ``message_id``, ``answer``;
    for every row ``duration_ms`` (``started``, a ``time.monotonic()`` reading, to the
    moment the row is written).
    """

    received_at: str
    route: str
    started: float
    client_id: int | None = None
    status_code: int = 200
    outcome: str | None = None  # set by the write for stored/deduped
    error: str | None = None
    event_type: str | None = None
    message_id: int | None = None
    dedupe_key: str | None = None
    body_bytes: int | None = None
    body_sha256: str | None = None
    body: str | None = None  # None: not kept (or not read)
    answer: str | None = None  # the JSON answered; None: set by the write
    replay_of: int | None = None
    duration_ms: float | None = None  # None: measured by the write from ``started``

    def row(
        self,
        *,
        outcome: str | None = None,
        message_id: int | None = None,
        answer: dict[str, Any] | str | None = None,
    ) -> tuple:
        """The values of :data:`DELIVERY_COLUMNS`, as both backends insert them: ``outcome``,
        ``message_id`` and ``answer`` (a dict or its JSON) as the write decided them, else the
        record's own; ``duration_ms`` measured now unless the record has it."""
        duration = self.duration_ms
        if duration is None:
            duration = round((time.monotonic() - self.started) * 1000, 3)
        outcome = outcome or self.outcome
        if outcome not in DELIVERY_OUTCOMES:
            raise ValueError(f"not a delivery outcome: {outcome!r}")
        text = self.answer if answer is None else answer
        if isinstance(text, dict):
            text = json.dumps(text, separators=(",", ":"))
        return (
            self.received_at,
            self.route,
            self.client_id,
            self.status_code,
            outcome,
            self.error,
            self.event_type,
            self.message_id if message_id is None else message_id,
            self.dedupe_key,
            duration,
            self.body_bytes,
            self.body_sha256,
            self.body,
            text,
            self.replay_of,
        )


# The ``deliveries`` columns :meth:`NewDelivery.row` gives values for, in its order.
DELIVERY_COLUMNS = (
    "received_at, route, client_id, status_code, outcome, error, event_type, message_id, "
    "dedupe_key, duration_ms, body_bytes, body_sha256, body, answer, replay_of"
)


@dataclass(frozen=True)
class JobResult:
    """How one attempt of a job ended, as written by :meth:`db.Store.finish_job`.

    ``status`` is the job's next status: ``SUCCEEDED``, ``FAILED``, or ``PENDING`` again at
    ``run_at``. ``snooze`` marks a ``PENDING`` that is not a failure (a rate limit, a
    shutdown): it adds one to ``snoozes``. ``writes``: the handler's last writes, ``(name,
    args)`` of the store's write operations in :data:`db.vocab.FINISH_WRITES`, run in the
    same transaction before the job's row, also when the claim was lost (each is idempotent:
    they are the handler's results, and a re-run would only write them again).
    """

    status: str
    error: str | None = None
    run_at: str | None = None
    snooze: bool = False
    writes: tuple[tuple[str, tuple], ...] = ()

    def __post_init__(self) -> None:
        unknown = [name for name, _ in self.writes if name not in FINISH_WRITES]
        if unknown:
            raise ValueError(f"a job's finish cannot run {unknown}: only {sorted(FINISH_WRITES)}")
        if self.writes and self.status != SUCCEEDED:
            raise ValueError(f"a job ending {self.status} has no writes to finish with")


# The workspace ids a client may hold (each UNIQUE across clients).
WORKSPACE_COLUMNS = ("ghl_location_id", "unipile_account_id", "email_workspace_id")


def client_changes(changes: dict) -> dict[str, str | None]:
    """``changes`` to a client (``name`` and workspace ids) checked and trimmed, a blank id
    as None (cleared); ValueError for another field or a blank name."""
    unknown = set(changes) - {"name", *WORKSPACE_COLUMNS}
    if unknown:
        raise ValueError(f"not client fields: {sorted(unknown)}")
    if "name" in changes and not (changes["name"] or "").strip():
        raise ValueError("a client's name cannot be blank")
    return {c: ((v or "").strip() or None) for c, v in changes.items()}


def rollup_column(direction: str) -> str:
    """The lead's roll-up timestamp a message of ``direction`` moves."""
    return "last_inbound_at" if direction == "inbound" else "last_outbound_at"


# ``ai_interactions``' columns as a recorded call fills them (``id`` aside), and the references
# that are stored as NULL when the row they name is gone (deleted while the call was in flight).
INTERACTION_COLUMNS = (
    "source",
    "client_id",
    "lead_id",
    "message_id",
    "background_job_id",
    "job_attempt",
    "feature_id",
    "prompt_key",
    "provider",
    "api_type",
    "model",
    "response_model",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "latency_ms",
    "status",
    "error_message",
    "cost_usd",
    "price_input_per_mtok",
    "price_cached_input_per_mtok",
    "price_output_per_mtok",
    "price_source",
    "created_at",
)
INTERACTION_REFERENCES = {
    "client_id": "clients",
    "lead_id": "leads",
    "message_id": "messages",
    "background_job_id": "background_jobs",
}
