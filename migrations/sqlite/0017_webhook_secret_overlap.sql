-- Rotating the status callback signing secret with an overlap: the secret it replaced keeps
-- signing beside the new one (a second `v1=` signature in X-Pushgate-Signature) until
-- valid_until (epoch ms), so receivers can move to the new secret without a gap. One row per
-- account at most; sealed under the master key with the account SID as associated data, like
-- webhook_secrets.
CREATE TABLE webhook_secrets_previous (
    sid           TEXT PRIMARY KEY REFERENCES accounts (sid) ON DELETE CASCADE,
    secret_sealed BYTEA NOT NULL,
    valid_until   BIGINT NOT NULL
);
