-- Session tokens are signed and self-verifying (HMAC-SHA256 under a key derived from the master key): minting one
-- stores nothing. What is stored is the revocation list: a revoked session's id until its token would expire.
DROP TABLE sessions;

CREATE TABLE revoked_sessions (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL     -- unix seconds
);
CREATE INDEX revoked_sessions_expires_at ON revoked_sessions (expires_at);
