-- The pipeline: stage history (time in stage, regressions), quotes with their approval
-- and customer views, per-year document number sequences, and the opportunity columns that
-- losing, stalling and priority flags need.
ALTER TABLE opportunities ADD COLUMN lost_reason TEXT;
ALTER TABLE opportunities ADD COLUMN competitor TEXT;
ALTER TABLE opportunities ADD COLUMN stalled BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE opportunities ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE opportunities ADD COLUMN closed_at BIGINT;
ALTER TABLE opportunities ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE opportunities ADD COLUMN deleted_at BIGINT;
ALTER TABLE opportunities ADD COLUMN regression_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX opportunities_team_status_idx ON opportunities (team_id, status);
CREATE INDEX opportunities_stall_idx ON opportunities (status, stalled, stage, stage_entered_at);

CREATE INDEX activities_opportunity_idx ON activities (opportunity_id, id);

CREATE TABLE opportunity_stages (
    id TEXT PRIMARY KEY,
    opportunity_id TEXT NOT NULL REFERENCES opportunities(id),
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    direction TEXT NOT NULL,
    reason TEXT,
    from_entered_at BIGINT,
    secs_in_stage BIGINT,
    actor_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX opportunity_stages_opportunity_idx ON opportunity_stages (opportunity_id, id);
CREATE INDEX opportunity_stages_from_idx ON opportunity_stages (from_stage, secs_in_stage);

CREATE TABLE quotes (
    id TEXT PRIMARY KEY,
    opportunity_id TEXT NOT NULL REFERENCES opportunities(id),
    number TEXT NOT NULL UNIQUE,
    currency TEXT NOT NULL,
    items TEXT NOT NULL,
    discount_bp BIGINT NOT NULL,
    subtotal_cents BIGINT NOT NULL,
    discount_cents BIGINT NOT NULL,
    total_cents BIGINT NOT NULL,
    status TEXT NOT NULL,
    note TEXT,
    valid_until TEXT,
    submitted_by TEXT,
    submitted_at BIGINT,
    decided_by TEXT,
    decided_at BIGINT,
    decision_comment TEXT,
    sent_at BIGINT,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX quotes_opportunity_idx ON quotes (opportunity_id, status);

CREATE TABLE quote_views (
    id TEXT PRIMARY KEY,
    quote_id TEXT NOT NULL REFERENCES quotes(id),
    event TEXT NOT NULL,
    at BIGINT NOT NULL,
    page INTEGER,
    recorded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX quote_views_quote_idx ON quote_views (quote_id, id);

CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
