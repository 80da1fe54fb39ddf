-- The operator console (issue #17). A session is stored under the SHA-256 of its random id
-- (hex), never the id itself: the cookie holds the id, so this table alone can't sign anyone
-- in. The session's CSRF token is derived from the id too (SHA-256 under another label), so
-- it is never stored either. Sessions end after `console_idle_minutes` without a request
-- (`last_seen`), when their API key is revoked, or at sign-out; expired rows are pruned.
CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY,
    account_sid  TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    api_key_sid  TEXT NOT NULL REFERENCES api_keys (sid) ON DELETE CASCADE,
    last_seen    BIGINT NOT NULL,
    date_created BIGINT NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (api_key_sid);
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen);
-- The console's "recent calls", newest first, per account.
CREATE INDEX IF NOT EXISTS invites_recent ON invites (account_sid, date_created);
