-- The call lifecycle: who answered, which key signs status callbacks, legacy cancel pushes.
ALTER TABLE invites ADD COLUMN api_key_sid TEXT;
ALTER TABLE invites ADD COLUMN answered_by TEXT;
ALTER TABLE invites ADD COLUMN cancel_push TEXT;
CREATE INDEX invites_open ON invites (expires_at) WHERE status IN ('queued', 'sending', 'delivered');
