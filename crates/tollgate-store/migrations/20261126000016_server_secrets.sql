-- Secrets the server generates once and every instance shares, such as the key that signs
-- console sessions: a sign-in then outlives a restart and works on every instance.
CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
