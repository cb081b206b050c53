-- Dunning: the tenant's policy versions, one episode per customer and currency while something
-- is past due, every step an episode took (each at most once, enforced here so two racing runs
-- cannot both take it), the subscriptions an episode suspended, and pauses.

CREATE TABLE dunning_policies (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    version      BIGINT NOT NULL,
    document     TEXT NOT NULL,
    -- `active` or `inactive`; episodes keep running under the version they opened with.
    status       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
CREATE UNIQUE INDEX dunning_policies_active ON dunning_policies (tenant_id) WHERE status = 'active';

CREATE TABLE dunning_episodes (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    currency        TEXT NOT NULL,
    -- `open` or `closed`.
    status          TEXT NOT NULL,
    policy_version  BIGINT NOT NULL,
    tier            TEXT NOT NULL,
    -- The core `EpisodeState` as JSON; the columns below repeat what listing filters on.
    state           TEXT NOT NULL,
    -- The highest ladder index executed (-1 before the first), for "who is at which step".
    step            BIGINT NOT NULL,
    step_action     TEXT,
    paused_until    TEXT,
    opened_on       TEXT NOT NULL,
    opened_at       BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    closed_at       BIGINT
);
-- At most one open episode per customer and currency: a second run racing to open one loses.
CREATE UNIQUE INDEX dunning_episodes_open ON dunning_episodes (tenant_id, customer_id, currency)
    WHERE status = 'open';
CREATE INDEX dunning_episodes_listing ON dunning_episodes (tenant_id, status, id);
CREATE INDEX dunning_episodes_customer ON dunning_episodes (tenant_id, customer_id, id);

-- `step_key` is `step:<ladder index>`, `reactivate` or `close`: each happens once per episode.
CREATE TABLE dunning_steps (
    episode_id        TEXT NOT NULL REFERENCES dunning_episodes(id),
    step_key          TEXT NOT NULL,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    seq               BIGINT NOT NULL,
    step              BIGINT,
    kind              TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    on_date           TEXT NOT NULL,
    reasons           TEXT NOT NULL,
    message           TEXT NOT NULL,
    subscription_ids  TEXT NOT NULL,
    -- Why no e-mail went out for a customer-facing step (no address on file), if so.
    note              TEXT,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (episode_id, step_key)
);

-- The subscriptions an episode moved to suspended (or found suspended by another open episode
-- of the same customer); released when the episode reactivates or terminates them.
CREATE TABLE dunning_suspensions (
    episode_id       TEXT NOT NULL REFERENCES dunning_episodes(id),
    subscription_id  TEXT NOT NULL REFERENCES subscriptions(id),
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    suspended_at     BIGINT NOT NULL,
    released_at      BIGINT,
    PRIMARY KEY (episode_id, subscription_id)
);
CREATE INDEX dunning_suspensions_subscription ON dunning_suspensions (tenant_id, subscription_id);

CREATE TABLE dunning_pauses (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    episode_id   TEXT NOT NULL REFERENCES dunning_episodes(id),
    reason       TEXT NOT NULL,
    until_date   TEXT NOT NULL,
    note         TEXT,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    ended_by     TEXT,
    ended_at     BIGINT
);
CREATE INDEX dunning_pauses_episode ON dunning_pauses (episode_id, created_at);

-- The run's candidate scan: who has something open past due, without reading the invoices.
CREATE INDEX invoices_past_due ON invoices (due_at, tenant_id, customer_id) WHERE open_minor > 0;
