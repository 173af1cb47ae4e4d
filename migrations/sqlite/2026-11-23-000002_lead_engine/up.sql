-- Lead engine: runtime configuration (scoring model), assignment rules, follow-up
-- activities, and the lead columns that SLA timers and the quality gate need.

CREATE TABLE config_entries (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE assignment_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    conditions TEXT NOT NULL,
    team_id TEXT REFERENCES teams(id),
    user_ids TEXT NOT NULL,
    strategy TEXT NOT NULL,
    top_n INTEGER,
    max_load_ratio REAL,
    claim_timeout_secs BIGINT NOT NULL,
    first_touch_timeout_secs BIGINT NOT NULL,
    max_reassignments INTEGER NOT NULL,
    calendar_id TEXT,
    rr_cursor TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX assignment_rules_priority_idx ON assignment_rules (priority);

CREATE TABLE activities (
    id TEXT PRIMARY KEY,
    lead_id TEXT REFERENCES leads(id),
    opportunity_id TEXT,
    channel TEXT NOT NULL,
    action TEXT NOT NULL,
    reached BOOLEAN NOT NULL,
    summary TEXT NOT NULL,
    contact_id TEXT REFERENCES contacts(id),
    next_action TEXT,
    next_action_due_at BIGINT,
    evidence TEXT NOT NULL,
    priority_flagged BOOLEAN NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX activities_lead_idx ON activities (lead_id, created_at);

ALTER TABLE leads ADD COLUMN rule_id TEXT;
ALTER TABLE leads ADD COLUMN missing_fields TEXT NOT NULL DEFAULT '[]';
ALTER TABLE leads ADD COLUMN lapsed_by TEXT NOT NULL DEFAULT '[]';
ALTER TABLE leads ADD COLUMN first_touch_overdue_at BIGINT;
ALTER TABLE leads ADD COLUMN escalated_at BIGINT;
ALTER TABLE leads ADD COLUMN disqualify_reason TEXT;
ALTER TABLE leads ADD COLUMN disqualify_note TEXT;
ALTER TABLE leads ADD COLUMN score_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX leads_claim_due_idx ON leads (status, claim_due_at);
CREATE INDEX leads_first_touch_due_idx ON leads (status, first_touch_due_at);
CREATE INDEX leads_score_version_idx ON leads (score_version);
