-- APNs push credentials. Public facts in clear; the private key (PKCS#8 PEM, or the .p8 key)
-- only sealed with the master key, the credential SID as associated data.
CREATE TABLE credentials (
    sid             TEXT PRIMARY KEY,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    type            TEXT NOT NULL,          -- 'apn' (certificate) | 'apn_token' (.p8)
    friendly_name   TEXT NOT NULL,
    sandbox         BIGINT NOT NULL,        -- 1 = the development environment by default
    bundle_id       TEXT NOT NULL,
    voip_topic      TEXT NOT NULL,
    topics          TEXT NOT NULL,          -- JSON array
    env_development BIGINT NOT NULL,
    env_production  BIGINT NOT NULL,
    not_before      BIGINT,                 -- epoch seconds; NULL for token keys
    not_after       BIGINT,
    fingerprint     TEXT NOT NULL,
    key_id          TEXT,
    team_id         TEXT,
    warnings        TEXT NOT NULL,          -- JSON array
    cert_chain_pem  TEXT,                   -- public certificates, leaf first
    secret_sealed   BLOB NOT NULL,
    rejected_reason TEXT,                   -- set when APNs rejects the credential
    date_created    BIGINT NOT NULL,
    date_updated    BIGINT NOT NULL
);
CREATE INDEX credentials_account ON credentials (account_sid);
CREATE INDEX registrations_credential ON registrations (credential_sid);
