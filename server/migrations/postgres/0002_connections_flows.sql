-- Connections (the vault) and OAuth flows. Secrets are AES-256-GCM ciphertexts; key id and nonce beside them.
CREATE TABLE connections (
    id                 TEXT PRIMARY KEY,
    key                TEXT NOT NULL UNIQUE,
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment        TEXT NOT NULL,
    platform           TEXT NOT NULL,
    identity           TEXT NOT NULL,
    identity_type      TEXT NOT NULL,
    name               TEXT NOT NULL,
    state              TEXT NOT NULL,
    config             TEXT NOT NULL,          -- JSON object of the non-secret fields (e.g. subdomain)
    secret_key_id      TEXT NOT NULL,
    secret_nonce       BYTEA NOT NULL,
    secret_ciphertext  BYTEA NOT NULL,
    is_oauth           BIGINT NOT NULL,
    version            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,       -- unix milliseconds
    updated_at         BIGINT NOT NULL,
    deleted_at         BIGINT
);
CREATE INDEX connections_owner ON connections (project_id, environment, identity, identity_type, platform);

CREATE TABLE oauth_flows (
    id                 TEXT PRIMARY KEY,
    state_hash         TEXT NOT NULL UNIQUE,
    binding_hash       TEXT,                   -- digest of the popup's cookie, set when it passes /oauth/authorize
    session_hash       TEXT NOT NULL,
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment        TEXT NOT NULL,
    identity           TEXT NOT NULL,
    identity_type      TEXT NOT NULL,
    platform           TEXT NOT NULL,
    name               TEXT,
    reconnect_key      TEXT,
    config             TEXT NOT NULL,
    secret_key_id      TEXT NOT NULL,          -- sealed: provider authorize URL (holds the state) + PKCE verifier
    secret_nonce       BYTEA NOT NULL,
    secret_ciphertext  BYTEA NOT NULL,
    redirect_uri       TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'connected', 'failed')),
    error              TEXT,
    connection_key     TEXT,
    created_at         BIGINT NOT NULL,       -- unix seconds
    expires_at         BIGINT NOT NULL,
    redirected_at      BIGINT,
    consumed_at        BIGINT
);
CREATE INDEX oauth_flows_expires_at ON oauth_flows (expires_at);
