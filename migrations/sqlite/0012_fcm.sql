-- Android through FCM HTTP v1 (issue #15): 'fcm' joins the platform and credential-type sets,
-- and an FCM credential keeps its service account's public facts in clear (the RSA key only
-- sealed, like every private key). deliveries carries its platform CHECK in the table, so it is
-- rebuilt as in 0010 (every row and column kept); the cold tables' triggers are replaced.
ALTER TABLE credentials ADD COLUMN project_id TEXT;
ALTER TABLE credentials ADD COLUMN client_email TEXT;
ALTER TABLE credentials ADD COLUMN token_uri TEXT;
CREATE TEMP TABLE deliveries_copy AS SELECT * FROM deliveries;
DROP TABLE deliveries;
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,     -- lowercase UUID (apns-id / twi_message_id)
    invite_sid       TEXT NOT NULL REFERENCES invites (sid),
    registration_sid TEXT NOT NULL,
    credential_sid   TEXT NOT NULL,
    device_token     TEXT NOT NULL,
    environment      TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
    status           TEXT NOT NULL
        CHECK (status IN ('queued', 'retrying', 'accepted', 'failed', 'expired')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    apns_status      BIGINT,               -- the provider's HTTP status (APNs or FCM)
    apns_reason      TEXT,                 -- APNs reason / FCM errorCode
    apns_id          TEXT,                 -- apns-id / FCM message name
    accepted_at      BIGINT,
    date_updated     BIGINT NOT NULL,
    enqueued_at      BIGINT,
    platform         TEXT NOT NULL DEFAULT 'apn' CHECK (platform IN ('apn', 'fcm'))
);
INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, device_token,
    environment, status, attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated,
    enqueued_at, platform)
SELECT id, invite_sid, registration_sid, credential_sid, device_token, environment, status,
    attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated, enqueued_at, platform
FROM temp.deliveries_copy;
DROP TABLE temp.deliveries_copy;
CREATE INDEX deliveries_invite ON deliveries (invite_sid);
CREATE INDEX deliveries_open ON deliveries (status) WHERE status IN ('queued', 'retrying');
CREATE INDEX deliveries_unenqueued ON deliveries (date_updated)
    WHERE enqueued_at IS NULL AND status IN ('queued', 'retrying');
DROP TRIGGER registrations_check_insert;
DROP TRIGGER registrations_check_update;
DROP TRIGGER credentials_check_insert;
DROP TRIGGER credentials_check_update;
CREATE TRIGGER registrations_check_insert BEFORE INSERT ON registrations
WHEN NEW.state NOT IN ('active', 'invalid')
    OR (NEW.environment IS NOT NULL AND NEW.environment NOT IN ('production', 'sandbox'))
    OR NEW.binding_type NOT IN ('apn', 'fcm')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations (state, environment, binding_type)'); END;
CREATE TRIGGER registrations_check_update BEFORE UPDATE OF state, environment, binding_type ON registrations
WHEN NEW.state NOT IN ('active', 'invalid')
    OR (NEW.environment IS NOT NULL AND NEW.environment NOT IN ('production', 'sandbox'))
    OR NEW.binding_type NOT IN ('apn', 'fcm')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations (state, environment, binding_type)'); END;
CREATE TRIGGER credentials_check_insert BEFORE INSERT ON credentials
WHEN NEW.type NOT IN ('apn', 'apn_token', 'fcm')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: credentials (type)'); END;
CREATE TRIGGER credentials_check_update BEFORE UPDATE OF type ON credentials
WHEN NEW.type NOT IN ('apn', 'apn_token', 'fcm')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: credentials (type)'); END;
