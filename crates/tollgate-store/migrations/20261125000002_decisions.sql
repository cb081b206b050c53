-- Onboarding, payment-method and order decisions with the facts and features they saw, the
-- keys that link customers to each other, velocity events, policies and block/allow lists.

CREATE TABLE signups (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    customer_id  TEXT PRIMARY KEY REFERENCES customers(id),
    facts        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE decisions (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    customer_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    verdict         TEXT NOT NULL,
    score           BIGINT NOT NULL,
    policy_version  TEXT NOT NULL,
    decision        TEXT NOT NULL,
    facts           TEXT NOT NULL,
    features        TEXT NOT NULL,
    shadows         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX decisions_tenant ON decisions (tenant_id, id);
CREATE INDEX decisions_customer ON decisions (tenant_id, customer_id, id);
CREATE INDEX decisions_time ON decisions (tenant_id, created_at);

CREATE TABLE payment_methods (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    facts        TEXT NOT NULL,
    status       TEXT NOT NULL,
    decision_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX payment_methods_customer ON payment_methods (tenant_id, customer_id, id);

CREATE TABLE orders (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    customer_id        TEXT NOT NULL REFERENCES customers(id),
    payment_method_id  TEXT NOT NULL REFERENCES payment_methods(id),
    facts              TEXT NOT NULL,
    total_minor        BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL,
    decision_id        TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX orders_customer ON orders (tenant_id, customer_id, id);

-- A value a customer used (card fingerprint, device, IP, /24, phone, normalized e-mail):
-- two customers with the same (kind, value) are linked.
CREATE TABLE link_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, value, customer_id)
);

-- One row per counted event, e.g. (signup_ip, 203.0.113.7): sliding-window counts read these.
CREATE TABLE velocity_events (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    kind          TEXT NOT NULL,
    key           TEXT NOT NULL,
    at            BIGINT NOT NULL,
    amount_minor  BIGINT NOT NULL
);
CREATE INDEX velocity_events_key ON velocity_events (tenant_id, kind, key, at);

-- Versions are immutable; only their status changes. At most one is active per tenant.
CREATE TABLE policies (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    version     BIGINT NOT NULL,
    label       TEXT NOT NULL,
    document    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE list_items (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL,
    action      TEXT NOT NULL,
    value       TEXT NOT NULL,
    note        TEXT,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    removed_at  BIGINT
);
CREATE INDEX list_items_value ON list_items (tenant_id, kind, value);

CREATE TABLE verifications (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    customer_id   TEXT NOT NULL REFERENCES customers(id),
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    code_hash     TEXT,
    attempts      BIGINT NOT NULL,
    expires_at    BIGINT,
    result        TEXT,
    created_at    BIGINT NOT NULL,
    completed_at  BIGINT
);
CREATE INDEX verifications_customer ON verifications (tenant_id, customer_id, id);

-- Money received from customers. Onboarding asks whether any payment has cleared; the
-- collections pillar fills in allocation and disputes.
CREATE TABLE payments (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    customer_id   TEXT NOT NULL REFERENCES customers(id),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX payments_customer ON payments (tenant_id, customer_id, id);
