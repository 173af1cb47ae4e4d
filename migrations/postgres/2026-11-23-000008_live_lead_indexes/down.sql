DROP INDEX leads_status_idx;
DROP INDEX leads_team_status_idx;
DROP INDEX leads_owner_status_idx;
CREATE INDEX leads_owner_status_idx ON leads (owner_id, status, deleted_at, id);
CREATE INDEX leads_team_status_idx ON leads (team_id, status, deleted_at, id);
CREATE INDEX leads_status_idx ON leads (status, deleted_at, id);
