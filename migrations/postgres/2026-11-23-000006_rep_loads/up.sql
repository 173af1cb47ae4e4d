-- Open leads (assigned or working, not deleted) per owner, kept by a trigger in the same
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

CREATE FUNCTION rep_loads_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.owner_id IS NOT NULL
       AND OLD.status IN ('assigned', 'working') AND OLD.deleted_at IS NULL THEN
        UPDATE rep_loads SET open_leads = open_leads - 1 WHERE user_id = OLD.owner_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.owner_id IS NOT NULL
       AND NEW.status IN ('assigned', 'working') AND NEW.deleted_at IS NULL THEN
        INSERT INTO rep_loads (user_id, open_leads) VALUES (NEW.owner_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET open_leads = rep_loads.open_leads + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER rep_loads_after_insert AFTER INSERT ON leads
FOR EACH ROW EXECUTE FUNCTION rep_loads_track();
CREATE TRIGGER rep_loads_after_update AFTER UPDATE OF owner_id, status, deleted_at ON leads
FOR EACH ROW EXECUTE FUNCTION rep_loads_track();
CREATE TRIGGER rep_loads_after_delete AFTER DELETE ON leads
FOR EACH ROW EXECUTE FUNCTION rep_loads_track();
