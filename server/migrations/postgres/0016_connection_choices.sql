-- Where one grant reaches several places (Atlassian sites, Xero organisations): every place it reaches, as JSON
-- (`{"cloud_id": [{"id", "name", "url"}]}`), for the host to address another with `Plugboard-Choice`. NULL when the
-- integration lists none. Never a secret.
ALTER TABLE connections ADD COLUMN choices TEXT;
