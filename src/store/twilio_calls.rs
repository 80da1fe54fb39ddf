//! What a call placed through Twilio's Calls API carried besides the invite (`twilio_calls`,
//! migration 0015): the TwiML source it named and the progress events it asked for. One row
//! per such invite, written once the invite is durable and deleted with it by the retention
//! pruner (`retention.rs`).

use super::{Store, StoreError, decode};
use crate::domain::{ApplicationSid, CallProgressEvent, InviteSid};

/// The Twilio-only fields of one call, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioCallRecord {
    pub invite_sid: InviteSid,
    /// `Url`: where Twilio would fetch the call's TwiML (http or https).
    pub url: Option<url::Url>,
    /// `Twiml`: the call's TwiML, inline.
    pub twiml: Option<String>,
    /// `ApplicationSid`: the TwiML application (`AP…`).
    pub application_sid: Option<ApplicationSid>,
    /// `StatusCallbackEvent`, in the order given, without repeats.
    pub status_callback_event: Vec<CallProgressEvent>,
    pub date_created: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    invite_sid: String,
    url: Option<String>,
    twiml: Option<String>,
    application_sid: Option<String>,
    status_callback_event: Option<String>,
    date_created: i64,
}

impl TryFrom<Row> for TwilioCallRecord {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        let url = r
            .url
            .map(|u| url::Url::parse(&u))
            .transpose()
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let status_callback_event = r
            .status_callback_event
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(decode)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            invite_sid: InviteSid::trusted(r.invite_sid),
            url,
            twiml: r.twiml,
            application_sid: r.application_sid.map(ApplicationSid::trusted),
            status_callback_event,
            date_created: r.date_created,
        })
    }
}

impl Store {
    /// Stores the Twilio fields of an invite already written.
    pub async fn save_twilio_call(&self, call: &TwilioCallRecord) -> Result<(), StoreError> {
        let events = (!call.status_callback_event.is_empty()).then(|| {
            call.status_callback_event
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        });
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO twilio_calls (invite_sid, url, twiml, application_sid, \
             status_callback_event, date_created) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(call.invite_sid.as_str())
        .bind(call.url.as_ref().map(url::Url::as_str))
        .bind(call.twiml.as_deref())
        .bind(call.application_sid.as_ref().map(|s| s.as_str()))
        .bind(events)
        .bind(call.date_created)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The Twilio fields of invite `sid`, if it was placed through the Calls API.
    pub async fn twilio_call(
        &self,
        sid: &InviteSid,
    ) -> Result<Option<TwilioCallRecord>, StoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT invite_sid, url, twiml, application_sid, status_callback_event, date_created \
             FROM twilio_calls WHERE invite_sid = $1",
        )
        .bind(sid.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TwilioCallRecord::try_from).transpose()
    }
}
