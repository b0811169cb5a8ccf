-- Proof of possession for the OAuth popup (SECURITY.md, "Cross-user account linking"): the digest of a one-time
-- secret that only the widget which started the flow holds. The popup must present it before it is bound.
ALTER TABLE oauth_flows ADD COLUMN proof_hash TEXT;  -- NULL only on flows started before this migration
