-- Notices from the vendor or an abuse desk, vendor events that could not be read, cases that
-- gather what is known about one customer's problem, and the versioned playbooks that decide
-- what happens automatically.

CREATE TABLE notices (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    -- `vendor` (webhook or poll) or `api` (an abuse desk through `POST /v1/notices`).
    source                  TEXT NOT NULL,
    kind                    TEXT NOT NULL,
    severity                TEXT NOT NULL,
    confidence              TEXT,
    -- The vendor's event id: the same event arriving by webhook and by poll is one notice.
    vendor_event_id         TEXT,
    vendor_event_type       TEXT,
    vendor_subscription_id  TEXT,
    vendor_customer_id      TEXT,
    -- NULL when the vendor named a subscription Tollgate does not know.
    customer_id             TEXT,
    subscription_id         TEXT,
    summary                 TEXT NOT NULL,
    -- JSON: the affected resources and the reporter's details, as sent.
    resources               TEXT NOT NULL,
    details                 TEXT NOT NULL,
    first_seen_at           BIGINT,
    last_seen_at            BIGINT,
    respond_by              BIGINT NOT NULL,
    case_id                 TEXT,
    created_at              BIGINT NOT NULL
);
CREATE UNIQUE INDEX notices_vendor_event ON notices (tenant_id, vendor_event_id);
CREATE INDEX notices_tenant ON notices (tenant_id, id);

CREATE TABLE quarantined_vendor_events (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    source       TEXT NOT NULL,
    raw          TEXT NOT NULL,
    reason       TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);
CREATE INDEX quarantined_vendor_events_tenant ON quarantined_vendor_events (tenant_id, id);

CREATE TABLE cases (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    customer_id       TEXT,
    state             TEXT NOT NULL,
    outcome           TEXT,
    assignee          TEXT,
    title             TEXT NOT NULL,
    deadline_at       BIGINT,
    -- 1 when the case came from a notice about a subscription Tollgate does not know.
    unmatched         BIGINT NOT NULL,
    -- The vendor fraud event ids the case answers for (JSON list) and their subscription.
    vendor_event_ids  TEXT NOT NULL,
    vendor_subscription_id TEXT,
    -- Deadline breach bookkeeping: the alert raised for the breach, at most one per case.
    breach_alert_id   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    resolved_at       BIGINT
);
CREATE INDEX cases_tenant ON cases (tenant_id, id);
CREATE INDEX cases_customer ON cases (tenant_id, customer_id, state);
CREATE INDEX cases_deadline ON cases (state, deadline_at);

-- What a case gathers: notices, alerts, decisions, dunning episodes.
CREATE TABLE case_links (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    case_id      TEXT NOT NULL REFERENCES cases(id),
    object_kind  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    added_at     BIGINT NOT NULL,
    PRIMARY KEY (case_id, object_kind, object_id)
);

-- The case's timeline: opened, linked, assigned, commented, acted, state changes.
CREATE TABLE case_events (
    id        TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    case_id   TEXT NOT NULL REFERENCES cases(id),
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, id);

CREATE TABLE playbooks (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    version      BIGINT NOT NULL,
    label        TEXT NOT NULL,
    document     TEXT NOT NULL,
    -- `active` or `inactive`; without an active version the shipped playbook applies.
    status       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version),
    CONSTRAINT playbooks_label UNIQUE (tenant_id, label)
);
CREATE UNIQUE INDEX playbooks_active ON playbooks (tenant_id) WHERE status = 'active';
