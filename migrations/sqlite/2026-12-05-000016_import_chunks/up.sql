-- An import's rows move out of its job row into chunks of 1,000 rows. Each batch of an
-- import updates the job's progress; with the rows in the same row, every update rewrote
-- the whole file (100,000 rows: 200 rewrites of ~25 MB), and the worker held the whole
-- file in memory. An unfinished import's rows become one chunk.
CREATE TABLE import_chunks (
    import_id TEXT NOT NULL REFERENCES imports (id),
    -- The chunk's first row, counted from 0; its rows are JSON Lines.
    first_row BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    rows TEXT NOT NULL,
    PRIMARY KEY (import_id, first_row)
);
INSERT INTO import_chunks (import_id, first_row, row_count, rows)
    SELECT id, 0, total, payload FROM imports WHERE payload <> '';
ALTER TABLE imports DROP COLUMN payload;
