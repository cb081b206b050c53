-- Spend watch: raw usage records, the aggregates budgets and detectors read instead of the raw
-- records, budgets, the thresholds already alerted, detector state and alerts.

-- The primary key makes re-sending a record a no-op (`ON CONFLICT DO NOTHING`).
CREATE TABLE usage_records (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    record_id        TEXT NOT NULL,
    subscription_id  TEXT NOT NULL REFERENCES subscriptions(id),
    meter            TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    region           TEXT NOT NULL,
    quantity         TEXT NOT NULL,
    unit             TEXT NOT NULL,
    cost_minor       BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    usage_start      BIGINT NOT NULL,
    usage_end        BIGINT NOT NULL,
    received_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, record_id)
);

-- Per subscription × meter × hour (UTC, by usage_start): the detector's series, and the spend
-- of budgets restricted to a meter or to a custom period.
CREATE TABLE usage_hourly (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    subscription_id  TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    meter            TEXT NOT NULL,
    hour             BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    cost_minor       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id, meter, hour, currency)
);
CREATE INDEX usage_hourly_customer ON usage_hourly (tenant_id, customer_id, hour);
CREATE INDEX usage_hourly_meter ON usage_hourly (tenant_id, meter, hour);

-- Per scope (a customer or a subscription id) × local day / local month in the tenant's time
-- zone: monthly budgets and their forecasts.
CREATE TABLE usage_daily (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    scope_id    TEXT NOT NULL,
    day         TEXT NOT NULL,
    currency    TEXT NOT NULL,
    cost_minor  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, scope_id, day, currency)
);

CREATE TABLE usage_monthly (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    scope_id    TEXT NOT NULL,
    month       TEXT NOT NULL,
    currency    TEXT NOT NULL,
    cost_minor  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, scope_id, month, currency)
);

-- Meter classes and regions a subscription has used: "new region" and "first GPU" signals.
CREATE TABLE usage_footprint (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    subscription_id  TEXT NOT NULL,
    dimension        TEXT NOT NULL,
    value            TEXT NOT NULL,
    first_seen       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id, dimension, value)
);

-- A detector's learned state per subscription × meter hourly series (JSON).
CREATE TABLE usage_series (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    subscription_id  TEXT NOT NULL,
    meter            TEXT NOT NULL,
    state            TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id, meter)
);

-- scope_id is the customer or subscription watched; customer_id is always the customer, so a
-- customer's budgets list in one query.
CREATE TABLE budgets (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    scope_id     TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    spec         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX budgets_scope ON budgets (tenant_id, scope_id);
CREATE INDEX budgets_customer ON budgets (tenant_id, customer_id, id);

-- One row per threshold alerted in a period: the key that makes a crossing alert once.
-- budget_key is a budget id, or `terms:<customer id>` for the implicit monthly limit.
CREATE TABLE budget_alerted (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    budget_key  TEXT NOT NULL,
    period_key  TEXT NOT NULL,
    percent     BIGINT NOT NULL,
    basis       TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, budget_key, period_key, percent, basis)
);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    kind             TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    subscription_id  TEXT,
    status           TEXT NOT NULL,
    sentence         TEXT NOT NULL,
    details          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX alerts_tenant ON alerts (tenant_id, id);
CREATE INDEX alerts_customer ON alerts (tenant_id, customer_id, id);
