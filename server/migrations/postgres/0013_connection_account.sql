-- Who a connection signs in as, for people to read (an email, a workspace name), as the provider named it while
-- connecting; NULL when it said nothing usable. Never a secret (see connect::account).
ALTER TABLE connections ADD COLUMN account TEXT;
