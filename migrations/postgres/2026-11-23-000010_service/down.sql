DROP TABLE work_orders;
DROP TABLE sla_policies;
DROP TABLE routing_rules;
