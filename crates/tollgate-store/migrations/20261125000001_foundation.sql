-- Portable SQL for SQLite and PostgreSQL alike: ids and JSON as TEXT, instants as BIGINT
-- microseconds since the Unix epoch (UTC), money as BIGINT minor units beside a currency code,
-- booleans as BIGINT 0/1. Every tenant-owned table leads with tenant_id.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    role         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    label        TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE customers (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    external_id      TEXT NOT NULL,
    legal_name       TEXT NOT NULL,
    company_domain   TEXT,
    country          TEXT NOT NULL,
    email            TEXT,
    phone            TEXT,
    billing_address  TEXT,
    status           TEXT NOT NULL,
    trust_tier       TEXT NOT NULL,
    terms            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CONSTRAINT customers_external_id UNIQUE (tenant_id, external_id)
);
CREATE INDEX customers_tenant ON customers (tenant_id, id);

CREATE TABLE subscriptions (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    customer_id             TEXT NOT NULL REFERENCES customers(id),
    vendor_subscription_id  TEXT NOT NULL,
    offer_id                TEXT,
    product_kind            TEXT NOT NULL,
    quantity                BIGINT NOT NULL,
    status                  TEXT NOT NULL,
    status_reason           TEXT,
    status_changed_at       BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    CONSTRAINT subscriptions_vendor_id UNIQUE (tenant_id, vendor_subscription_id)
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id, id);
CREATE INDEX subscriptions_customer ON subscriptions (tenant_id, customer_id, id);

CREATE TABLE subscription_status_changes (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    subscription_id  TEXT NOT NULL REFERENCES subscriptions(id),
    at               BIGINT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    actor            TEXT NOT NULL
);
CREATE INDEX subscription_status_changes_sub ON subscription_status_changes (subscription_id, id);

-- One row per tenant holding the chain's head; appenders lock it, which orders the chain.
CREATE TABLE audit_heads (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL
);

CREATE TABLE audit_events (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    seq        BIGINT NOT NULL,
    id         TEXT NOT NULL UNIQUE,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    data       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_object ON audit_events (tenant_id, object_id, seq);

CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
