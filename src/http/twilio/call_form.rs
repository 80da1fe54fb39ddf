//! Twilio's Calls API form, parsed once: `POST …/Calls.json` becomes a [`NewInvite`] plus the
//! Twilio-only fields kept beside it (`CallRequest`); the documentation types describe the
//! forms in the API description. Names are Twilio's; unknown parameters are ignored, as
//! Twilio does.

use crate::twilio::calls::CallRequest;
use axum::http::StatusCode;
use utoipa::ToSchema;

use super::super::error::code;
use super::ApiError;
use super::form::TwilioForm;
use crate::domain::{ApplicationSid, CallProgressEvent};
use crate::invites::{InviteError, InviteFields, MAX_TTL, NewInvite};

/// Twilio's default ring time when `Timeout` is absent, in seconds.
pub const DEFAULT_TIMEOUT: u32 = 60;
/// The shortest ring a `Timeout` gets (Twilio's minimum).
pub const MIN_TIMEOUT: u32 = 5;
/// The largest `Timeout` Twilio accepts; above [`MAX_TTL`] it rings [`MAX_TTL`].
pub const MAX_TIMEOUT: u32 = 600;
/// Longest `Url`, in bytes.
pub const MAX_URL: usize = 2048;
/// Longest `Twiml`, in characters.
pub const MAX_TWIML: usize = 4000;

/// Form of `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` (documentation; the handler
/// reads the form by name). Other Twilio parameters are accepted and ignored.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
pub struct CreateCallForm {
    /// `client:<identity>`: the identity whose registered phones ring (1–256 characters
    /// without control characters). Phone numbers and SIP addresses are refused (21610).
    #[schema(pattern = r"^client:[^\u0000-\u001f\u007f-\u009f]{1,256}$")]
    to: String,
    /// The caller as the phones show it: `client:bob` or a number.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]{1,256}$")]
    from: String,
    /// Where Twilio would fetch the call's TwiML: stored, never fetched.
    // Its pattern, URL_PATTERN, is set by openapi.rs (utoipa takes only literals here).
    #[schema(max_length = 2048, nullable = false)]
    url: Option<String>,
    /// The call's TwiML, inline: stored, never run (at most 4000 characters).
    #[schema(max_length = 4000, pattern = r"^[^\u0000]*$", nullable = false)]
    twiml: Option<String>,
    /// A TwiML application (`AP…`): stored.
    #[schema(pattern = "^AP[0-9a-f]{32}$", nullable = false)]
    application_sid: Option<String>,
    /// Receives pushgate's signed JSON status callbacks (its own format, not Twilio's form
    /// posts); the same rules as the invite's `status_callback`.
    #[schema(max_length = 2048, nullable = false)]
    status_callback: Option<String>,
    /// Progress events asked for (repeat the parameter for several): stored.
    #[schema(inline, nullable = false)]
    status_callback_event: Option<Vec<ProgressEvent>>,
    /// Seconds to ring: Twilio's 0–600; pushgate rings at least 5 and at most 300 (default
    /// 60, as Twilio).
    #[schema(minimum = 0, maximum = 600, nullable = false)]
    timeout: Option<u32>,
}

/// Values of `StatusCallbackEvent` (documentation only).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ProgressEvent {
    Initiated,
    Ringing,
    Answered,
    Completed,
}

/// Form of `POST …/Calls/{Sid}.json` (documentation). Only hanging up is served: redirecting
/// a call to new TwiML (`Url`, `Twiml` without `Status`) needs the media leg pushgate lacks.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
pub struct UpdateCallForm {
    /// `canceled` or `completed`: either ends a call that is still queued or ringing; a call
    /// already ended (answered included) is returned unchanged.
    #[schema(pattern = "^(canceled|completed)$")]
    status: String,
}

