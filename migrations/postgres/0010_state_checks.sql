-- Every status column accepts only the values its domain type has (src/domain/states.rs), and
-- a delivery names its push platform. Every value earlier versions wrote is in these sets.
ALTER TABLE invites ADD CONSTRAINT invites_status_check CHECK (status IN
    ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed'));
ALTER TABLE invites ADD CONSTRAINT invites_cancel_push_check CHECK (cancel_push IN ('voip'));
ALTER TABLE invites ADD CONSTRAINT invites_callback_reported_check CHECK (callback_reported IN
    ('queued', 'sending', 'delivered', 'answered', 'rejected', 'canceled', 'expired', 'failed'));
ALTER TABLE deliveries ADD COLUMN platform TEXT NOT NULL DEFAULT 'apn';
ALTER TABLE deliveries ADD CONSTRAINT deliveries_platform_check CHECK (platform IN ('apn'));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check CHECK (status IN
    ('queued', 'retrying', 'accepted', 'failed', 'expired'));
ALTER TABLE deliveries ADD CONSTRAINT deliveries_environment_check CHECK (environment IN
    ('production', 'sandbox'));
ALTER TABLE registrations ADD CONSTRAINT registrations_state_check CHECK (state IN
    ('active', 'invalid'));
ALTER TABLE registrations ADD CONSTRAINT registrations_environment_check CHECK (environment IN
    ('production', 'sandbox'));
ALTER TABLE registrations ADD CONSTRAINT registrations_binding_type_check CHECK (binding_type IN
    ('apn'));
ALTER TABLE credentials ADD CONSTRAINT credentials_type_check CHECK (type IN
    ('apn', 'apn_token'));
