-- The embedded widget's same-tab fallback (no popup): the flow returns to the host page, and its result is parked
-- until the widget that started it claims it with both the result (only in the browser that came back from the
-- provider) and the flow's proof (only in that widget's storage).
ALTER TABLE oauth_flows ADD COLUMN return_to TEXT;    -- the host page to come back to
ALTER TABLE oauth_flows ADD COLUMN result_hash TEXT;  -- digest of the one-time result, until claimed
ALTER TABLE oauth_flows ADD COLUMN parked_at BIGINT; -- unix seconds: the provider's tokens wait, sealed, in the flow
