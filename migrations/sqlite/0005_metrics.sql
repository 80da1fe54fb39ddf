-- Registrations by state and environment, counted for the gauges from this index alone.
CREATE INDEX registrations_state_env ON registrations (state, environment);
