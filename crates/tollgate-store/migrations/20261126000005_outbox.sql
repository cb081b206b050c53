-- The transactional outbox: actions written in the same transaction as the state change that
-- calls for them, executed at least once by workers that lease them, every attempt kept.

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    kind             TEXT NOT NULL,
    -- What asked for the action (`dunning`, `playbook`, `case`, `webhook`…) and its object id.
    source           TEXT NOT NULL,
    object_id        TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    -- A worker owns a pending action until lease_until; a crashed worker's lease runs out and
    -- another takes the action over.
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_object ON outbox (tenant_id, object_id);
CREATE INDEX outbox_listing ON outbox (tenant_id, id);

CREATE TABLE outbox_attempts (
    action_id    TEXT NOT NULL REFERENCES outbox(id),
    attempt      BIGINT NOT NULL,
    worker       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    detail       TEXT NOT NULL,
    PRIMARY KEY (action_id, attempt)
);

-- Jobs that must run once at a time across processes (the dunning run) hold a named lease.
CREATE TABLE job_leases (
    name         TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    until        BIGINT NOT NULL
);
