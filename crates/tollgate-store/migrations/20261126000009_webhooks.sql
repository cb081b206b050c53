-- Outbound webhooks: the partner's endpoints and what each listens to. Deliveries are outbox
-- actions (kind `webhook`, object_id the endpoint id), so their attempts live there.

-- The secret is kept in the clear because Tollgate must sign with it (HMAC), unlike API keys,
-- which are only ever compared. event_types is a JSON array of event type names or `*`.
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    url              TEXT NOT NULL,
    description      TEXT,
    event_types      TEXT NOT NULL,
    secret           TEXT NOT NULL,
    status           TEXT NOT NULL,
    disabled_reason  TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    -- A removed endpoint is kept (its deliveries point at it) but no longer exists for the API.
    removed_at       BIGINT
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);

-- An alert about the tenant's own setup (an endpoint disabled after a day of failures) concerns
-- no customer, so alerts.customer_id becomes optional. Neither engine shares a syntax for
-- dropping NOT NULL, so the table is rebuilt (it has no foreign keys pointing at it).
CREATE TABLE alerts_rebuilt (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    kind             TEXT NOT NULL,
    customer_id      TEXT,
    subscription_id  TEXT,
    status           TEXT NOT NULL,
    sentence         TEXT NOT NULL,
    details          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
INSERT INTO alerts_rebuilt (id, tenant_id, kind, customer_id, subscription_id, status, sentence,
                            details, created_at, updated_at)
SELECT id, tenant_id, kind, customer_id, subscription_id, status, sentence, details, created_at,
       updated_at
FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_rebuilt RENAME TO alerts;
CREATE INDEX alerts_tenant ON alerts (tenant_id, id);
CREATE INDEX alerts_customer ON alerts (tenant_id, customer_id, id);
