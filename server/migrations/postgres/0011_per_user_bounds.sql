-- Per-user bounds (SECURITY.md, "Abuse"). Each opening of an auth link's or hosted session's page mints a widget
-- session: they are counted, and capped, per link.
ALTER TABLE connect_links ADD COLUMN sessions_opened INTEGER NOT NULL DEFAULT 0;
-- Open sign-ins are capped per end user (over all their sessions), so they are counted by owner.
CREATE INDEX oauth_flows_owner ON oauth_flows (project_id, environment, identity, identity_type) WHERE status = 'pending';
