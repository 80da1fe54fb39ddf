//! Tests of the FCM provider library, and what they share: a throwaway RSA service account
//! and a counting fake [`TokenExchange`].

mod end_to_end;
mod message;
mod oauth;
mod outcome_table;
mod shared_redis;
mod tls_server;
mod token_cache;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use url::Url;

use super::{AccessToken, AccessTokenFuture, ServiceAccount, TokenError, TokenExchange};
use crate::credentials::devcerts::{self, KeyKind};

/// A fixed start for manual clocks.
pub fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// One RSA 2048 key for the whole test binary (generation is slow): PKCS#8 PEM and the
/// public key PEM.
pub fn rsa_key() -> &'static (SecretString, Vec<u8>) {
    static KEY: OnceLock<(SecretString, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = devcerts::generate_key(KeyKind::Rsa2048).expect("rsa key");
        let pem = devcerts::pkcs8_pem(&key).expect("pkcs8");
        (pem, key.public_key_to_pem().expect("public pem"))
    })
}

/// A service account with [`rsa_key`] whose tokens come from `token_uri`.
pub fn account(token_uri: &str) -> ServiceAccount {
    ServiceAccount {
        project_id: "demo-project".into(),
        client_email: "pushgate@demo-project.iam.gserviceaccount.com".into(),
        private_key_id: "0123456789abcdef0123456789abcdef01234567".into(),
        private_key: rsa_key().0.clone(),
        token_uri: Url::parse(token_uri).expect("url"),
    }
}

/// A plausible registration token.
pub fn device_token() -> String {
    format!("dQw4w9WgXcQ:APA91b{}", "Hq3mZ0x_-".repeat(16))
}

/// A [`TokenExchange`] that counts calls, waits `delay`, and hands out `token-<n>` valid
/// for `lifetime` — or fails with the configured error.
#[derive(Debug)]
pub struct FakeExchange {
    pub calls: AtomicUsize,
    pub lifetime: Duration,
    pub delay: Duration,
    pub fail: Mutex<Option<TokenError>>,
    pub fingerprint: String,
    /// Prefix of the tokens handed out (tells replicas' tokens apart).
    pub name: String,
}

impl FakeExchange {
    pub fn new(lifetime: Duration, delay: Duration) -> Self {
        Self {
            calls: AtomicUsize::new(0),
            lifetime,
            delay,
            fail: Mutex::new(None),
            fingerprint: "f".repeat(64),
            name: "token".into(),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn fail_with(&self, error: Option<TokenError>) {
        *self.fail.lock().unwrap() = error;
    }
}

impl TokenExchange for FakeExchange {
    fn exchange(&self, now: SystemTime) -> AccessTokenFuture<'_> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(self.delay).await;
            if let Some(error) = self.fail.lock().unwrap().clone() {
                return Err(error);
            }
            let secret = SecretString::from(format!("{}-{n}", self.name));
            Ok(AccessToken::new(secret, now, now + self.lifetime))
        })
    }

    fn key_fingerprint(&self) -> &str {
        &self.fingerprint
    }
}
