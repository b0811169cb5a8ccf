-- Who the end user is, as the auth link or hosted session they connected through named them (StackOne's
-- origin_owner_name and origin_username): kept on the connection, since links are purged a day after they expire.
-- NULL for connections made in the embedded widget (its session names only the identity). Never a secret.
ALTER TABLE connections ADD COLUMN end_user_name TEXT;
ALTER TABLE connections ADD COLUMN end_user_username TEXT;
