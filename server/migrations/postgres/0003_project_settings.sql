-- Per-project settings (SPEC §7): JSON of visible integrations, allowed origins, session TTL, custom integrations.
ALTER TABLE projects ADD COLUMN config TEXT NOT NULL DEFAULT '{}';

-- A project's own OAuth client per integration; the secret sealed by the vault.
CREATE TABLE project_oauth_clients (
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    platform           TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    scopes             TEXT,                   -- JSON array, NULL = the catalog's defaults
    secret_key_id      TEXT NOT NULL,
    secret_nonce       BYTEA NOT NULL,
    secret_ciphertext  BYTEA NOT NULL,
    PRIMARY KEY (project_id, platform)
);
