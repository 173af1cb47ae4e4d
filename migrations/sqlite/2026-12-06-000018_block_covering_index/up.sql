-- Duplicate candidates of a company block are screened on their company key alone: with
-- the key in the index, the block's leads (up to 200 per new lead) are read from the
-- index, not looked up one by one in the table.
DROP INDEX leads_company_block_idx;
CREATE INDEX leads_company_block_idx ON leads (company_block, id, company_key);
