-- Company blocking keys skip a leading region now; crmflow recomputes them at start.
UPDATE leads SET company_block = NULL;
