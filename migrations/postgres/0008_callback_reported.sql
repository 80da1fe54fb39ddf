-- Status callbacks survive a stopped replica: the final status whose callback was delivered
-- (or given up on) is recorded here. Final invites with a callback URL and nothing reported a
-- while after they ended had their callback lost with the process that owed it; a sweeper
-- sends their final status (src/calls/callbacks.rs).
ALTER TABLE invites ADD COLUMN callback_reported TEXT;
CREATE INDEX invites_callback_unreported ON invites (date_updated)
    WHERE status_callback IS NOT NULL AND callback_reported IS NULL;
