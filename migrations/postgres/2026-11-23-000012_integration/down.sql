DROP TABLE import_errors;
DROP TABLE imports;
DROP INDEX events_unowned_idx;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
