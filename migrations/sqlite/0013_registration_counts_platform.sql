-- The registration gauges by platform too (issue #15): the counts and their deltas gain a
-- `platform` column (the registration's binding_type), and the triggers record it. The counts
-- are rebuilt from `registrations` once, here (the one scan; the refresher never scans).
DROP TRIGGER registrations_count_insert;
DROP TRIGGER registrations_count_delete;
DROP TRIGGER registrations_count_update;
DROP TABLE registration_counts;
DROP TABLE registration_count_deltas;
CREATE TABLE registration_counts (
    platform    TEXT NOT NULL,             -- apn | fcm
    environment TEXT NOT NULL,             -- production | sandbox | default (NULL column)
    state       TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (platform, environment, state)
);
CREATE TABLE registration_count_deltas (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    platform    TEXT NOT NULL,
    environment TEXT NOT NULL,
    state       TEXT NOT NULL,
    n           BIGINT NOT NULL
);
INSERT INTO registration_counts (platform, environment, state, n)
    SELECT binding_type, COALESCE(environment, 'default'), state, COUNT(*) FROM registrations
    GROUP BY binding_type, COALESCE(environment, 'default'), state;

CREATE TRIGGER registrations_count_insert AFTER INSERT ON registrations BEGIN
    INSERT INTO registration_count_deltas (platform, environment, state, n)
        VALUES (NEW.binding_type, COALESCE(NEW.environment, 'default'), NEW.state, 1);
END;
CREATE TRIGGER registrations_count_delete AFTER DELETE ON registrations BEGIN
    INSERT INTO registration_count_deltas (platform, environment, state, n)
        VALUES (OLD.binding_type, COALESCE(OLD.environment, 'default'), OLD.state, -1);
END;
CREATE TRIGGER registrations_count_update AFTER UPDATE OF binding_type, environment, state
ON registrations
WHEN OLD.binding_type IS NOT NEW.binding_type OR OLD.environment IS NOT NEW.environment
    OR OLD.state IS NOT NEW.state BEGIN
    INSERT INTO registration_count_deltas (platform, environment, state, n)
        VALUES (OLD.binding_type, COALESCE(OLD.environment, 'default'), OLD.state, -1),
               (NEW.binding_type, COALESCE(NEW.environment, 'default'), NEW.state, 1);
END;
