"""The initial schema: clients, leads, messages, background_jobs, ai_interactions, ai_drafts."""

from __future__ import annotations

from sqlite_utils import Database

from db.sqlite.migrations._registry import in_list as _in
from db.sqlite.migrations._registry import migrations

# Frozen copies of the vocabularies as of this migration (db.vocab holds the live lists).
LEAD_STATUSES = (
    "new",
    "qualified",
    "meeting-requested",
    "meeting-booked",
    "not-interested",
    "blacklisted",
)
SENTIMENT_TAGS = (
    "New",
    "Meeting Booked",
    "Meeting Requested",
    "Call Requested",
    "Information Requested",
    "Not Interested",
    "Blacklist",
    "Follow Up",
    "Out of Office",
    "Automated Reply",
    "Interested",
    "Neutral",
    "Snoozed",
)
CHANNELS = ("sms", "email", "linkedin")
JOB_STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        f"""
        CREATE TABLE clients (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            ghl_location_id TEXT UNIQUE,
            unipile_account_id TEXT UNIQUE,
            email_workspace_id TEXT UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,   -- sha256 hex of the webhook token
            token_prefix TEXT NOT NULL,        -- first characters, to recognise a token
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE leads (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            ghl_contact_id TEXT,
            email TEXT,                        -- lowercased; matched case-insensitively
            phone TEXT,
            phone_digits TEXT,                 -- digits of phone, for matching
            linkedin_id TEXT,
            linkedin_url TEXT,                 -- https://linkedin.com/in/<user>
            first_name TEXT,
            last_name TEXT,
            status TEXT NOT NULL DEFAULT 'new' CHECK (status IN {_in(LEAD_STATUSES)}),
            sentiment_tag TEXT CHECK (sentiment_tag IS NULL OR sentiment_tag IN {_in(SENTIMENT_TAGS)}),
            fit_score INTEGER CHECK (fit_score IS NULL OR fit_score BETWEEN 1 AND 4),
            intent_score INTEGER CHECK (intent_score IS NULL OR intent_score BETWEEN 1 AND 4),
            overall_score INTEGER CHECK (overall_score IS NULL OR overall_score BETWEEN 1 AND 4),
            score_reasoning TEXT,
            scored_at TEXT,
            last_inbound_at TEXT,
            last_outbound_at TEXT,
            last_message_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- Partial indexes: a lead without that identifier costs no index entry.
        CREATE UNIQUE INDEX leads_client_ghl_contact ON leads (client_id, ghl_contact_id)
            WHERE ghl_contact_id IS NOT NULL;
        CREATE INDEX leads_client_email ON leads (client_id, email COLLATE NOCASE)
            WHERE email IS NOT NULL;
        CREATE INDEX leads_client_phone_digits ON leads (client_id, phone_digits)
            WHERE phone_digits IS NOT NULL;
        CREATE INDEX leads_client_linkedin_id ON leads (client_id, linkedin_id)
            WHERE linkedin_id IS NOT NULL;
        CREATE INDEX leads_client_linkedin_url ON leads (client_id, linkedin_url)
            WHERE linkedin_url IS NOT NULL;

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            channel TEXT NOT NULL CHECK (channel IN {_in(CHANNELS)}),
            direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
            body TEXT NOT NULL,
            subject TEXT,
            sent_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            source TEXT NOT NULL,              -- provider: ghl, emailbison, smartlead, instantly, unipile
            -- The dedupe columns: each UNIQUE (the partial indexes below) and nullable.
            ghl_id TEXT,
            email_reply_id TEXT,
            unipile_message_id TEXT,
            webhook_dedupe_key TEXT,            -- GoHighLevel: ghl_sms:<hash>[#n]
            scheduled_email_id TEXT,
            created_at TEXT NOT NULL
        );
        -- A message has one dedupe id: partial indexes spare four index entries per row.
        CREATE UNIQUE INDEX messages_ghl_id ON messages (ghl_id) WHERE ghl_id IS NOT NULL;
        CREATE UNIQUE INDEX messages_email_reply_id ON messages (email_reply_id)
            WHERE email_reply_id IS NOT NULL;
        CREATE UNIQUE INDEX messages_unipile_message_id ON messages (unipile_message_id)
            WHERE unipile_message_id IS NOT NULL;
        CREATE UNIQUE INDEX messages_webhook_dedupe_key ON messages (webhook_dedupe_key)
            WHERE webhook_dedupe_key IS NOT NULL;
        CREATE UNIQUE INDEX messages_scheduled_email_id ON messages (scheduled_email_id)
            WHERE scheduled_email_id IS NOT NULL;
        CREATE INDEX messages_lead_sent_at ON messages (lead_id, sent_at);
        CREATE INDEX messages_client_received_at ON messages (client_id, received_at);

        CREATE TABLE background_jobs (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,                -- no CHECK: an unknown type must fail its job, not the insert
            status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN {_in(JOB_STATUSES)}),
            dedupe_key TEXT NOT NULL UNIQUE,   -- {{client_id}}:{{message_id}}:{{type}}
            client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            lead_id INTEGER REFERENCES leads(id) ON DELETE CASCADE,
            message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            run_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            max_attempts INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
            locked_at TEXT,
            locked_by TEXT,
            started_at TEXT,
            finished_at TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX background_jobs_status_run_at ON background_jobs (status, run_at);
        CREATE INDEX background_jobs_message ON background_jobs (message_id);

        CREATE TABLE ai_interactions (
            id INTEGER PRIMARY KEY,
            source TEXT,                       -- e.g. background_job:SMS_INBOUND_POST_PROCESS
            client_id INTEGER REFERENCES clients(id) ON DELETE SET NULL,
            lead_id INTEGER REFERENCES leads(id) ON DELETE SET NULL,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            background_job_id INTEGER REFERENCES background_jobs(id) ON DELETE SET NULL,
            job_attempt INTEGER,
            feature_id TEXT NOT NULL,
            prompt_key TEXT,
            provider TEXT NOT NULL,
            api_type TEXT NOT NULL,
            model TEXT NOT NULL,
            response_model TEXT,
            input_tokens INTEGER,
            cached_input_tokens INTEGER,
            output_tokens INTEGER,
            reasoning_tokens INTEGER,
            total_tokens INTEGER,
            latency_ms INTEGER,
            status TEXT NOT NULL CHECK (status IN ('success', 'error')),
            error_message TEXT,
            cost_usd REAL,                     -- NULL when the model has no price
            created_at TEXT NOT NULL
        );
        CREATE INDEX ai_interactions_created_at ON ai_interactions (created_at);
        CREATE INDEX ai_interactions_source_created_at ON ai_interactions (source, created_at);
        CREATE INDEX ai_interactions_job ON ai_interactions (background_job_id);

        CREATE TABLE ai_drafts (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            trigger_message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            channel TEXT NOT NULL CHECK (channel IN {_in(CHANNELS)}),
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (trigger_message_id, channel)
        );
        """
    )
