-- Collections: invoices, voids, credit notes, payments with their requested allocations, and
-- chargeback reports. Every fact that changes what a customer owes is also entered in
-- account_facts; folding one customer's facts of one currency in `seq` order rebuilds the
-- account. `invoices.open_minor` caches what the last fold left open, for listing and aging.

CREATE TABLE invoices (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    number       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    total_minor  BIGINT NOT NULL,
    open_minor   BIGINT NOT NULL,
    issued_at    BIGINT NOT NULL,
    due_at       BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX invoices_number ON invoices (tenant_id, number);
CREATE INDEX invoices_customer ON invoices (tenant_id, customer_id, id);
CREATE INDEX invoices_open ON invoices (tenant_id, open_minor);

CREATE TABLE invoice_lines (
    invoice_id       TEXT NOT NULL REFERENCES invoices(id),
    position         BIGINT NOT NULL,
    description      TEXT NOT NULL,
    subscription_id  TEXT,
    quantity         TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

CREATE TABLE invoice_voids (
    invoice_id  TEXT PRIMARY KEY REFERENCES invoices(id),
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    reason      TEXT NOT NULL,
    voided_at   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE credit_notes (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    invoice_id    TEXT NOT NULL REFERENCES invoices(id),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

ALTER TABLE payments ADD COLUMN method TEXT NOT NULL DEFAULT 'other';
ALTER TABLE payments ADD COLUMN failure_code TEXT;

-- The allocations the payer asked for; what the payment actually paid follows from the fold.
CREATE TABLE payment_allocations (
    payment_id    TEXT NOT NULL REFERENCES payments(id),
    position      BIGINT NOT NULL,
    invoice_id    TEXT NOT NULL REFERENCES invoices(id),
    amount_minor  BIGINT NOT NULL,
    PRIMARY KEY (payment_id, position)
);

-- One row per reported status of a chargeback; `seq` is the report's place in account_facts.
CREATE TABLE chargebacks (
    id            TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    payment_id    TEXT NOT NULL REFERENCES payments(id),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (id, seq)
);
CREATE INDEX chargebacks_payment ON chargebacks (tenant_id, payment_id);

-- kind: invoice | void | credit_note | payment | chargeback; ref_id: the fact's id
-- (for a void, the invoice's).
CREATE TABLE account_facts (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    currency     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    ref_id       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, currency, seq)
);
