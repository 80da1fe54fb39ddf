-- What a call placed through Twilio's Calls API (POST /2010-04-01/Accounts/{AccountSid}/Calls.json,
-- src/http/twilio/calls.rs) carried besides the invite itself: the TwiML source it named (Url,
-- Twiml or ApplicationSid; pushgate never fetches or runs TwiML, it keeps them for the backend)
-- and the StatusCallbackEvent list (space-separated). One row per such invite, deleted with it
-- by the retention pruner (src/store/retention.rs).
CREATE TABLE twilio_calls (
    invite_sid            TEXT PRIMARY KEY REFERENCES invites (sid),
    url                   TEXT,
    twiml                 TEXT,
    application_sid       TEXT,
    status_callback_event TEXT,
    date_created          BIGINT NOT NULL
);
