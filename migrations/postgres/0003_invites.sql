-- Call invites and their per-device deliveries (the outbox). Times are epoch milliseconds.
CREATE TABLE invites (
    sid             TEXT PRIMARY KEY,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    call_sid        TEXT NOT NULL,
    to_identity     TEXT NOT NULL,
    caller          TEXT NOT NULL,
    params          TEXT,                  -- URL query string, as sent in twi_params
    status          TEXT NOT NULL,         -- queued | sending | delivered | failed | expired | …
    status_callback TEXT,
    expires_at      BIGINT NOT NULL,
    date_created    BIGINT NOT NULL,
    date_updated    BIGINT NOT NULL,
    UNIQUE (account_sid, call_sid)
);

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,     -- lowercase UUID, sent as apns-id
    invite_sid       TEXT NOT NULL REFERENCES invites (sid),
    registration_sid TEXT NOT NULL,
    credential_sid   TEXT NOT NULL,
    device_token     TEXT NOT NULL,
    environment      TEXT NOT NULL,        -- production | sandbox
    status           TEXT NOT NULL,        -- queued | retrying | accepted | failed | expired
    attempts         BIGINT NOT NULL DEFAULT 0,
    apns_status      BIGINT,
    apns_reason      TEXT,
    apns_id          TEXT,
    accepted_at      BIGINT,
    date_updated     BIGINT NOT NULL
);
CREATE INDEX deliveries_invite ON deliveries (invite_sid);
CREATE INDEX deliveries_open ON deliveries (status) WHERE status IN ('queued', 'retrying');
CREATE INDEX registrations_last_used ON registrations (last_used);
