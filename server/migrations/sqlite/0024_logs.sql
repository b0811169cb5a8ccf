-- What support needs to see (docs/operators.md, Logs): passthrough calls' metadata, the connect funnel's counts
-- and every webhook delivery attempt. Kept PLUGBOARD_LOG_RETENTION_DAYS (delivery attempts go with their event).

-- One row per passthrough call: metadata only. Never a body, a header or a query value: the path has its ids
-- masked (`:id`) and keeps only the query's parameter names. Written in batches off the request path.
CREATE TABLE passthrough_calls (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,              -- unix milliseconds, when the call arrived
    project_id      TEXT NOT NULL,
    environment     TEXT NOT NULL,
    connection_key  TEXT NOT NULL,
    platform        TEXT NOT NULL,                 -- the integration the path names
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,                 -- masked, e.g. /users/:id/messages?q&pageToken
    status          INTEGER NOT NULL,
    latency_ms      INTEGER NOT NULL,              -- until the answer's head was ready
    request_bytes   INTEGER,                       -- Content-Length of the request; NULL when streamed
    response_bytes  INTEGER                        -- the answer's length when known; NULL when streamed
);
-- Two indexes only: each costs every insert. The purge goes project by project on the first.
CREATE INDEX passthrough_calls_project_at ON passthrough_calls (project_id, at);
CREATE INDEX passthrough_calls_connection ON passthrough_calls (connection_key, at);

-- The connect funnel, aggregated: one counter per project, environment, integration ('' before one is chosen),
-- hour, step and error code ('' but for errors), bumped by an upsert for each step a widget reports.
CREATE TABLE funnel_counts (
    project_id   TEXT NOT NULL,
    environment  TEXT NOT NULL,
    platform     TEXT NOT NULL,
    hour         INTEGER NOT NULL,                 -- unix hours (unix seconds / 3 600, UTC): days for the funnel, the last hour for alerts
    kind         TEXT NOT NULL,
    code         TEXT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (project_id, environment, platform, hour, kind, code)
);
CREATE INDEX funnel_counts_hour ON funnel_counts (hour);

-- Every webhook delivery attempt of an outbox event (the outbox row keeps only the last outcome).
CREATE TABLE delivery_attempts (
    event_id     TEXT NOT NULL REFERENCES webhook_outbox(id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,                 -- 1-based
    at           INTEGER NOT NULL,                 -- unix milliseconds, when the attempt started
    status       INTEGER,                          -- the receiver's HTTP status, if it answered
    error        TEXT,                             -- why it failed, if it did
    latency_ms   INTEGER NOT NULL,
    PRIMARY KEY (event_id, attempt)
);
CREATE INDEX delivery_attempts_at ON delivery_attempts (at);

-- Which connection an event is about, and its environment (replays are allowed per environment); NULL on events
-- queued before this migration.
ALTER TABLE webhook_outbox ADD COLUMN connection_key TEXT;
ALTER TABLE webhook_outbox ADD COLUMN environment TEXT;
