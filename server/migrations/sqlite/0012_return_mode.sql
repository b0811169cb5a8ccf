-- How a same-tab flow comes back to the host: NULL for the embedded widget (to its registered page, the result in
-- the fragment); 'state' for @withone/auth, whose package names its page in `state` (checked against the
-- project's returnUrls before the provider is asked, then kept in return_to) and reads the result from the query.
ALTER TABLE oauth_flows ADD COLUMN return_mode TEXT;
