ALTER TABLE imports ADD COLUMN payload TEXT NOT NULL DEFAULT '';
UPDATE imports SET payload = COALESCE((
    SELECT group_concat(rows, '') FROM (
        SELECT c.rows FROM import_chunks c WHERE c.import_id = imports.id ORDER BY c.first_row
    )
), '');
DROP TABLE import_chunks;
