-- Duplicate candidates of a company block are screened on their company key alone: with
-- the key in the index, the block's leads (up to 200 per new lead) can be read from the
-- index (an index-only scan where the visibility map allows), not from the table.
DROP INDEX leads_company_block_idx;
CREATE INDEX leads_company_block_idx ON leads (company_block, id) INCLUDE (company_key);
