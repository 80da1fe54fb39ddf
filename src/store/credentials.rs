//! Push credentials (`CR…`): what each may push to, and its sealed private key.

use super::{Store, StoreError, decode};
use crate::domain::{AccountSid, CredentialSid, CredentialType, FcmAccount};

/// A credential as stored. The private key only sealed.
#[derive(Clone)]
pub struct CredentialRecord {
    pub sid: CredentialSid,
    pub account_sid: AccountSid,
    /// `apn` (certificate) or `apn_token` (.p8 signing key).
    pub kind: CredentialType,
    pub friendly_name: String,
    pub sandbox: bool,
    pub bundle_id: String,
    pub voip_topic: String,
    pub topics: Vec<String>,
    pub env_development: bool,
    pub env_production: bool,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub fingerprint: String,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    pub warnings: Vec<String>,
    pub cert_chain_pem: Option<String>,
    pub secret_sealed: Vec<u8>,
    pub rejected_reason: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
    /// FCM credentials: project, service account and token endpoint.
    pub fcm: Option<FcmAccount>,
}

impl std::fmt::Debug for CredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRecord")
            .field("sid", &self.sid)
            .field("kind", &self.kind)
            .field("bundle_id", &self.bundle_id)
            .field("sandbox", &self.sandbox)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    sid: String,
    account_sid: String,
    r#type: String,
    friendly_name: String,
    sandbox: i64,
    bundle_id: String,
    voip_topic: String,
    topics: String,
    env_development: i64,
    env_production: i64,
    not_before: Option<i64>,
    not_after: Option<i64>,
    fingerprint: String,
    key_id: Option<String>,
    team_id: Option<String>,
    warnings: String,
    cert_chain_pem: Option<String>,
    secret_sealed: Vec<u8>,
    rejected_reason: Option<String>,
    date_created: i64,
    date_updated: i64,
    project_id: Option<String>,
    client_email: Option<String>,
    token_uri: Option<String>,
}

impl TryFrom<Row> for CredentialRecord {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Self {
            sid: CredentialSid::trusted(r.sid),
            account_sid: AccountSid::trusted(r.account_sid),
            kind: decode(&r.r#type)?,
            friendly_name: r.friendly_name,
            sandbox: r.sandbox != 0,
            bundle_id: r.bundle_id,
            voip_topic: r.voip_topic,
            topics: serde_json::from_str(&r.topics).unwrap_or_default(),
            env_development: r.env_development != 0,
            env_production: r.env_production != 0,
            not_before: r.not_before,
            not_after: r.not_after,
            fingerprint: r.fingerprint,
            key_id: r.key_id,
            team_id: r.team_id,
            warnings: serde_json::from_str(&r.warnings).unwrap_or_default(),
            cert_chain_pem: r.cert_chain_pem,
            secret_sealed: r.secret_sealed,
            rejected_reason: r.rejected_reason,
            date_created: r.date_created,
            date_updated: r.date_updated,
            fcm: match (r.project_id, r.client_email, r.token_uri) {
                (Some(project_id), Some(client_email), Some(token_uri)) => Some(FcmAccount {
                    project_id,
                    client_email,
                    token_uri,
                }),
                _ => None,
            },
        })
    }
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT sid, account_sid, type, friendly_name, sandbox, bundle_id, voip_topic, topics, \
             env_development, env_production, not_before, not_after, fingerprint, key_id, \
             team_id, warnings, cert_chain_pem, secret_sealed, rejected_reason, date_created, \
             date_updated, project_id, client_email, token_uri FROM credentials ",
            $tail
        )
    };
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Stores a new credential, or replaces every field of an existing one (rotation keeps
    /// its SID, creation date and registrations; a rotation clears an APNs rejection).
    pub async fn save_credential(&self, c: &CredentialRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO credentials (sid, account_sid, type, friendly_name, sandbox, bundle_id, \
             voip_topic, topics, env_development, env_production, not_before, not_after, \
             fingerprint, key_id, team_id, warnings, cert_chain_pem, secret_sealed, \
             rejected_reason, date_created, date_updated, project_id, client_email, token_uri) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24) \
             ON CONFLICT (sid) DO UPDATE SET type = excluded.type, \
             friendly_name = excluded.friendly_name, sandbox = excluded.sandbox, \
             bundle_id = excluded.bundle_id, voip_topic = excluded.voip_topic, \
             topics = excluded.topics, env_development = excluded.env_development, \
             env_production = excluded.env_production, not_before = excluded.not_before, \
             not_after = excluded.not_after, fingerprint = excluded.fingerprint, \
             key_id = excluded.key_id, team_id = excluded.team_id, warnings = excluded.warnings, \
             cert_chain_pem = excluded.cert_chain_pem, secret_sealed = excluded.secret_sealed, \
             rejected_reason = excluded.rejected_reason, date_updated = excluded.date_updated, \
             project_id = excluded.project_id, client_email = excluded.client_email, \
             token_uri = excluded.token_uri",
        )
        .bind(c.sid.as_str())
        .bind(c.account_sid.as_str())
        .bind(c.kind.as_str())
        .bind(&c.friendly_name)
        .bind(i64::from(c.sandbox))
        .bind(&c.bundle_id)
        .bind(&c.voip_topic)
        .bind(json(&c.topics))
        .bind(i64::from(c.env_development))
        .bind(i64::from(c.env_production))
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(&c.fingerprint)
        .bind(c.key_id.clone())
        .bind(c.team_id.clone())
        .bind(json(&c.warnings))
        .bind(c.cert_chain_pem.clone())
        .bind(&c.secret_sealed)
        .bind(c.rejected_reason.clone())
        .bind(c.date_created)
        .bind(c.date_updated)
        .bind(c.fcm.as_ref().map(|f| f.project_id.clone()))
        .bind(c.fcm.as_ref().map(|f| f.client_email.clone()))
        .bind(c.fcm.as_ref().map(|f| f.token_uri.clone()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One credential of `account`.
    pub async fn credential(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let row: Option<Row> = sqlx::query_as(select!("WHERE sid = $1 AND account_sid = $2"))
            .bind(sid.as_str())
            .bind(account.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(CredentialRecord::try_from).transpose()
    }

    /// The type of `account`'s credential `sid`, if it has one (a cheap check for
    /// registrations).
    pub async fn credential_type(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
    ) -> Result<Option<CredentialType>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT type FROM credentials WHERE sid = $1 AND account_sid = $2")
                .bind(sid.as_str())
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(t,)| decode(&t)).transpose()
    }

    /// The account's credentials, oldest first.
    pub async fn credentials(
        &self,
        account: &AccountSid,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        let rows: Vec<Row> =
            sqlx::query_as(select!("WHERE account_sid = $1 ORDER BY date_created, sid"))
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(CredentialRecord::try_from).collect()
    }

    /// Every credential of every account (a small table; for metrics).
    pub async fn all_credentials(&self) -> Result<Vec<CredentialRecord>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(select!("ORDER BY sid"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(CredentialRecord::try_from).collect()
    }

    /// Deletes a credential and, as Twilio does, its registrations, in one transaction.
    /// Returns how many registrations went, or `None` if there was no such credential.
    pub async fn delete_credential(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM credentials WHERE sid = $1 AND account_sid = $2")
            .bind(sid.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(None);
        }
        let registrations =
            sqlx::query("DELETE FROM registrations WHERE credential_sid = $1 AND account_sid = $2")
                .bind(sid.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(Some(registrations))
    }
}
