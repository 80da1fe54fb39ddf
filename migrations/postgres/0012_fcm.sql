-- Android through FCM HTTP v1 (issue #15): 'fcm' joins the platform and credential-type sets,
-- and an FCM credential keeps its service account's public facts in clear (the RSA key only
-- sealed, like every private key).
ALTER TABLE credentials ADD COLUMN project_id TEXT;
ALTER TABLE credentials ADD COLUMN client_email TEXT;
ALTER TABLE credentials ADD COLUMN token_uri TEXT;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_platform_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_platform_check CHECK (platform IN ('apn', 'fcm'));
ALTER TABLE registrations DROP CONSTRAINT registrations_binding_type_check;
ALTER TABLE registrations ADD CONSTRAINT registrations_binding_type_check CHECK (binding_type IN
    ('apn', 'fcm'));
ALTER TABLE credentials DROP CONSTRAINT credentials_type_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_type_check CHECK (type IN
    ('apn', 'apn_token', 'fcm'));
