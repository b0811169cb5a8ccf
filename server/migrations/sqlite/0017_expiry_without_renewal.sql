-- OAuth connections nothing can renew (no refresh token) are failed once their access token expires; the
-- refresher finds them by expiry.
CREATE INDEX connections_expiry_unrenewable ON connections (token_expires_at)
    WHERE refreshable = 0 AND is_oauth = 1 AND deleted_at IS NULL AND state <> 'failed';
