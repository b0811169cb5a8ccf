-- Token refresh (SPEC §3.8): what the refresher must see without opening the vault, and a lease so that exactly
-- one process at a time refreshes a connection (refresh tokens rotate: a second refresh would burn it).
ALTER TABLE connections ADD COLUMN secret_version   BIGINT NOT NULL DEFAULT 1; -- bumped whenever the secrets change
ALTER TABLE connections ADD COLUMN token_expires_at BIGINT;                    -- unix seconds; NULL = no expiry known
ALTER TABLE connections ADD COLUMN refreshable      BIGINT NOT NULL DEFAULT 0; -- holds a refresh token
ALTER TABLE connections ADD COLUMN refresh_failures BIGINT NOT NULL DEFAULT 0; -- transient failures in a row
ALTER TABLE connections ADD COLUMN next_refresh_at  BIGINT;                    -- unix seconds: backoff after a failure
ALTER TABLE connections ADD COLUMN lease_owner      TEXT;
ALTER TABLE connections ADD COLUMN lease_until      BIGINT;                    -- unix milliseconds
CREATE INDEX connections_refresh_due ON connections (token_expires_at) WHERE refreshable = 1 AND deleted_at IS NULL;

-- Webhooks (SPEC §3.9): one endpoint per project, its signing secret sealed by the vault.
CREATE TABLE webhooks (
    project_id         TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    url                TEXT NOT NULL,
    secret_key_id      TEXT NOT NULL,
    secret_nonce       BYTEA NOT NULL,
    secret_ciphertext  BYTEA NOT NULL,
    created_at         BIGINT NOT NULL
);

-- The outbox: an event is written in the same transaction as the change it reports, then delivered at least once.
CREATE TABLE webhook_outbox (
    id               TEXT PRIMARY KEY,             -- the event id receivers dedupe on
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,                -- the JSON delivered, fixed when the event happened
    created_at       BIGINT NOT NULL,             -- unix milliseconds, as every time below
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    give_up_at       BIGINT NOT NULL,
    lease_until      BIGINT,
    last_status      BIGINT,                      -- the receiver's HTTP status, if it answered
    last_error       TEXT,
    delivered_at     BIGINT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_attempt_at);
CREATE INDEX webhook_outbox_project ON webhook_outbox (project_id, created_at);
