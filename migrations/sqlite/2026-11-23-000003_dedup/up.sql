-- Duplicate control: a blocking key for company-name similarity (the first two characters
-- of the normalised company key), an index on e-mail domains, and merge bookkeeping.
ALTER TABLE leads ADD COLUMN company_block TEXT;
ALTER TABLE leads ADD COLUMN merged_into TEXT;
CREATE INDEX leads_company_block_idx ON leads (company_block, id);
CREATE INDEX leads_email_domain_idx ON leads (email_domain, id);
CREATE INDEX leads_merged_into_idx ON leads (merged_into);
