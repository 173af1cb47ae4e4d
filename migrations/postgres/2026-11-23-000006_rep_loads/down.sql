DROP TRIGGER rep_loads_after_delete ON leads;
DROP TRIGGER rep_loads_after_update ON leads;
DROP TRIGGER rep_loads_after_insert ON leads;
DROP FUNCTION rep_loads_track();
DROP TABLE rep_loads;
