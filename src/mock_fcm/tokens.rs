//! Access tokens the token endpoint issued (`ya29.` + random), each bound to its service
//! account, project and scopes, with an expiry on the simulator's clock. Bounded: when full,
//! expired tokens are dropped first, then the oldest.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Most access tokens remembered at once.
const MAX_TOKENS: usize = 100_000;

/// What an access token stands for.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub client_email: String,
    pub project_id: String,
    pub scopes: Vec<String>,
    /// Epoch ms after which the token is refused.
    pub expires_at_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    by_token: HashMap<String, Issued>,
    order: VecDeque<String>,
}

/// The issued access tokens.
#[derive(Debug, Default)]
pub(crate) struct AccessTokens {
    inner: Mutex<Inner>,
}

impl AccessTokens {
    /// Issues a new token for `issued`.
    pub fn issue(&self, issued: Issued, now_ms: u64) -> String {
        let mut raw = [0u8; 48];
        if openssl::rand::rand_bytes(&mut raw).is_err() {
            // Practically unreachable; uniqueness still holds through the uuid.
            raw[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        let token = format!("ya29.{}", URL_SAFE_NO_PAD.encode(raw));
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.by_token.len() >= MAX_TOKENS {
            let Inner { by_token, order } = &mut *inner;
            by_token.retain(|_, t| t.expires_at_ms > now_ms);
            order.retain(|t| by_token.contains_key(t));
            while by_token.len() >= MAX_TOKENS {
                match order.pop_front() {
                    Some(oldest) => {
                        by_token.remove(&oldest);
                    }
                    None => break,
                }
            }
        }
        inner.order.push_back(token.clone());
        inner.by_token.insert(token.clone(), issued);
        token
    }

    /// The token's grant, if it was issued here (expired or not).
    pub fn lookup(&self, token: &str) -> Option<Issued> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.by_token.get(token).cloned()
    }

    /// Makes every unexpired token expire at `now_ms`; returns how many there were.
    pub fn expire_all(&self, now_ms: u64) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for t in inner.by_token.values_mut() {
            if t.expires_at_ms > now_ms {
                t.expires_at_ms = now_ms;
                n += 1;
            }
        }
        n
    }

    /// Forgets every token.
    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Inner::default();
    }
}
