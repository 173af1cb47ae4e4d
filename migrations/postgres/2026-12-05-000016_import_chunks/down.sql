ALTER TABLE imports ADD COLUMN payload TEXT NOT NULL DEFAULT '';
UPDATE imports SET payload = COALESCE((
    SELECT string_agg(c.rows, '' ORDER BY c.first_row) FROM import_chunks c WHERE c.import_id = imports.id
), '');
DROP TABLE import_chunks;