/// A 400 with `code`.
pub fn bad(code: u32, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Parses the Calls API form (`To`, `From`, `Url`, `Twiml`, `ApplicationSid`, `StatusCallback`,
/// `StatusCallbackEvent`, `Timeout`) into a [`CallRequest`], or the 400 of its first bad field.
pub fn parse_create(form: &TwilioForm) -> Result<CallRequest, ApiError> {
    let to = form.one("To").ok_or_else(|| {
        bad(
            code::TWILIO_MISSING_PARAMETER,
            "To is required: client:<identity>",
        )
    })?;
    if to.strip_prefix("client:").is_none_or(str::is_empty) {
        return Err(bad(
            code::TWILIO_TO_NOT_CLIENT,
            "only client: targets are served: To must be client:<identity> (pushgate rings \
             the app's registered phones; it places no phone or SIP calls)",
        ));
    }
    let from = form
        .one("From")
        .ok_or_else(|| bad(code::TWILIO_MISSING_PARAMETER, "From is required"))?;
    let url = form.one("Url").map(parse_url).transpose()?;
    let twiml = form
        .one("Twiml")
        .map(|t| {
            if t.chars().count() > MAX_TWIML || t.contains('\0') {
                Err(bad(
                    code::TWILIO_TWIML_TOO_LONG,
                    "Twiml must be text of at most 4000 characters",
                ))
            } else {
                Ok(t.to_owned())
            }
        })
        .transpose()?;
    let application_sid = form
        .one("ApplicationSid")
        .map(|s| {
            ApplicationSid::parse(s)
                .map_err(|e| bad(code::TWILIO_INVALID_APPLICATION_SID, e.to_string()))
        })
        .transpose()?;
    let mut events = Vec::new();
    for raw in form.all("StatusCallbackEvent") {
        let event: CallProgressEvent = raw.parse().map_err(|_| {
            bad(
                code::TWILIO_INVALID_STATUS_CALLBACK_EVENT,
                format!(
                    "StatusCallbackEvent {raw:?} is not one of initiated, ringing, answered, \
                     completed"
                ),
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    let ttl = match form.one("Timeout") {
        None => DEFAULT_TIMEOUT,
        Some(raw) => ring_secs(raw)?,
    };
    let fields = InviteFields {
        to: to.to_owned(),
        from: from.to_owned(),
        ttl: Some(ttl),
        status_callback: form.one("StatusCallback").map(str::to_owned),
        ..InviteFields::default()
    };
    Ok(CallRequest {
        invite: NewInvite::try_from(fields).map_err(InviteError::from)?,
        url,
        twiml,
        application_sid,
        events,
    })
}

/// `Timeout` (0–600, Twilio's range) as pushgate's ring time: at least [`MIN_TIMEOUT`], at
/// most [`MAX_TTL`].
fn ring_secs(raw: &str) -> Result<u32, ApiError> {
    match raw.parse::<u32>() {
        Ok(secs) if secs <= MAX_TIMEOUT && !raw.starts_with('+') => {
            Ok(secs.clamp(MIN_TIMEOUT, MAX_TTL))
        }
        _ => Err(bad(
            code::TWILIO_INVALID_TIMEOUT,
            "Timeout must be a whole number of seconds from 0 to 600",
        )),
    }
}

/// What a `Url` may be, checked as written here and published as the form's pattern: http(s),
/// a host name (its last label starting with a letter) or an IPv4 address, an optional port,
/// then printable ASCII. IPv6 literals are not taken.
pub const URL_PATTERN: &str = concat!(
    "^[Hh][Tt][Tt][Pp][Ss]?://(",
    "((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|([A-Za-z0-9-]+\\.)*[A-Za-z][A-Za-z0-9-]*",
    ")(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    "([/?#][!-~]*)?$"
);

fn parse_url(raw: &str) -> Result<url::Url, ApiError> {
    static PATTERN: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(URL_PATTERN).expect("URL_PATTERN compiles"));
    let invalid = || {
        bad(
            code::TWILIO_INVALID_URL,
            "Url must be an absolute http or https URL (a host name or IPv4 address) of at most \
             2048 bytes",
        )
    };
    if raw.len() > MAX_URL || !PATTERN.is_match(raw) {
        return Err(invalid());
    }
    url::Url::parse(raw).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(extra: &[(&str, &str)]) -> TwilioForm {
        let mut pairs = vec![("To", "client:alice"), ("From", "client:quick_start")];
        pairs.extend_from_slice(extra);
        TwilioForm::from_pairs(&pairs)
    }

    fn code_of(r: Result<CallRequest, ApiError>) -> u32 {
        r.err().expect("refused").code
    }

    #[test]
    fn a_client_call_becomes_an_invite() {
        let r = parse_create(&form(&[
            ("Url", "https://backend.example.com/twiml"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "ringing"),
            ("MachineDetection", "Enable"),
        ]))
        .unwrap();
        assert_eq!(r.invite.to.as_str(), "alice");
        assert_eq!(r.invite.from, "client:quick_start");
        assert_eq!(r.invite.ttl_secs, DEFAULT_TIMEOUT);
        assert_eq!(r.url.unwrap().host_str(), Some("backend.example.com"));
        assert_eq!(
            r.events,
            [CallProgressEvent::Ringing, CallProgressEvent::Answered]
        );
    }

    #[test]
    fn timeout_is_clamped_to_what_pushgate_rings() {
        for (raw, secs) in [("0", 5), ("4", 5), ("30", 30), ("300", 300), ("600", 300)] {
            assert_eq!(ring_secs(raw).unwrap(), secs, "{raw}");
        }
        for raw in ["601", "-1", "1.5", "", "+5", "ten"] {
            assert_eq!(
                ring_secs(raw).unwrap_err().code,
                code::TWILIO_INVALID_TIMEOUT
            );
        }
    }

    #[test]
    fn bad_parameters_have_their_codes() {
        for to in ["+15551234567", "sip:alice@example.com", "client:", "alice"] {
            let f = TwilioForm::from_pairs(&[("To", to), ("From", "x")]);
            assert_eq!(
                code_of(parse_create(&f)),
                code::TWILIO_TO_NOT_CLIENT,
                "{to}"
            );
        }
        let missing = TwilioForm::from_pairs(&[("To", "client:alice")]);
        assert_eq!(
            code_of(parse_create(&missing)),
            code::TWILIO_MISSING_PARAMETER
        );
        let long_url = format!("https://e.com/{}", "a".repeat(2048));
        for url in [
            "ftp://e.com/x",
            "/relative",
            "",
            "https://",
            "http://[::1]/",
            "http://a b/",
            "http://e.com/a b",
            "http://1.2.3.999/",
            "http://e.com:65536/",
            long_url.as_str(),
        ] {
            let r = parse_create(&form(&[("Url", url)]));
            assert_eq!(code_of(r), code::TWILIO_INVALID_URL, "{url}");
        }
        let twiml = "x".repeat(4001);
        let r = parse_create(&form(&[("Twiml", &twiml)]));
        assert_eq!(code_of(r), code::TWILIO_TWIML_TOO_LONG);
        let r = parse_create(&form(&[("ApplicationSid", "AP12")]));
        assert_eq!(code_of(r), code::TWILIO_INVALID_APPLICATION_SID);
        let r = parse_create(&form(&[("StatusCallbackEvent", "ringing answered")]));
        assert_eq!(code_of(r), code::TWILIO_INVALID_STATUS_CALLBACK_EVENT);
        assert!(parse_create(&form(&[("Twiml", &"x".repeat(4000))])).is_ok());
        for url in [
            "HTTP://127.0.0.1:8080/twiml?x=1#y",
            "https://backend.example.com",
            "http://localhost/",
        ] {
            assert!(parse_create(&form(&[("Url", url)])).is_ok(), "{url}");
        }
    }
}
