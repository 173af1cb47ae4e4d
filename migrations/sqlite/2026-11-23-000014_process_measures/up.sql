-- Reports, the daily digest and custom fields (issue 8).

-- When a lead was first put in a rep's hands (first-touch time and 24-hour completion are
-- measured from it). Existing leads take their first lead.assigned event, else their
-- creation time when they have an owner (a lead entered by its rep).
ALTER TABLE leads ADD COLUMN assigned_at BIGINT;
CREATE TABLE tmp_first_assigned AS
    SELECT entity_id, MIN(occurred_at) AS at FROM events
    WHERE event_type = 'lead.assigned' GROUP BY entity_id;
CREATE INDEX tmp_first_assigned_idx ON tmp_first_assigned (entity_id);
UPDATE leads SET assigned_at = (SELECT t.at FROM tmp_first_assigned t WHERE t.entity_id = leads.id);
UPDATE leads SET assigned_at = created_at WHERE assigned_at IS NULL AND owner_id IS NOT NULL;
DROP TABLE tmp_first_assigned;
CREATE INDEX leads_assigned_at_idx ON leads (assigned_at);
CREATE INDEX leads_created_at_idx ON leads (created_at);

-- Each missed lead deadline: a claim window that lapsed (re-assigned or escalated) or a
-- first touch that became overdue, charged to the rep who held the lead.
CREATE TABLE lead_lapses (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    owner_id TEXT,
    team_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX lead_lapses_at_idx ON lead_lapses (at);
CREATE INDEX lead_lapses_lead_idx ON lead_lapses (lead_id, kind);

-- One daily lead-health digest per team and local day.
CREATE TABLE digest_runs (
    team_id TEXT NOT NULL,
    day TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, day)
);

CREATE TABLE custom_fields (
    id TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    field_key TEXT NOT NULL,
    label TEXT NOT NULL,
    field_type TEXT NOT NULL,
    required BOOLEAN NOT NULL DEFAULT FALSE,
    options TEXT NOT NULL DEFAULT '[]',
    description TEXT,
    version BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX custom_fields_entity_key_idx ON custom_fields (entity, field_key);

-- The custom values each successful write carried and which client sent it, kept a few
-- days for the dry run of a custom-field change.
CREATE TABLE custom_writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    op TEXT NOT NULL,
    client TEXT NOT NULL,
    custom TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX custom_writes_entity_at_idx ON custom_writes (entity, at);
CREATE INDEX custom_writes_at_idx ON custom_writes (at);

ALTER TABLE opportunities ADD COLUMN custom TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contracts ADD COLUMN custom TEXT NOT NULL DEFAULT '{}';
ALTER TABLE work_orders ADD COLUMN custom TEXT NOT NULL DEFAULT '{}';

-- When a planned next action was carried out (the first later activity of that action on
-- the same lead or deal); stamped by each new activity, backfilled here.
ALTER TABLE activities ADD COLUMN fulfilled_at BIGINT;
UPDATE activities SET fulfilled_at = (
    SELECT MIN(b.created_at) FROM activities b
    WHERE b.action = activities.next_action AND b.created_at > activities.created_at
      AND ((activities.lead_id IS NOT NULL AND b.lead_id = activities.lead_id)
        OR (activities.opportunity_id IS NOT NULL AND b.opportunity_id = activities.opportunity_id)))
WHERE next_action IS NOT NULL;
-- Report scans by time, attributed to the rep who logged the activity.
CREATE INDEX activities_created_idx ON activities (created_at, created_by, lead_id);
CREATE INDEX activities_due_idx ON activities (next_action_due_at, created_by, fulfilled_at);
CREATE INDEX opportunity_stages_at_idx ON opportunity_stages (at);
CREATE INDEX work_orders_created_idx ON work_orders (created_at);
CREATE INDEX opportunities_closed_idx ON opportunities (status, closed_at);
