//! What "call alice" says, parsed once: every ingress (the API, the quickstart, the bench, the
//! Twilio shapes later) builds a [`NewInvite`], and [`super::Invites::place`] never sees raw
//! input.

use std::collections::BTreeMap;

use crate::domain::{CallSid, CancelPush, DomainError, Identity};

/// Seconds a call rings unless the invite says otherwise.
pub const DEFAULT_TTL: u32 = 30;
/// The longest ring an invite may ask for, in seconds.
pub const MAX_TTL: u32 = 300;

/// A call invite to place.
#[derive(Debug, Clone)]
pub struct NewInvite {
    /// Who is called.
    pub to: Identity,
    /// The caller as the phone shows it (`client:bob`, a number): 1–256 printable characters.
    pub from: String,
    /// Given by the backend (idempotency), else generated.
    pub call_sid: Option<CallSid>,
    /// Custom parameters, delivered as `twi_params`.
    pub params: BTreeMap<String, String>,
    /// Seconds the call may ring, 1–[`MAX_TTL`].
    pub ttl_secs: u32,
    /// Where state changes are posted (checked against the callback policy when placed).
    pub status_callback: Option<String>,
    pub cancel_push: CancelPush,
}

/// The raw fields of an invite request, as any ingress reads them.
#[derive(Debug, Clone, Default)]
pub struct InviteFields {
    pub to: String,
    pub from: String,
    pub call_sid: Option<String>,
    pub params: Option<BTreeMap<String, String>>,
    pub ttl: Option<u32>,
    pub status_callback: Option<String>,
    pub cancel_push: Option<String>,
}

/// Why the fields do not make an invite (a 400 with a stable code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInvite {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0}")]
    Field(&'static str),
}

impl TryFrom<InviteFields> for NewInvite {
    type Error = InvalidInvite;

    fn try_from(f: InviteFields) -> Result<Self, InvalidInvite> {
        // `client:` alone is the identity "client:", as the API description's pattern reads it.
        let to =
            f.to.strip_prefix("client:")
                .filter(|rest| !rest.is_empty())
                .unwrap_or(&f.to);
        let to = Identity::parse(to)?;
        let from_len = f.from.chars().count();
        if from_len == 0 || from_len > 256 || f.from.chars().any(char::is_control) {
            return Err(InvalidInvite::Field(
                "from must be 1-256 printable characters, e.g. client:bob",
            ));
        }
        let call_sid = f.call_sid.as_deref().map(CallSid::parse).transpose()?;
        let ttl_secs = f.ttl.unwrap_or(DEFAULT_TTL);
        if !(1..=MAX_TTL).contains(&ttl_secs) {
            return Err(InvalidInvite::Field(
                "ttl must be between 1 and 300 seconds",
            ));
        }
        let cancel_push = match f.cancel_push.as_deref() {
            None | Some("none") => CancelPush::None,
            Some("voip") => CancelPush::Voip,
            Some(_) => {
                return Err(InvalidInvite::Field(
                    "cancel_push must be \"voip\" or \"none\"",
                ));
            }
        };
        Ok(Self {
            to,
            from: f.from,
            call_sid,
            params: f.params.unwrap_or_default(),
            ttl_secs,
            status_callback: f.status_callback,
            cancel_push,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> InviteFields {
        InviteFields {
            to: "client:alice".into(),
            from: "client:bob".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_prefix() {
        let n = NewInvite::try_from(fields()).unwrap();
        assert_eq!(n.to.as_str(), "alice");
        assert_eq!(n.ttl_secs, DEFAULT_TTL);
        assert_eq!(n.cancel_push, CancelPush::None);
        let alone = NewInvite::try_from(InviteFields {
            to: "client:".into(),
            ..fields()
        })
        .unwrap();
        assert_eq!(alone.to.as_str(), "client:");
    }

    #[test]
    fn bad_fields_are_refused() {
        for f in [
            InviteFields {
                from: String::new(),
                ..fields()
            },
            InviteFields {
                from: "a\u{7}".into(),
                ..fields()
            },
            InviteFields {
                ttl: Some(0),
                ..fields()
            },
            InviteFields {
                ttl: Some(301),
                ..fields()
            },
            InviteFields {
                cancel_push: Some("VOIP".into()),
                ..fields()
            },
            InviteFields {
                call_sid: Some("CA12".into()),
                ..fields()
            },
        ] {
            assert!(NewInvite::try_from(f).is_err());
        }
    }
}
