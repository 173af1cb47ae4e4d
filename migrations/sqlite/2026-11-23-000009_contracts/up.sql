-- Contracts with their approval trail, installment plan and payments.
CREATE TABLE contracts (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    opportunity_id TEXT NOT NULL REFERENCES opportunities(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    owner_id TEXT REFERENCES users(id),
    team_id TEXT REFERENCES teams(id),
    amount_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    review_round INTEGER NOT NULL,
    required_approvals TEXT NOT NULL,
    signed_at BIGINT,
    signatory TEXT,
    signature_ref TEXT,
    paid_cents BIGINT NOT NULL,
    success_plan TEXT,
    live_at BIGINT,
    nps_due_at BIGINT,
    nps_survey_sent_at BIGINT,
    nps_score INTEGER,
    nps_comment TEXT,
    nps_recorded_at BIGINT,
    completed_at BIGINT,
    terminated_at BIGINT,
    terminated_reason TEXT,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contracts_opportunity_idx ON contracts (opportunity_id, status);
CREATE INDEX contracts_owner_status_idx ON contracts (owner_id, status, id);
CREATE INDEX contracts_team_status_idx ON contracts (team_id, status, id);
CREATE INDEX contracts_nps_due_idx ON contracts (nps_due_at, nps_survey_sent_at);

CREATE TABLE contract_approvals (
    id TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    review_round INTEGER NOT NULL,
    role TEXT NOT NULL,
    decision TEXT NOT NULL,
    clause_revisions TEXT NOT NULL,
    comment TEXT,
    actor_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX contract_approvals_contract_idx ON contract_approvals (contract_id, id);

CREATE TABLE installments (
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    seq INTEGER NOT NULL,
    due_date TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    paid_cents BIGINT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (contract_id, seq)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    bank_txn_id TEXT NOT NULL UNIQUE,
    amount_cents BIGINT NOT NULL,
    paid_at BIGINT NOT NULL,
    installment_seq INTEGER,
    recorded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX payments_contract_idx ON payments (contract_id, id);
