"""The product's vocabularies, defined once: job types and statuses, channels, lead statuses,
sentiment tags. Everything that needs one of these lists imports it from here.

The schema's ``CHECK`` constraints are frozen copies made when a migration shipped
(``db/sqlite/migrations.py``); ``tests/test_migrations.py`` checks that the live lists and the
schema agree.
"""

from __future__ import annotations

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

# -- AI drafts ---------------------------------------------------------------------------------

DRAFT_STATUSES = ("pending", "approved", "rejected")

# -- the AI spend report -----------------------------------------------------------------------

# ``--by`` / ``?by=`` → the ``ai_interactions`` column grouped by.
REPORT_DIMENSIONS = {"source": "source", "feature": "feature_id", "model": "model"}
# What the console's spend page groups by (``ai_latency_daily.dimension``).
SPEND_DIMENSIONS = ("source", "feature", "model", "client")

# -- operator actions --------------------------------------------------------------------------

# ``last_error`` of a job an operator discarded starts with this (it stays FAILED: see
# ``Store.discard_job``).
DISCARDED = "discarded by operator"
