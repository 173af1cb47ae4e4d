-- Customer 360: the installed base, work orders linked to it, contract end dates,
-- events tied to their account (the account timeline) and renewal signals.
CREATE TABLE assets (
    id TEXT PRIMARY KEY,
    serial_number TEXT NOT NULL UNIQUE,
    product_model TEXT,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contract_id TEXT REFERENCES contracts(id),
    work_order_id TEXT REFERENCES work_orders(id),
    installed_at BIGINT,
    warranty_until TEXT,
    status TEXT NOT NULL,
    custom TEXT NOT NULL,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX assets_account_idx ON assets (account_id, id);
CREATE INDEX assets_warranty_idx ON assets (warranty_until);

ALTER TABLE work_orders ADD COLUMN asset_id TEXT REFERENCES assets(id);
ALTER TABLE work_orders ADD COLUMN unknown_asset BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE work_orders ADD COLUMN in_warranty BOOLEAN;
CREATE INDEX work_orders_asset_idx ON work_orders (asset_id, created_at);
CREATE INDEX work_orders_account_idx ON work_orders (account_id, id);
CREATE INDEX work_orders_account_resolved_idx ON work_orders (account_id, type, resolved_at);
CREATE INDEX work_orders_contact_phone_idx ON work_orders (contact_phone, id);
DROP INDEX work_orders_device_sn_idx;
CREATE INDEX work_orders_device_sn_idx ON work_orders (device_sn, id);

ALTER TABLE contracts ADD COLUMN end_date TEXT;
CREATE INDEX contracts_end_date_idx ON contracts (end_date);
CREATE INDEX contracts_account_idx ON contracts (account_id, id);

ALTER TABLE events ADD COLUMN account_id TEXT;
CREATE INDEX events_account_idx ON events (account_id, id);
CREATE INDEX events_entity_idx ON events (entity, entity_id, id);

CREATE TABLE account_signals (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    reason TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    period_key TEXT NOT NULL,
    asset_id TEXT REFERENCES assets(id),
    contract_id TEXT REFERENCES contracts(id),
    detail TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (reason, subject_id, period_key)
);
CREATE INDEX account_signals_account_idx ON account_signals (account_id, expires_at);
