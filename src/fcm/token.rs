//! [`InMemoryAccessTokenSource`]: one access token per service account per process.
//!
//! The token is reused until [`AccessToken::needs_refresh_at`] (6 minutes before a one-hour
//! token expires). Refreshes are single-flight: the first caller to find the token due runs
//! the exchange while holding an async lock; callers that arrive meanwhile wait on that lock
//! and take its result — the new token, or the same error — instead of exchanging again. If
//! a refresh fails transiently while the old token is still valid, the old token keeps being
//! used (logged). Time comes from an injectable [`Clock`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::access_token::{
    AccessToken, AccessTokenFuture, AccessTokenSource, InvalidateFuture, TokenError, TokenExchange,
};

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// A token this close to expiry is not handed out even when its refresh failed.
const MIN_REMAINING_ON_FAILURE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Refresh {
    /// The error of the last refresh, shared with callers that waited for it.
    last_error: Option<TokenError>,
}

/// A per-process access-token cache in front of a [`TokenExchange`].
pub struct InMemoryAccessTokenSource {
    exchange: Arc<dyn TokenExchange>,
    clock: Arc<dyn Clock>,
    current: Mutex<Option<AccessToken>>,
    refresh: tokio::sync::Mutex<Refresh>,
    /// Completed refreshes; a caller that saw a lower number before waiting shares the result.
    generation: AtomicU64,
}

impl fmt::Debug for InMemoryAccessTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryAccessTokenSource")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl InMemoryAccessTokenSource {
    /// A cache over `exchange`, timed by `clock`.
    pub fn new(exchange: Arc<dyn TokenExchange>, clock: Arc<dyn Clock>) -> Self {
        Self {
            exchange,
            clock,
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(Refresh::default()),
            generation: AtomicU64::new(0),
        }
    }

    /// The exchange behind the cache.
    pub fn exchange(&self) -> &Arc<dyn TokenExchange> {
        &self.exchange
    }

    fn current(&self) -> Option<AccessToken> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn fresh(&self) -> Option<AccessToken> {
        let now = self.clock.now();
        self.current().filter(|t| !t.needs_refresh_at(now))
    }

    async fn token_now(&self) -> Result<AccessToken, TokenError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let seen = self.generation.load(Ordering::Acquire);
        let mut refresh = self.refresh.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        if self.generation.load(Ordering::Acquire) != seen
            && let Some(error) = &refresh.last_error
        {
            // Someone refreshed (and failed) while we waited: share that answer.
            return self.fallback(error.clone());
        }
        let now = self.clock.now();
        let result = self.exchange.exchange(now).await;
        self.generation.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(token) => {
                refresh.last_error = None;
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
                Ok(token)
            }
            Err(error) => {
                refresh.last_error = Some(error.clone());
                self.fallback(error)
            }
        }
    }

    /// After a failed refresh: the old token while it lasts if the failure is transient.
    fn fallback(&self, error: TokenError) -> Result<AccessToken, TokenError> {
        let now = self.clock.now();
        match self.current() {
            Some(old)
                if error.is_transient() && old.remaining_at(now) > MIN_REMAINING_ON_FAILURE =>
            {
                tracing::warn!(error = %error, remaining_s = old.remaining_at(now).as_secs(),
                    "FCM access token refresh failed; using the current token until it expires");
                Ok(old)
            }
            _ => Err(error),
        }
    }

    fn invalidate_now(&self, rejected: &AccessToken) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref() == Some(rejected) {
            tracing::info!("FCM refused the access token; it will be replaced");
            *current = None;
        }
    }
}

impl AccessTokenSource for InMemoryAccessTokenSource {
    fn token(&self) -> AccessTokenFuture<'_> {
        Box::pin(self.token_now())
    }

    fn invalidate<'a>(&'a self, rejected: &'a AccessToken) -> InvalidateFuture<'a> {
        self.invalidate_now(rejected);
        Box::pin(std::future::ready(()))
    }
}
