DROP TABLE payments;
DROP TABLE installments;
DROP TABLE contract_approvals;
DROP TABLE contracts;
