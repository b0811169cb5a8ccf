-- Provider revocation (RFC 7009) as a persistent queue: a deleted connection's secrets are wiped in the delete's
-- own transaction, and what must still be revoked at the provider waits here, sealed, until the provider confirms
-- (or the attempts run out). Retried with backoff by every node; a claim is a conditional update.
CREATE TABLE revocations (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    platform           TEXT NOT NULL,
    connection_key     TEXT NOT NULL,
    config             TEXT NOT NULL,          -- the connection's non-secret config (the revoke URL may use it)
    secret_key_id      TEXT NOT NULL,          -- sealed: the token to revoke and its token_type_hint
    secret_nonce       BYTEA NOT NULL,
    secret_ciphertext  BYTEA NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT NOT NULL,       -- unix milliseconds
    last_error         TEXT,
    created_at         BIGINT NOT NULL        -- unix milliseconds
);
CREATE INDEX revocations_due ON revocations (next_attempt_at);
