-- Activity detections: Azure Activity Log records, the state the built-in detectors read instead
-- of rescanning the records, and the episodes that fold repeated matches into one alert.

-- record_id is Azure's eventDataId, else `sha256:` of the record's canonical JSON; the primary
-- key makes re-sending a record a no-op (`ON CONFLICT DO NOTHING`).
CREATE TABLE activity_records (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    record_id        TEXT NOT NULL,
    subscription_id  TEXT NOT NULL REFERENCES subscriptions(id),
    customer_id      TEXT NOT NULL,
    operation_name   TEXT NOT NULL,
    caller           TEXT,
    caller_ip        TEXT,
    status           TEXT NOT NULL,
    resource_id      TEXT,
    event_at         BIGINT NOT NULL,
    properties       TEXT,
    raw              TEXT NOT NULL,
    received_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, record_id)
);
CREATE INDEX activity_records_subscription ON activity_records (tenant_id, subscription_id, event_at);

-- Successful VM writes with a known region, per customer: the VM-creation-burst window.
CREATE TABLE activity_vm_writes (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    record_id        TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    region           TEXT NOT NULL,
    event_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, record_id)
);
CREATE INDEX activity_vm_writes_customer ON activity_vm_writes (tenant_id, customer_id, event_at);

-- What a customer's activity has shown before: `principal` (object ids granted a role) and
-- `country` (of caller IP addresses).
CREATE TABLE activity_seen (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    customer_id  TEXT NOT NULL,
    dimension    TEXT NOT NULL,
    value        TEXT NOT NULL,
    first_seen   BIGINT NOT NULL,
    record_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, dimension, value)
);

-- The alert episode of one detector (a Sigma rule id or a built-in code, with its subject) on
-- one scope (a subscription, or a customer for customer-wide detectors): matches while the
-- episode lasts count here instead of raising another alert.
CREATE TABLE activity_episodes (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    scope_id       TEXT NOT NULL,
    detector       TEXT NOT NULL,
    alert_id       TEXT NOT NULL,
    opened_at      BIGINT NOT NULL,
    last_match_at  BIGINT NOT NULL,
    matches        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, scope_id, detector)
);
