-- Settings as data (operator API): a project's own OAuth client may be for one environment, and the config file's
-- share of a project's settings is recorded so the API can refuse to edit it.
--
-- project_oauth_clients.environment: 'test', 'live', or 'both' (what the config file and every earlier row mean).
-- 'both' and not NULL: a NULL is distinct from every other NULL in a primary key's conflict check, so an upsert
-- could never find the both-row. The primary key gains the column, which SQLite can only do by rebuilding.
CREATE TABLE project_oauth_clients_new (
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    platform           TEXT NOT NULL,
    environment        TEXT NOT NULL DEFAULT 'both' CHECK (environment IN ('both', 'test', 'live')),
    client_id          TEXT NOT NULL,
    scopes             TEXT,                   -- JSON array, NULL = the catalog's defaults
    secret_key_id      TEXT NOT NULL,
    secret_nonce       BLOB NOT NULL,
    secret_ciphertext  BLOB NOT NULL,
    settings           TEXT,
    token_scopes       TEXT,
    PRIMARY KEY (project_id, platform, environment)
);
INSERT INTO project_oauth_clients_new (project_id, platform, environment, client_id, scopes, secret_key_id, secret_nonce, secret_ciphertext, settings, token_scopes)
    SELECT project_id, platform, 'both', client_id, scopes, secret_key_id, secret_nonce, secret_ciphertext, settings, token_scopes FROM project_oauth_clients;
DROP TABLE project_oauth_clients;
ALTER TABLE project_oauth_clients_new RENAME TO project_oauth_clients;

-- What the config file declared at the last start: {"fields": ["visibleIntegrations", …], "oauth": ["gmail", …],
-- "webhook": true}. NULL: the file declares nothing of the project.
ALTER TABLE projects ADD COLUMN managed TEXT;

-- The environment of the grant a revocation revokes: its OAuth client may be the environment's own. NULL (rows
-- queued before): the client for both environments.
ALTER TABLE revocations ADD COLUMN environment TEXT;
