-- Status callbacks are signed with a per-account webhook signing secret (no longer with an API
-- key's secret, which is a full-admin credential). One row per account; sid is the account SID,
-- also the associated data of the sealed secret. Created on first need or by
-- POST /v1/webhook-secret, which replaces it (src/calls/webhook_secret.rs).
CREATE TABLE webhook_secrets (
    sid           TEXT PRIMARY KEY REFERENCES accounts (sid) ON DELETE CASCADE,
    secret_sealed BYTEA NOT NULL,
    date_created  BIGINT NOT NULL
);
