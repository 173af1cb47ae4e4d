-- The company key was looked up by its own index before duplicate candidates moved to the
-- company block (migration 13); nothing reads it by key any more, and every lead insert
-- wrote it (a random leaf each time).
DROP INDEX leads_company_key_idx;
