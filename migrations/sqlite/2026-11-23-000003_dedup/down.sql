DROP INDEX leads_merged_into_idx;
DROP INDEX leads_email_domain_idx;
DROP INDEX leads_company_block_idx;
ALTER TABLE leads DROP COLUMN merged_into;
ALTER TABLE leads DROP COLUMN company_block;
