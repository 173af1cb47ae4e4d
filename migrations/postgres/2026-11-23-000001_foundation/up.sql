-- Foundation: org, auth, accounts, contacts, leads, external ids, audit chain, event outbox,
-- idempotency keys. Ids are UUIDv7 text; instants are epoch milliseconds (BIGINT) so that
-- arithmetic on them is the same SQL on PostgreSQL and SQLite; JSON is stored as text.

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    manager_id TEXT,
    regions TEXT NOT NULL DEFAULT '[]',
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    team_id TEXT REFERENCES teams(id),
    manager_id TEXT REFERENCES users(id),
    regions TEXT NOT NULL DEFAULT '[]',
    industries TEXT NOT NULL DEFAULT '[]',
    skills TEXT NOT NULL DEFAULT '[]',
    capacity INTEGER NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_team_idx ON users (team_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    legal_name TEXT,
    uscc TEXT UNIQUE,
    legal_representative TEXT,
    industry TEXT,
    province TEXT,
    city TEXT,
    address TEXT,
    phone TEXT,
    email TEXT,
    website TEXT,
    tier TEXT,
    owner_id TEXT REFERENCES users(id),
    team_id TEXT REFERENCES teams(id),
    custom TEXT NOT NULL DEFAULT '{}',
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX accounts_name_key_idx ON accounts (name_key);
CREATE INDEX accounts_owner_idx ON accounts (owner_id);
CREATE INDEX accounts_team_idx ON accounts (team_id);
CREATE INDEX accounts_phone_idx ON accounts (phone);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    title TEXT,
    phone TEXT,
    email TEXT,
    decision_role TEXT,
    concerns TEXT NOT NULL DEFAULT '[]',
    last_contacted_at BIGINT,
    custom TEXT NOT NULL DEFAULT '{}',
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX contacts_account_idx ON contacts (account_id);
CREATE INDEX contacts_phone_idx ON contacts (phone);
CREATE INDEX contacts_email_idx ON contacts (email);

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    company TEXT,
    company_key TEXT,
    phone TEXT,
    email TEXT,
    email_domain TEXT,
    title TEXT,
    province TEXT,
    city TEXT,
    industry TEXT,
    source TEXT NOT NULL,
    product_interest TEXT,
    budget_cents BIGINT,
    currency TEXT NOT NULL,
    notes TEXT,
    custom TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    owner_id TEXT REFERENCES users(id),
    team_id TEXT REFERENCES teams(id),
    account_id TEXT REFERENCES accounts(id),
    score INTEGER,
    grade TEXT,
    score_breakdown TEXT NOT NULL DEFAULT '[]',
    assignment TEXT,
    claim_due_at BIGINT,
    first_touch_due_at BIGINT,
    accepted_at BIGINT,
    first_touch_at BIGINT,
    reassign_count INTEGER NOT NULL DEFAULT 0,
    possible_duplicate BOOLEAN NOT NULL DEFAULT FALSE,
    duplicate_candidates TEXT NOT NULL DEFAULT '[]',
    priority TEXT NOT NULL DEFAULT 'normal',
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX leads_owner_status_idx ON leads (owner_id, status, deleted_at, id);
CREATE INDEX leads_team_status_idx ON leads (team_id, status, deleted_at, id);
CREATE INDEX leads_status_idx ON leads (status, deleted_at, id);
CREATE INDEX leads_phone_idx ON leads (phone, id);
CREATE INDEX leads_email_idx ON leads (email, id);
CREATE INDEX leads_company_key_idx ON leads (company_key);
CREATE INDEX leads_updated_idx ON leads (updated_at);

CREATE TABLE external_refs (
    entity TEXT NOT NULL,
    system TEXT NOT NULL,
    external_id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (entity, system, external_id)
);
CREATE INDEX external_refs_entity_idx ON external_refs (entity, entity_id);

CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    changes TEXT NOT NULL,
    request_id TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_entity_idx ON audit_log (entity, entity_id);
CREATE INDEX audit_actor_idx ON audit_log (actor_id);

-- One row that every writing transaction updates before it appends to the audit chain and
-- the event log: it serialises appenders, so hashes chain in sequence order and event ids
-- become visible in commit order (the change feed never skips an id).
CREATE TABLE journal_head (
    id INTEGER PRIMARY KEY,
    last_hash TEXT NOT NULL,
    appends BIGINT NOT NULL
);
INSERT INTO journal_head (id, last_hash, appends) VALUES (1, '', 0);

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    event_type TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_type_idx ON events (event_type, id);

CREATE TABLE idempotency_keys (
    principal TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (principal, idem_key)
);
CREATE INDEX idempotency_created_idx ON idempotency_keys (created_at);
