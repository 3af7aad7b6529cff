"""The product's vocabularies, defined once: job types and statuses, channels, lead statuses,
sentiment tags, the SMS carrier opt-out keywords. Everything that needs one of these lists
imports it from here.

The schema's ``CHECK`` constraints are frozen copies made when a migration shipped
(``db/sqlite/migrations.py``); ``tests/test_migrations.py`` checks that the live lists and the
schema agree.
"""

from __future__ import annotations

import re

# -- background jobs ---------------------------------------------------------------------------

SMS_INBOUND_POST_PROCESS = "SMS_INBOUND_POST_PROCESS"
EMAIL_INBOUND_POST_PROCESS = "EMAIL_INBOUND_POST_PROCESS"
LINKEDIN_INBOUND_POST_PROCESS = "LINKEDIN_INBOUND_POST_PROCESS"
SMARTLEAD_INBOUND_POST_PROCESS = "SMARTLEAD_INBOUND_POST_PROCESS"
INSTANTLY_INBOUND_POST_PROCESS = "INSTANTLY_INBOUND_POST_PROCESS"
LEAD_SCORING_POST_PROCESS = "LEAD_SCORING_POST_PROCESS"

INBOUND_JOB_TYPES = (
    SMS_INBOUND_POST_PROCESS,
    EMAIL_INBOUND_POST_PROCESS,
    LINKEDIN_INBOUND_POST_PROCESS,
    SMARTLEAD_INBOUND_POST_PROCESS,
    INSTANTLY_INBOUND_POST_PROCESS,
)
JOB_TYPES = (*INBOUND_JOB_TYPES, LEAD_SCORING_POST_PROCESS)

PENDING, RUNNING, SUCCEEDED, FAILED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED"
JOB_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED)
# How a pruned job ended (``pruned_jobs.status``): SUCCEEDED keys are never enqueued again.
FINISHED_JOB_STATUSES = (SUCCEEDED, FAILED)
# The write operations a job handler may hand to its job's finish (``JobResult.writes``): run
# in the same transaction as the SUCCEEDED, so the job costs one commit fewer.
FINISH_WRITES = frozenset({"finish_inbound", "insert_draft", "set_lead_score"})

DEFAULT_MAX_ATTEMPTS = 5
MAX_ATTEMPTS = {LEAD_SCORING_POST_PROCESS: 3}


def job_dedupe_key(client_id: int, message_id: int, job_type: str) -> str:
    """One job per message and type: ``{client_id}:{message_id}:{TYPE}``."""
    return f"{client_id}:{message_id}:{job_type}"


# -- messages ----------------------------------------------------------------------------------

CHANNELS = ("sms", "email", "linkedin")
DIRECTIONS = ("inbound", "outbound")
# The columns a message may be deduplicated by; each is UNIQUE (per client) and nullable.
DEDUPE_COLUMNS = (
    "ghl_id",
    "email_reply_id",
    "unipile_message_id",
    "webhook_dedupe_key",
    "scheduled_email_id",
)

# -- leads -------------------------------------------------------------------------------------

BLACKLISTED = "blacklisted"
BLACKLIST_TAG = "Blacklist"
LEAD_STATUSES = (
    "new",
    "qualified",
    "meeting-requested",
    "meeting-booked",
    "not-interested",
    BLACKLISTED,
)
SENTIMENT_TAGS = (
    "New",
    "Meeting Booked",
    "Meeting Requested",
    "Call Requested",
    "Information Requested",
    "Not Interested",
    BLACKLIST_TAG,
    "Follow Up",
    "Out of Office",
    "Automated Reply",
    "Interested",
    "Neutral",
    "Snoozed",
)

INTERESTED_TAG = "Interested"
# The lead status a sentiment tag implies; the other tags → ``new``. (postprocess.sentiment
# applies it to what the model says; the storage applies it to a provider's own hint, e.g.
# EmailBison's LEAD_INTERESTED.)
STATUS_BY_TAG = {
    "Meeting Booked": "meeting-booked",
    "Meeting Requested": "meeting-requested",
    "Call Requested": "qualified",
    "Information Requested": "qualified",
    INTERESTED_TAG: "qualified",
    "Not Interested": "not-interested",
    BLACKLIST_TAG: BLACKLISTED,
}
DEFAULT_LEAD_STATUS = "new"

# What an opted-out lead's score is, whatever a scoring job computed: fit, intent, overall,
# reasoning (the same as postprocess.scoring's disqualified scores for Blacklist).
OPTED_OUT_SCORES = (1, 1, 1, f"Disqualified: {BLACKLIST_TAG}")

# An inbound SMS whose whole body is one of these is an opt-out (carrier keywords, CTIA),
# decided when the message is stored, without an AI call: see :func:`is_sms_opt_out`.
SMS_OPT_OUT_KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
_SURROUNDING_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


def is_sms_opt_out(body: str | None) -> bool:
    """Whether an SMS body is a carrier opt-out keyword: trimmed, case-insensitive, with the
    punctuation (and symbols) around it ignored: ``"Stop."``, ``" quit! "``, ``"'END'"``."""
    word = _SURROUNDING_PUNCTUATION.sub("", (body or "").strip()).upper()
    return word in SMS_OPT_OUT_KEYWORDS


# How a message's sentiment was found (``message_sentiments.classified_by``): a fast-path
# rule without AI, or the model.
CLASSIFIED_BY = ("rule", "ai")

# -- AI drafts ---------------------------------------------------------------------------------

DRAFT_STATUSES = ("pending", "approved", "rejected")

# -- the AI spend report -----------------------------------------------------------------------

# ``--by`` / ``?by=`` → the ``ai_interactions`` column grouped by.
REPORT_DIMENSIONS = {"source": "source", "feature": "feature_id", "model": "model"}
# What the console's spend page groups by (``ai_latency_daily.dimension``).
SPEND_DIMENSIONS = ("source", "feature", "model", "client")
# What the spend page sums per group (``ai_usage_hourly``'s counters; ``cost_usd`` of priced
# calls only).
SPEND_SUMS = (
    "calls",
    "errors",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "unpriced_calls",
)

# -- the delivery ledger -------------------------------------------------------------------------

# ``deliveries.outcome``: the message was stored (or the lead opted out), the delivery repeated
# a stored message, the route stores nothing for it (an event type it does not store, an empty
# message), or it was refused with a 4xx (or 5xx) answer.
STORED, DEDUPED, IGNORED, REJECTED = "stored", "deduped", "ignored", "rejected"
DELIVERY_OUTCOMES = (STORED, DEDUPED, IGNORED, REJECTED)
# A provider's own id is stored under these prefixes in some dedupe keys (SmartLead's reply
# Message-ID and sent stats id, Instantly's sent email id): a look-up by provider id tries them.
PROVIDER_KEY_PREFIXES = ("smartlead:", "instantly:")

# -- operator actions --------------------------------------------------------------------------

# ``last_error`` of a job an operator discarded starts with this (it stays FAILED: see
# ``Store.discard_job``).
DISCARDED = "discarded by operator"
