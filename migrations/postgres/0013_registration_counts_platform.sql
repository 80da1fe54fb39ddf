-- The registration gauges by platform too (issue #15): the counts and their deltas gain a
-- `platform` column (the registration's binding_type), and the trigger records it. The counts
-- are rebuilt from `registrations` once, here (the one scan; the refresher never scans), under
-- a lock that holds registration writes back meanwhile.
LOCK TABLE registrations IN SHARE ROW EXCLUSIVE MODE;
DROP TRIGGER registrations_count_insert_delete ON registrations;
DROP TRIGGER registrations_count_update ON registrations;
DROP FUNCTION registrations_count();
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
    id          BIGSERIAL PRIMARY KEY,
    platform    TEXT NOT NULL,
    environment TEXT NOT NULL,
    state       TEXT NOT NULL,
    n           BIGINT NOT NULL
);
INSERT INTO registration_counts (platform, environment, state, n)
    SELECT binding_type, COALESCE(environment, 'default'), state, COUNT(*) FROM registrations
    GROUP BY binding_type, COALESCE(environment, 'default'), state;

CREATE FUNCTION registrations_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO registration_count_deltas (platform, environment, state, n)
            VALUES (OLD.binding_type, COALESCE(OLD.environment, 'default'), OLD.state, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO registration_count_deltas (platform, environment, state, n)
            VALUES (NEW.binding_type, COALESCE(NEW.environment, 'default'), NEW.state, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER registrations_count_insert_delete AFTER INSERT OR DELETE ON registrations
    FOR EACH ROW EXECUTE FUNCTION registrations_count();
CREATE TRIGGER registrations_count_update AFTER UPDATE OF binding_type, environment, state
    ON registrations FOR EACH ROW
    WHEN (OLD.binding_type IS DISTINCT FROM NEW.binding_type
          OR OLD.environment IS DISTINCT FROM NEW.environment
          OR OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION registrations_count();
