-- Twilio's Client Call Notification webhook (issue #16). An invite is either pushgate's own
-- call ('call': pushgate's payload and bridge tokens) or a Twilio notification relayed as
-- received ('twilio_webhook': `payload` holds Twilio's JSON body, sent to each phone
-- unchanged). twilio_links ties a Twilio account (sid, AC…) to the pushgate account whose
-- registrations its notifications ring; its Auth Token (the key of X-Twilio-Signature) is
-- sealed under the master key with the Twilio account SID as associated data.
ALTER TABLE invites ADD COLUMN kind TEXT NOT NULL DEFAULT 'call'
    CHECK (kind IN ('call', 'twilio_webhook'));
ALTER TABLE invites ADD COLUMN payload TEXT;
CREATE TABLE twilio_links (
    sid               TEXT PRIMARY KEY,
    account_sid       TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    secret_sealed     BYTEA NOT NULL,
    ring_timeout_secs BIGINT NOT NULL,
    date_created      BIGINT NOT NULL,
    date_updated      BIGINT NOT NULL
);
CREATE INDEX twilio_links_account ON twilio_links (account_sid);
