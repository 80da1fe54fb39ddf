-- Registration counts for the gauges, kept without scanning `registrations`: every change of a
-- row's (environment, state) appends a delta; the metrics refresher folds the deltas into
-- `registration_counts` (see src/store/stats.rs). Appends never contend on a hot row, so
-- replicas registering devices concurrently don't queue behind one counter.
CREATE TABLE registration_counts (
    environment TEXT NOT NULL,             -- production | sandbox | default (NULL column)
    state       TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (environment, state)
);
CREATE TABLE registration_count_deltas (
    id          BIGSERIAL PRIMARY KEY,
    environment TEXT NOT NULL,
    state       TEXT NOT NULL,
    n           BIGINT NOT NULL
);
INSERT INTO registration_counts (environment, state, n)
    SELECT COALESCE(environment, 'default'), state, COUNT(*) FROM registrations
    GROUP BY COALESCE(environment, 'default'), state;

CREATE FUNCTION registrations_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO registration_count_deltas (environment, state, n)
            VALUES (COALESCE(OLD.environment, 'default'), OLD.state, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO registration_count_deltas (environment, state, n)
            VALUES (COALESCE(NEW.environment, 'default'), NEW.state, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER registrations_count_insert_delete AFTER INSERT OR DELETE ON registrations
    FOR EACH ROW EXECUTE FUNCTION registrations_count();
CREATE TRIGGER registrations_count_update AFTER UPDATE OF environment, state ON registrations
    FOR EACH ROW
    WHEN (OLD.environment IS DISTINCT FROM NEW.environment OR OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION registrations_count();
