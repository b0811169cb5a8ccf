-- Settings of a project's own OAuth app that the provider's endpoints depend on (Microsoft's tenant), as a JSON
-- object of name → value; NULL when the operator gave none (each setting's catalog default applies).
ALTER TABLE project_oauth_clients ADD COLUMN settings TEXT;
-- Scopes for an integration's further tokens, by token name (Slack's user token: {"user": ["search:read"]}); NULL
-- when the operator gave none.
ALTER TABLE project_oauth_clients ADD COLUMN token_scopes TEXT;
