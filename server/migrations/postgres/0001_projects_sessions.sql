-- PostgreSQL: the same schema as migrations/sqlite (BIGINT for INTEGER, BYTEA for BLOB); keep the two in step.
-- Projects, their hashed secret keys, and widget sessions. Times are unix seconds (portable to PostgreSQL BIGINT).
CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE secret_keys (
    key_hash     TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment  TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    hint         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE sessions (
    token_hash            TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment           TEXT NOT NULL,
    identity              TEXT NOT NULL,
    identity_type         TEXT NOT NULL,
    allowed_integrations  TEXT,            -- JSON array of platform ids, NULL = all
    name                  TEXT,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
