-- Connecting without an embed (SPEC §3.10): auth links (StackOne's way) and hosted connection sessions (One
-- Runtime's way). The token is a capability: only its digest is stored. One link serves one connection: `used_at`
-- is set in the transaction that saves it, and only while it is unset.
CREATE TABLE connect_links (
    token_hash         TEXT PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('link', 'hosted')),
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment        TEXT NOT NULL,
    identity           TEXT NOT NULL,
    identity_type      TEXT NOT NULL,
    end_user_name      TEXT,
    end_user_username  TEXT,                   -- a username or email
    categories         TEXT,                   -- JSON array; NULL = every category
    integration        TEXT,                   -- a platform id to open directly
    reconnect_key      TEXT,                   -- a connection to update in place
    connection_name    TEXT,
    redirect_url       TEXT,
    created_at         BIGINT NOT NULL,       -- unix seconds
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT,
    connection_key     TEXT,
    revoked_at         BIGINT
);
CREATE INDEX connect_links_expires_at ON connect_links (expires_at);
-- Widget sessions opened from a link, and flows started in them: the link is spent when their connection is saved.
ALTER TABLE sessions ADD COLUMN link_hash TEXT;
ALTER TABLE oauth_flows ADD COLUMN link_hash TEXT;
-- 'popup' (the widget's popup) or 'page' (same-tab redirect: an auth link or a hosted popup page).
ALTER TABLE oauth_flows ADD COLUMN display TEXT NOT NULL DEFAULT 'popup';
