-- Operator accounts: the people (and their automation) who run Plugboard through its operator API and console.
-- Secrets are kept as digests (session and API tokens: SHA-256 of a 256-bit random value) or as Argon2id hashes
-- (passwords). Times are unix seconds.
CREATE TABLE operators (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,          -- lower-cased
    role             TEXT NOT NULL CHECK (role IN ('admin', 'developer', 'support')),
    password_hash    TEXT,                          -- Argon2id PHC string; NULL: no password (setup link not used yet, or SSO only)
    sso_subject      TEXT UNIQUE,                   -- "issuer subject" of the operator's single sign-on identity
    created_at       BIGINT NOT NULL,
    disabled_at      BIGINT,
    failed_sign_ins  BIGINT NOT NULL DEFAULT 0,       -- consecutive failed password sign-ins
    locked_until     BIGINT                           -- no password sign-in before this time
);

-- Signed-in browsers. The CSRF token is sent back by the console on every write (X-CSRF-Token).
CREATE TABLE operator_sessions (
    token_hash   TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    csrf_hash    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    client_ip    TEXT
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

-- Scoped API tokens for automation (pbo_…): read-only or full, never more than their operator's role.
CREATE TABLE operator_tokens (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    operator_id   TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'full')),
    hint          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX operator_tokens_operator ON operator_tokens (operator_id);

-- One-time links that let a new operator choose a password.
CREATE TABLE operator_setup_links (
    token_hash   TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

-- Every change and every sign-in attempt: who, when, from where, what (secrets never written). Append-only.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,          -- an operator's email, or "cli" / "config file"
    operator_id TEXT,
    client_ip   TEXT,
    action      TEXT NOT NULL,          -- e.g. "operator.sign_in", "settings.update"
    project_id  TEXT,
    target      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'refused')),
    details     TEXT NOT NULL DEFAULT '{}'  -- JSON, secrets redacted
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
