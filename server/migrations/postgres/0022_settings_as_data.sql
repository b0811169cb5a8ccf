-- Settings as data (operator API): a project's own OAuth client may be for one environment, and the config file's
-- share of a project's settings is recorded so the API can refuse to edit it.
--
-- project_oauth_clients.environment: 'test', 'live', or 'both' (what the config file and every earlier row mean).
-- 'both' and not NULL: a NULL is distinct from every other NULL in a primary key's conflict check, so an upsert
-- could never find the both-row.
ALTER TABLE project_oauth_clients ADD COLUMN environment TEXT NOT NULL DEFAULT 'both' CHECK (environment IN ('both', 'test', 'live'));
ALTER TABLE project_oauth_clients DROP CONSTRAINT project_oauth_clients_pkey;
ALTER TABLE project_oauth_clients ADD PRIMARY KEY (project_id, platform, environment);

-- What the config file declared at the last start: {"fields": ["visibleIntegrations", …], "oauth": ["gmail", …],
-- "webhook": true}. NULL: the file declares nothing of the project.
ALTER TABLE projects ADD COLUMN managed TEXT;

-- The environment of the grant a revocation revokes: its OAuth client may be the environment's own. NULL (rows
-- queued before): the client for both environments.
ALTER TABLE revocations ADD COLUMN environment TEXT;
