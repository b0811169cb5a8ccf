-- Refresh ahead by a fraction of each token's lifetime (SPEC §3.8), decided when the token arrives; and a hold on
-- refreshing after a 401 that a freshly refreshed token also got (the 401 is about something else).
ALTER TABLE connections ADD COLUMN token_refresh_at BIGINT;  -- unix seconds; NULL = expiry unknown: refresh on 401
ALTER TABLE connections ADD COLUMN hold_401_until   BIGINT;  -- unix seconds: 401s are passed through until then
UPDATE connections SET token_refresh_at = token_expires_at - 60 WHERE token_expires_at IS NOT NULL;
DROP INDEX connections_refresh_due;
CREATE INDEX connections_refresh_due ON connections (token_refresh_at) WHERE refreshable = 1 AND deleted_at IS NULL;
