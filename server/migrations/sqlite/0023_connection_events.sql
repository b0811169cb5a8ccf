-- A connection's health timeline for operators (docs/operators.md, Connections): what happened to it and when —
-- created, reconnected, refreshed, a refresh that failed (with the provider's reason: its error code and
-- description, never a token), degraded, failed, deleted, revoked at the provider. Written in the transaction of
-- the change it records; append-only (rows are only ever removed by the purge, 90 days on).
CREATE TABLE connection_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    project_id     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    at             INTEGER NOT NULL,       -- unix milliseconds
    kind           TEXT NOT NULL CHECK (kind IN ('created', 'reconnected', 'refreshed', 'refresh_failed', 'degraded',
                                                 'failed', 'deleted', 'revoked', 'webhook')),
    detail         TEXT NOT NULL DEFAULT '{}'  -- JSON; never a secret
);
CREATE INDEX connection_events_connection ON connection_events (connection_id, at);
CREATE INDEX connection_events_at ON connection_events (at);
CREATE TRIGGER connection_events_no_update BEFORE UPDATE ON connection_events BEGIN SELECT RAISE(ABORT, 'connection events are append-only'); END;

-- Which connection a webhook event is about, so its deliveries join that connection's timeline (NULL for events
-- queued before this column existed).
ALTER TABLE webhook_outbox ADD COLUMN connection_id TEXT;
CREATE INDEX webhook_outbox_connection ON webhook_outbox (connection_id, created_at);
