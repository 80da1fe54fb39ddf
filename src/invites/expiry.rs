//! Expiry: one sweeper per gateway ends the open invites whose time is up, in batches of one
//! set-based UPDATE each (on SQLite through the writer thread with the other hot writes),
//! then announces them. No task or timer per invite: what it holds does not grow with the
//! number of calls ringing, a restart resumes with nothing to re-arm, and with several
//! replicas every replica sweeps (PostgreSQL skips the rows another replica is ending), so
//! a replica that dies takes no expiry with it.

use std::sync::Arc;
use std::time::Duration;

use super::Invites;
use crate::clock::now_ms;
use crate::domain::CallEnd;

/// How often the sweeper looks for due invites: the most an invite outlives its expiry on
/// a gateway keeping up.
pub const EXPIRY_EVERY: Duration = Duration::from_millis(100);
/// Invites ended per statement; the sweeper goes on at once while batches come back full.
const EXPIRY_BATCH: usize = 1000;

impl Invites {
    /// Starts the sweeper (tracked; returns when shutdown begins or the service is dropped).
    pub fn spawn_expiry(self: &Arc<Self>) {
        let invites = Arc::downgrade(self);
        let stop = self.engine.tasks().stopping();
        self.engine.tasks().spawn(async move {
            let mut tick = tokio::time::interval(EXPIRY_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(invites) = invites.upgrade() else {
                    return;
                };
                match invites.expire_due(now_ms()).await {
                    Ok(_) => failing = false,
                    // Said once per outage, not ten times a second.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "expiring due invites failed; retrying");
                    }
                    Err(_) => {}
                }
            }
        });
    }

    /// Ends every open invite due by `now` as expired and announces each; returns how many.
    pub async fn expire_due(&self, now: i64) -> Result<usize, crate::store::StoreError> {
        let mut total = 0;
        loop {
            let ended = self.store.expire_due(now, EXPIRY_BATCH).await?;
            for invite in &ended {
                self.announce_end(invite, CallEnd::Expired);
            }
            total += ended.len();
            if ended.len() < EXPIRY_BATCH {
                return Ok(total);
            }
        }
    }
}
