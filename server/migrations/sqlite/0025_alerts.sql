-- Operator alerts: where a project's alerts go and when each fires. The URL is sealed like every other secret:
-- an incoming-webhook URL (Slack's hooks.slack.com/services/…) is itself the credential that posts to the channel.
CREATE TABLE project_alerts (
    project_id               TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    format                   TEXT NOT NULL CHECK (format IN ('json', 'slack')),
    url_hint                 TEXT NOT NULL,          -- scheme://host of the URL, to show
    secret_key_id            TEXT NOT NULL,          -- the URL, sealed
    secret_nonce             BLOB NOT NULL,
    secret_ciphertext        BLOB NOT NULL,
    refresh_failure_percent  INTEGER NOT NULL,          -- alert when this share of an integration's refreshes fail …
    min_refreshes            INTEGER NOT NULL,          -- … out of at least this many in the window
    connect_errors           INTEGER NOT NULL,          -- alert when the connect errors of the window reach this
    window_secs              INTEGER NOT NULL,
    created_at               INTEGER NOT NULL
);

-- When each alert last went out, so every node together sends it at most once per window.
CREATE TABLE alert_state (
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,                     -- the integration, or '' for the whole project
    last_sent_at  INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, subject)
);
