-- Opportunities as lead conversion creates them; the pipeline (stages, gates, forecast)
-- builds on this table.
CREATE TABLE opportunities (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    primary_contact_id TEXT REFERENCES contacts(id),
    name TEXT NOT NULL,
    amount_cents BIGINT,
    currency TEXT NOT NULL,
    expected_close_date TEXT,
    owner_id TEXT REFERENCES users(id),
    team_id TEXT REFERENCES teams(id),
    lead_id TEXT REFERENCES leads(id),
    stage TEXT NOT NULL,
    probability INTEGER NOT NULL,
    status TEXT NOT NULL,
    stage_entered_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX opportunities_owner_status_idx ON opportunities (owner_id, status);
CREATE INDEX opportunities_account_idx ON opportunities (account_id);
CREATE INDEX opportunities_lead_idx ON opportunities (lead_id);
