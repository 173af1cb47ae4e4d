DROP INDEX leads_company_block_idx;
CREATE INDEX leads_company_block_idx ON leads (company_block, id);
