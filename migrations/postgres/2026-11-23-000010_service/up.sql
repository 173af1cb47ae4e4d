-- Service: work orders with routing and SLA clocks, routing rules and SLA policies.
CREATE TABLE routing_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    conditions TEXT NOT NULL,
    team_id TEXT REFERENCES teams(id),
    engineer_id TEXT REFERENCES users(id),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    conditions TEXT NOT NULL,
    response_secs BIGINT NOT NULL,
    resolution_secs BIGINT NOT NULL,
    warn_ratio DOUBLE PRECISION NOT NULL,
    calendar_id TEXT REFERENCES calendars(id),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE work_orders (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contract_id TEXT REFERENCES contracts(id),
    contact_name TEXT,
    contact_phone TEXT,
    device_sn TEXT,
    product_model TEXT,
    description TEXT,
    priority TEXT NOT NULL,
    channel TEXT NOT NULL,
    team_id TEXT REFERENCES teams(id),
    engineer_id TEXT REFERENCES users(id),
    routing TEXT NOT NULL,
    sla_policy_id TEXT REFERENCES sla_policies(id),
    response_due_at BIGINT,
    response_warn_at BIGINT,
    resolution_due_at BIGINT,
    resolution_warn_at BIGINT,
    response_warned_at BIGINT,
    response_breached_at BIGINT,
    resolution_warned_at BIGINT,
    resolution_breached_at BIGINT,
    accepted_at BIGINT,
    resolved_at BIGINT,
    paused_at BIGINT,
    paused_from TEXT,
    paused_secs BIGINT NOT NULL,
    step_data TEXT NOT NULL,
    cancel_reason TEXT,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX work_orders_contract_idx ON work_orders (contract_id);
CREATE INDEX work_orders_team_status_idx ON work_orders (team_id, status, id);
CREATE INDEX work_orders_engineer_status_idx ON work_orders (engineer_id, status, id);
CREATE INDEX work_orders_response_warn_idx ON work_orders (response_warn_at, response_warned_at);
CREATE INDEX work_orders_response_due_idx ON work_orders (response_due_at, response_breached_at);
CREATE INDEX work_orders_resolution_warn_idx ON work_orders (resolution_warn_at, resolution_warned_at);
CREATE INDEX work_orders_resolution_due_idx ON work_orders (resolution_due_at, resolution_breached_at);
CREATE INDEX work_orders_device_sn_idx ON work_orders (device_sn);
