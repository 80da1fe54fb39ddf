-- Registration counts for the gauges, kept without scanning `registrations`: every change of a
-- row's (environment, state) appends a delta; the metrics refresher folds the deltas into
-- `registration_counts` (see src/store/stats.rs). Appends never contend on a hot row.
CREATE TABLE registration_counts (
    environment TEXT NOT NULL,             -- production | sandbox | default (NULL column)
    state       TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (environment, state)
);
CREATE TABLE registration_count_deltas (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    state       TEXT NOT NULL,
    n           BIGINT NOT NULL
);
INSERT INTO registration_counts (environment, state, n)
    SELECT COALESCE(environment, 'default'), state, COUNT(*) FROM registrations
    GROUP BY COALESCE(environment, 'default'), state;

CREATE TRIGGER registrations_count_insert AFTER INSERT ON registrations BEGIN
    INSERT INTO registration_count_deltas (environment, state, n)
        VALUES (COALESCE(NEW.environment, 'default'), NEW.state, 1);
END;
CREATE TRIGGER registrations_count_delete AFTER DELETE ON registrations BEGIN
    INSERT INTO registration_count_deltas (environment, state, n)
        VALUES (COALESCE(OLD.environment, 'default'), OLD.state, -1);
END;
CREATE TRIGGER registrations_count_update AFTER UPDATE OF environment, state ON registrations
WHEN OLD.environment IS NOT NEW.environment OR OLD.state IS NOT NEW.state BEGIN
    INSERT INTO registration_count_deltas (environment, state, n)
        VALUES (COALESCE(OLD.environment, 'default'), OLD.state, -1),
               (COALESCE(NEW.environment, 'default'), NEW.state, 1);
END;
