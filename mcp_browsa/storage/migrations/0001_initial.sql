-- The whole schema of the first release. Times are unix seconds (REAL); JSON columns hold text.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    balance     INTEGER NOT NULL,
    created_at  REAL NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL DEFAULT '',
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    REAL NOT NULL,
    last_used_at  REAL,
    revoked_at    REAL
);

CREATE TABLE agents (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    mode           TEXT NOT NULL,
    status         TEXT NOT NULL,
    cdp_url        TEXT,
    cdp_http       TEXT,
    expires_at     REAL,
    trust_score    INTEGER,
    os_type        TEXT NOT NULL,
    country        TEXT,
    persona        TEXT,
    warmup_recipe  TEXT,
    fingerprint    TEXT,
    allowed_domains TEXT,
    owner          TEXT,
    pid            INTEGER,
    error_message  TEXT,
    created_at     REAL NOT NULL,
    destroyed_at   REAL
);
CREATE INDEX agents_ws ON agents(workspace_id, created_at);

CREATE TABLE agent_sessions (
    id          TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    job_id      TEXT,
    started_at  REAL NOT NULL,
    ended_at    REAL
);

CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id),
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    params            TEXT NOT NULL,
    step_count        INTEGER NOT NULL DEFAULT 0,
    progress_done     INTEGER NOT NULL DEFAULT 0,
    progress_total    INTEGER NOT NULL DEFAULT 0,
    credits_charged   INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    input_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens     INTEGER NOT NULL DEFAULT 0,
    agent_id          TEXT,
    live_url          TEXT,
    created_at        REAL NOT NULL,
    started_at        REAL,
    completed_at      REAL,
    result            TEXT,
    error_code        TEXT,
    error_message     TEXT,
    question          TEXT,
    answer            TEXT,
    request_id        TEXT,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    lease_token       TEXT,
    lease_expires_at  REAL,
    last_action       TEXT
);
CREATE INDEX jobs_queue ON jobs(status, created_at);
CREATE INDEX jobs_ws ON jobs(workspace_id, created_at);

CREATE TABLE batch_items (
    job_id         TEXT NOT NULL REFERENCES jobs(id),
    idx            INTEGER NOT NULL,
    params         TEXT NOT NULL,
    status         TEXT NOT NULL,
    result         TEXT,
    error_code     TEXT,
    error_message  TEXT,
    step_count     INTEGER NOT NULL DEFAULT 0,
    started_at     REAL,
    completed_at   REAL,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    type        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX job_events_job ON job_events(job_id, id);

CREATE TABLE screenshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    n           INTEGER NOT NULL,
    path        TEXT NOT NULL,
    url         TEXT,
    created_at  REAL NOT NULL,
    UNIQUE (job_id, n)
);

CREATE TABLE ledger (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    created_at     REAL NOT NULL,
    kind           TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    job_id         TEXT,
    agent_id       TEXT,
    usd            REAL NOT NULL DEFAULT 0,
    description    TEXT NOT NULL
);
CREATE INDEX ledger_ws ON ledger(workspace_id, id);

CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    secret           TEXT NOT NULL,
    created_at       REAL NOT NULL,
    disabled_at      REAL,
    disabled_reason  TEXT
);

CREATE TABLE webhook_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id),
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,
    lease_owner      TEXT,
    lease_expires_at REAL,
    created_at       REAL NOT NULL,
    delivered_at     REAL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(status, next_attempt_at);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id    INTEGER NOT NULL REFERENCES webhook_outbox(id),
    webhook_id   TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    created_at   REAL NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    duration_ms  INTEGER
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);

CREATE TABLE idempotency_keys (
    workspace_id  TEXT NOT NULL,
    key           TEXT NOT NULL,
    tool          TEXT NOT NULL,
    params_hash   TEXT NOT NULL,
    response      TEXT,
    created_at    REAL NOT NULL,
    expires_at    REAL NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE TABLE vault_secrets (
    workspace_id  TEXT NOT NULL,
    name          TEXT NOT NULL,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE identity_state (
    agent_id       TEXT PRIMARY KEY REFERENCES agents(id),
    nonce          BLOB NOT NULL,
    ciphertext     BLOB NOT NULL,
    updated_at     REAL NOT NULL
);
