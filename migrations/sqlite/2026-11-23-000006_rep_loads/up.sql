-- Open leads (assigned or working, not deleted) per owner, kept by triggers in the same
-- transaction as every lead insert, owner/status/deletion change and delete, so the
-- assignment strategies read a rep's load with one primary-key lookup instead of counting
-- the rep's leads on every assignment.
CREATE TABLE rep_loads (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    open_leads BIGINT NOT NULL DEFAULT 0
);

INSERT INTO rep_loads (user_id, open_leads)
SELECT owner_id, COUNT(*) FROM leads
WHERE owner_id IS NOT NULL AND status IN ('assigned', 'working') AND deleted_at IS NULL
GROUP BY owner_id;

CREATE TRIGGER rep_loads_after_insert AFTER INSERT ON leads
WHEN NEW.owner_id IS NOT NULL AND NEW.status IN ('assigned', 'working') AND NEW.deleted_at IS NULL
BEGIN
    INSERT INTO rep_loads (user_id, open_leads) VALUES (NEW.owner_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET open_leads = open_leads + 1;
END;

CREATE TRIGGER rep_loads_after_update_old AFTER UPDATE OF owner_id, status, deleted_at ON leads
WHEN OLD.owner_id IS NOT NULL AND OLD.status IN ('assigned', 'working') AND OLD.deleted_at IS NULL
BEGIN
    UPDATE rep_loads SET open_leads = open_leads - 1 WHERE user_id = OLD.owner_id;
END;

CREATE TRIGGER rep_loads_after_update_new AFTER UPDATE OF owner_id, status, deleted_at ON leads
WHEN NEW.owner_id IS NOT NULL AND NEW.status IN ('assigned', 'working') AND NEW.deleted_at IS NULL
BEGIN
    INSERT INTO rep_loads (user_id, open_leads) VALUES (NEW.owner_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET open_leads = open_leads + 1;
END;

CREATE TRIGGER rep_loads_after_delete AFTER DELETE ON leads
WHEN OLD.owner_id IS NOT NULL AND OLD.status IN ('assigned', 'working') AND OLD.deleted_at IS NULL
BEGIN
    UPDATE rep_loads SET open_leads = open_leads - 1 WHERE user_id = OLD.owner_id;
END;
