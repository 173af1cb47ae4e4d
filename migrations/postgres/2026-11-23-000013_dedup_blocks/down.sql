-- Blocking keys are recomputed at start whichever rule applies.
UPDATE leads SET company_block = NULL;
