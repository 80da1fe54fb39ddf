-- Every status column accepts only the values its domain type has (src/domain/states.rs), and
-- a delivery names its push platform. Every value earlier versions wrote is in these sets.
-- PostgreSQL gets CHECK constraints (0010 there). SQLite can add a CHECK constraint only by
-- rebuilding the table (with its foreign keys, indexes and counting triggers), so here each
-- table gets one BEFORE INSERT and one BEFORE UPDATE trigger that aborts a write with a value
-- outside a set: the same guarantee for every row written from now on. One trigger per table
-- and event, not one per column: a trigger costs a few microseconds per row on the writer
-- thread, whatever its condition (bench/README.md). Rows already stored were written by code
-- that only wrote these values; the INSERTs at the end fail the migration if not.
ALTER TABLE deliveries ADD COLUMN platform TEXT NOT NULL DEFAULT 'apn';
CREATE TRIGGER invites_check_insert BEFORE INSERT ON invites
WHEN NEW.status NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed')
    OR (NEW.cancel_push IS NOT NULL AND NEW.cancel_push NOT IN ('voip'))
    OR (NEW.callback_reported IS NOT NULL AND NEW.callback_reported NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites (status, cancel_push, callback_reported)'); END;
CREATE TRIGGER invites_check_update BEFORE UPDATE OF status, cancel_push, callback_reported ON invites
WHEN NEW.status NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed')
    OR (NEW.cancel_push IS NOT NULL AND NEW.cancel_push NOT IN ('voip'))
    OR (NEW.callback_reported IS NOT NULL AND NEW.callback_reported NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed'))
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites (status, cancel_push, callback_reported)'); END;
CREATE TRIGGER deliveries_check_insert BEFORE INSERT ON deliveries
WHEN NEW.platform NOT IN ('apn')
    OR NEW.status NOT IN ('queued', 'retrying', 'accepted', 'failed', 'expired')
    OR NEW.environment NOT IN ('production', 'sandbox')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries (platform, status, environment)'); END;
CREATE TRIGGER deliveries_check_update BEFORE UPDATE OF platform, status, environment ON deliveries
WHEN NEW.platform NOT IN ('apn')
    OR NEW.status NOT IN ('queued', 'retrying', 'accepted', 'failed', 'expired')
    OR NEW.environment NOT IN ('production', 'sandbox')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries (platform, status, environment)'); END;
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
-- Existing rows: copied through a table with the CHECK, so a value outside a set fails here.
CREATE TEMP TABLE state_check (v TEXT NOT NULL, allowed TEXT NOT NULL,
    CHECK (instr(allowed, '|' || v || '|') > 0));
INSERT INTO state_check SELECT DISTINCT status, '|queued|sending|delivered|answered|rejected|canceled|expired|failed|' FROM invites WHERE status IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT cancel_push, '|voip|' FROM invites WHERE cancel_push IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT callback_reported, '|queued|sending|delivered|answered|rejected|canceled|expired|failed|' FROM invites WHERE callback_reported IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT platform, '|apn|' FROM deliveries WHERE platform IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT status, '|queued|retrying|accepted|failed|expired|' FROM deliveries WHERE status IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT environment, '|production|sandbox|' FROM deliveries WHERE environment IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT state, '|active|invalid|' FROM registrations WHERE state IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT environment, '|production|sandbox|' FROM registrations WHERE environment IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT binding_type, '|apn|' FROM registrations WHERE binding_type IS NOT NULL;
INSERT INTO state_check SELECT DISTINCT type, '|apn|apn_token|' FROM credentials WHERE type IS NOT NULL;
DROP TABLE state_check;
