DROP TRIGGER rep_loads_after_delete;
DROP TRIGGER rep_loads_after_update_new;
DROP TRIGGER rep_loads_after_update_old;
DROP TRIGGER rep_loads_after_insert;
DROP TABLE rep_loads;
