-- The top-performers strategy ranks a pool's reps by leads converted in the last 90 days.
-- Counted through the owner/status index, each count fetched every converted lead's row to
-- test `updated_at`, so a create slowed with the size of the table (0.37 s at 100,000
-- leads, 2.7 s at 1,000,000 in bench/growth.sh). Over this index the count reads only the
-- entries of the window, without touching the table.
CREATE INDEX leads_owner_conversions_idx ON leads (owner_id, status, updated_at) WHERE deleted_at IS NULL;
