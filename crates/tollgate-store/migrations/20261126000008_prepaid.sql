-- Refunds: money sent back to the customer out of a payment. Each one is also entered in
-- account_facts (kind `refund`, ref_id the refund's id), where the fold takes it back from what
-- the payment paid.
CREATE TABLE refunds (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    payment_id    TEXT NOT NULL REFERENCES payments(id),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    reason        TEXT,
    refunded_at   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (tenant_id, payment_id);

-- Prepaid balances: every top-up and draw, numbered per customer and currency. balance_minor
-- is the running balance after the entry, so a balance is read from one row; writers hold the
-- customer's row lock, so the next number is not raced (the unique index backs that up).
CREATE TABLE prepaid_entries (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    currency       TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    amount_minor   BIGINT NOT NULL,
    balance_minor  BIGINT NOT NULL,
    reference      TEXT,
    entered_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX prepaid_entries_seq ON prepaid_entries (tenant_id, customer_id, currency, seq);
CREATE INDEX prepaid_entries_listing ON prepaid_entries (tenant_id, customer_id, id);
