-- Integration: webhook subscriptions, their delivery queue and attempt log, bulk imports.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    format TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    description TEXT,
    -- The last event id fanned out into deliveries.
    event_cursor BIGINT NOT NULL,
    -- First failed attempt since the last success (auto-disable clock).
    failing_since BIGINT,
    disabled_at BIGINT,
    disabled_reason TEXT,
    -- One instance delivers a subscription at a time: it holds the lease.
    lease_owner TEXT,
    lease_until BIGINT,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id),
    event_id BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    -- Failed attempts since the delivery was queued or redelivered (the retry schedule).
    round_failures INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_queue_idx ON webhook_deliveries (webhook_id, status, event_id);
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_age_idx ON webhook_deliveries (updated_at);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    response_body TEXT,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);

-- Events not tied to an account expire from the change feed after the retention period
-- (account events stay: they are the account timeline).
CREATE INDEX events_unowned_idx ON events (id) WHERE account_id IS NULL;

CREATE TABLE imports (
    id TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    total BIGINT NOT NULL,
    processed BIGINT NOT NULL,
    succeeded BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    created_count BIGINT NOT NULL,
    updated_count BIGINT NOT NULL,
    -- The rows as a JSON array of objects; emptied when the import finishes.
    payload TEXT NOT NULL,
    -- Who imports: the principal whose permissions and scope every row runs under.
    principal TEXT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    -- Why a failed import stopped.
    error TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX imports_status_idx ON imports (status, created_at);

CREATE TABLE import_errors (
    import_id TEXT NOT NULL REFERENCES imports(id),
    seq BIGINT NOT NULL,
    row_no BIGINT NOT NULL,
    field TEXT,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (import_id, seq)
);
