-- Accounts, API keys and device registrations. Times are unix epoch milliseconds.
CREATE TABLE accounts (
    sid           TEXT PRIMARY KEY,
    friendly_name TEXT NOT NULL,
    date_created  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name TEXT NOT NULL,
    -- AES-256-GCM under the master key, the key SID as associated data.
    secret_sealed BYTEA NOT NULL,
    date_created  BIGINT NOT NULL,
    date_revoked  BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_sid);

CREATE TABLE registrations (
    sid            TEXT PRIMARY KEY,
    account_sid    TEXT NOT NULL REFERENCES accounts (sid),
    credential_sid TEXT NOT NULL,
    identity       TEXT NOT NULL,
    binding_type   TEXT NOT NULL,
    device_token   TEXT NOT NULL,
    -- 'production' / 'sandbox' once learned from APNs; NULL = the credential's default.
    environment    TEXT,
    state          TEXT NOT NULL DEFAULT 'active',
    state_reason   TEXT,
    date_created   BIGINT NOT NULL,
    date_updated   BIGINT NOT NULL,
    last_used      BIGINT,
    UNIQUE (account_sid, credential_sid, device_token)
);
CREATE INDEX registrations_identity ON registrations (account_sid, identity, date_updated);
