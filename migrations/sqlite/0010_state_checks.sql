-- Every status column accepts only the values its domain type has (src/domain/states.rs), and
-- a delivery names its push platform. Every value earlier versions wrote is in these sets.
--
-- invites and deliveries (the hot tables) are rebuilt with CHECK constraints: SQLite adds a
-- CHECK only by rebuilding the table. A CHECK is a few instructions inside the statement; a
-- trigger is a sub-program per row, which cost the single writer thread ~10 % of its
-- throughput (bench/README.md). The copy keeps every row and column; an existing value outside
-- a set fails the migration (and rolls it back). deliveries is copied aside and dropped first,
-- so dropping the old invites breaks no foreign key. The cold tables (registrations,
-- credentials) get a BEFORE INSERT and a BEFORE UPDATE trigger each instead: the same
-- guarantee, without rebuilding a table that carries the registration-count triggers.
CREATE TABLE invites_checked (
    sid             TEXT PRIMARY KEY,
    account_sid     TEXT NOT NULL REFERENCES accounts (sid),
    call_sid        TEXT NOT NULL,
    to_identity     TEXT NOT NULL,
    caller          TEXT NOT NULL,
    params          TEXT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed')),
    status_callback TEXT,
    expires_at      BIGINT NOT NULL,
    date_created    BIGINT NOT NULL,
    date_updated    BIGINT NOT NULL,
    api_key_sid     TEXT,
    answered_by     TEXT,
    cancel_push     TEXT CHECK (cancel_push IN ('voip')),
    callback_reported TEXT CHECK (callback_reported IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed')),
    UNIQUE (account_sid, call_sid)
);
INSERT INTO invites_checked (sid, account_sid, call_sid, to_identity, caller, params, status,
    status_callback, expires_at, date_created, date_updated, api_key_sid, answered_by,
    cancel_push, callback_reported)
SELECT sid, account_sid, call_sid, to_identity, caller, params, status, status_callback,
    expires_at, date_created, date_updated, api_key_sid, answered_by, cancel_push,
    callback_reported FROM invites;
CREATE TEMP TABLE deliveries_copy AS SELECT * FROM deliveries;
DROP TABLE deliveries;
DROP TABLE invites;
ALTER TABLE invites_checked RENAME TO invites;
CREATE INDEX invites_open ON invites (expires_at) WHERE status IN ('queued', 'sending', 'delivered');
CREATE INDEX invites_callback_unreported ON invites (date_updated)
    WHERE status_callback IS NOT NULL AND callback_reported IS NULL;
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,     -- lowercase UUID, sent as apns-id
    invite_sid       TEXT NOT NULL REFERENCES invites (sid),
    registration_sid TEXT NOT NULL,
    credential_sid   TEXT NOT NULL,
    device_token     TEXT NOT NULL,
    environment      TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
    status           TEXT NOT NULL
        CHECK (status IN ('queued', 'retrying', 'accepted', 'failed', 'expired')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    apns_status      BIGINT,
    apns_reason      TEXT,
    apns_id          TEXT,
    accepted_at      BIGINT,
    date_updated     BIGINT NOT NULL,
    enqueued_at      BIGINT,
    platform         TEXT NOT NULL DEFAULT 'apn' CHECK (platform IN ('apn'))
);
INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, device_token,
    environment, status, attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated,
    enqueued_at)
SELECT id, invite_sid, registration_sid, credential_sid, device_token, environment, status,
    attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated, enqueued_at
FROM temp.deliveries_copy;
DROP TABLE temp.deliveries_copy;
CREATE INDEX deliveries_invite ON deliveries (invite_sid);
CREATE INDEX deliveries_open ON deliveries (status) WHERE status IN ('queued', 'retrying');
CREATE INDEX deliveries_unenqueued ON deliveries (date_updated)
    WHERE enqueued_at IS NULL AND status IN ('queued', 'retrying');
CREATE TRIGGER registrations_check_insert BEFORE INSERT ON registrations
WHEN NEW.state NOT IN ('active', 'invalid')
    OR (NEW.environment IS NOT NULL AND NEW.environment NOT IN ('production', 'sandbox'))
    OR NEW.binding_type NOT IN ('apn')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations (state, environment, binding_type)'); END;
CREATE TRIGGER registrations_check_update BEFORE UPDATE OF state, environment, binding_type ON registrations
WHEN NEW.state NOT IN ('active', 'invalid')
    OR (NEW.environment IS NOT NULL AND NEW.environment NOT IN ('production', 'sandbox'))
    OR NEW.binding_type NOT IN ('apn')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations (state, environment, binding_type)'); END;
CREATE TRIGGER credentials_check_insert BEFORE INSERT ON credentials
WHEN NEW.type NOT IN ('apn', 'apn_token')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: credentials (type)'); END;
CREATE TRIGGER credentials_check_update BEFORE UPDATE OF type ON credentials
WHEN NEW.type NOT IN ('apn', 'apn_token')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: credentials (type)'); END;
-- Existing rows of the cold tables: copied through a table with the CHECK, so a value outside
-- a set fails here.
CREATE TEMP TABLE state_check (v TEXT NOT NULL, allowed TEXT NOT NULL,
    CHECK (instr(allowed, '|' || v || '|') > 0));
INSERT INTO state_check SELECT DISTINCT state, '|active|invalid|' FROM registrations WHERE state IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT environment, '|production|sandbox|' FROM registrations WHERE environment IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT binding_type, '|apn|' FROM registrations WHERE binding_type IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT type, '|apn|apn_token|' FROM credentials WHERE type IS NOT NULL;
DROP TABLE state_check;
