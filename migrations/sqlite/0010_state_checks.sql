-- Every status column accepts only the values its domain type has (src/domain/states.rs), and
-- a delivery names its push platform. Every value earlier versions wrote is in these sets.
-- PostgreSQL gets CHECK constraints (0010 there). SQLite can add a CHECK constraint only by
-- rebuilding the table (with its foreign keys, indexes and counting triggers), so here each
-- check is a pair of triggers that abort an INSERT or UPDATE with a value outside the set:
-- the same guarantee for every row written from now on. Rows already stored were written by
-- code that only wrote these values; the SELECTs at the end fail the migration if not.
ALTER TABLE deliveries ADD COLUMN platform TEXT NOT NULL DEFAULT 'apn';
CREATE TRIGGER invites_status_check_insert BEFORE INSERT ON invites
WHEN NEW.status NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites_status_check'); END;
CREATE TRIGGER invites_status_check_update BEFORE UPDATE OF status ON invites
WHEN NEW.status NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites_status_check'); END;
CREATE TRIGGER invites_cancel_push_check_insert BEFORE INSERT ON invites
WHEN NEW.cancel_push IS NOT NULL AND NEW.cancel_push NOT IN ('voip') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites_cancel_push_check'); END;
CREATE TRIGGER invites_cancel_push_check_update BEFORE UPDATE OF cancel_push ON invites
WHEN NEW.cancel_push IS NOT NULL AND NEW.cancel_push NOT IN ('voip') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites_cancel_push_check'); END;
CREATE TRIGGER invites_callback_reported_check_insert BEFORE INSERT ON invites
WHEN NEW.callback_reported IS NOT NULL AND NEW.callback_reported NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites_callback_reported_check'); END;
CREATE TRIGGER invites_callback_reported_check_update BEFORE UPDATE OF callback_reported ON invites
WHEN NEW.callback_reported IS NOT NULL AND NEW.callback_reported NOT IN ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: invites_callback_reported_check'); END;
CREATE TRIGGER deliveries_platform_check_insert BEFORE INSERT ON deliveries
WHEN NEW.platform NOT IN ('apn') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_platform_check'); END;
CREATE TRIGGER deliveries_platform_check_update BEFORE UPDATE OF platform ON deliveries
WHEN NEW.platform NOT IN ('apn') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_platform_check'); END;
CREATE TRIGGER deliveries_status_check_insert BEFORE INSERT ON deliveries
WHEN NEW.status NOT IN ('queued', 'retrying', 'accepted', 'failed', 'expired') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_status_check'); END;
CREATE TRIGGER deliveries_status_check_update BEFORE UPDATE OF status ON deliveries
WHEN NEW.status NOT IN ('queued', 'retrying', 'accepted', 'failed', 'expired') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_status_check'); END;
CREATE TRIGGER deliveries_environment_check_insert BEFORE INSERT ON deliveries
WHEN NEW.environment NOT IN ('production', 'sandbox') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_environment_check'); END;
CREATE TRIGGER deliveries_environment_check_update BEFORE UPDATE OF environment ON deliveries
WHEN NEW.environment NOT IN ('production', 'sandbox') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: deliveries_environment_check'); END;
CREATE TRIGGER registrations_state_check_insert BEFORE INSERT ON registrations
WHEN NEW.state NOT IN ('active', 'invalid') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations_state_check'); END;
CREATE TRIGGER registrations_state_check_update BEFORE UPDATE OF state ON registrations
WHEN NEW.state NOT IN ('active', 'invalid') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations_state_check'); END;
CREATE TRIGGER registrations_environment_check_insert BEFORE INSERT ON registrations
WHEN NEW.environment IS NOT NULL AND NEW.environment NOT IN ('production', 'sandbox') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations_environment_check'); END;
CREATE TRIGGER registrations_environment_check_update BEFORE UPDATE OF environment ON registrations
WHEN NEW.environment IS NOT NULL AND NEW.environment NOT IN ('production', 'sandbox') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations_environment_check'); END;
CREATE TRIGGER registrations_binding_type_check_insert BEFORE INSERT ON registrations
WHEN NEW.binding_type NOT IN ('apn') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations_binding_type_check'); END;
CREATE TRIGGER registrations_binding_type_check_update BEFORE UPDATE OF binding_type ON registrations
WHEN NEW.binding_type NOT IN ('apn') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: registrations_binding_type_check'); END;
CREATE TRIGGER credentials_type_check_insert BEFORE INSERT ON credentials
WHEN NEW.type NOT IN ('apn', 'apn_token') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: credentials_type_check'); END;
CREATE TRIGGER credentials_type_check_update BEFORE UPDATE OF type ON credentials
WHEN NEW.type NOT IN ('apn', 'apn_token') BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: credentials_type_check'); END;
-- Existing rows: copied through a table with the CHECKs, so a value outside a set fails here.
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
