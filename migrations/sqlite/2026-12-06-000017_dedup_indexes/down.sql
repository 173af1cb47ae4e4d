CREATE INDEX leads_company_key_idx ON leads (company_key);
