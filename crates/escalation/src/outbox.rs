//! The outbox worker: delivers due notifications through their sinks,
//! retrying failures with exponential backoff until a maximum of attempts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::notify::{Delivery, Notifier, OutboxItem};
use switchboard_core::ports::{Store, StoreError};
use switchboard_core::time;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Delay before the second attempt; doubles after each failure.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// After this many failed attempts the row is marked `failed`.
    pub max_attempts: u32,
    /// One delivery may take at most this long.
    pub delivery_timeout: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(600),
            max_attempts: 10,
            delivery_timeout: Duration::from_secs(10),
        }
    }
}

impl OutboxConfig {
    /// Backoff before attempt `attempts + 1`, given `attempts` have failed.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        self.base_backoff.saturating_mul(1u32 << exp).min(self.max_backoff)
    }
}

/// Delivers notifications from the outbox table.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    sinks: Arc<HashMap<String, Arc<dyn Notifier>>>,
    config: OutboxConfig,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>, sinks: Vec<Arc<dyn Notifier>>, config: OutboxConfig) -> Self {
        let sinks = sinks.into_iter().map(|s| (s.target().to_string(), s)).collect();
        Self { store, sinks: Arc::new(sinks), config, wake: Arc::new(Notify::new()) }
    }

    /// The sinks a new notification without a live session is enqueued for
    /// now, sorted.
    pub fn targets(&self) -> Vec<String> {
        self.targets_for(None, true)
    }

    /// The sinks a new notification about `session_id` is enqueued for now,
    /// sorted: observers always; live sinks when one reaches the customer in
    /// that session, follow-up sinks (SMS) otherwise, so a caller still on the
    /// line hears the answer instead of also getting a text.
    /// `follow_up`: whether follow-up sinks (SMS, webhook) may be used at all
    /// (not for a contact nobody confirmed).
    pub fn targets_for(&self, session_id: Option<&str>, follow_up: bool) -> Vec<String> {
        let enabled = || self.sinks.values().filter(|s| s.enabled());
        let live: Vec<&Arc<dyn Notifier>> = match session_id {
            Some(sid) => enabled().filter(|s| s.delivery() == Delivery::Live && s.reaches(sid)).collect(),
            None => vec![],
        };
        let mut t: Vec<String> = enabled()
            .filter(|s| match s.delivery() {
                Delivery::Observer => true,
                Delivery::Live => live.iter().any(|l| l.target() == s.target()),
                Delivery::FollowUp => follow_up && live.is_empty(),
            })
            .map(|s| s.target().to_string())
            .collect();
        t.sort();
        t
    }

    /// Signal that new rows were enqueued.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// One pass: attempts every due row once. Returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let mut delivered = 0;
        loop {
            let due = self.store.due_outbox(time::now(), 64).await?;
            if due.is_empty() {
                return Ok(delivered);
            }
            for item in &due {
                if self.attempt(item).await? {
                    delivered += 1;
                }
            }
            if due.len() < 64 {
                return Ok(delivered);
            }
        }
    }

    async fn attempt(&self, item: &OutboxItem) -> Result<bool, StoreError> {
        let attempts = item.attempts + 1;
        let result = match self.sinks.get(&item.target) {
            Some(sink) => match tokio::time::timeout(self.config.delivery_timeout, sink.deliver(&item.payload)).await {
                Ok(r) => r.map_err(|e| e.0),
                Err(_) => Err(format!("delivery timed out after {:?}", self.config.delivery_timeout)),
            },
            None => Err(format!("no sink named '{}' is configured", item.target)),
        };
        let now = time::now();
        match result {
            Ok(()) => {
                self.store.outbox_sent(item.id, attempts, now).await?;
                tracing::info!(id = %item.id, target = %item.target, attempts, "notification delivered");
                Ok(true)
            }
            Err(error) => {
                let next =
                    (attempts < self.config.max_attempts).then(|| crate::later(now, self.config.backoff(attempts)));
                tracing::warn!(id = %item.id, target = %item.target, attempts, %error, gave_up = next.is_none(), "notification delivery failed");
                self.store.outbox_failed_attempt(item.id, attempts, &error, next, now).await?;
                Ok(false)
            }
        }
    }

    /// Runs until cancelled: delivers what is due, then sleeps until the next
    /// retry is due or new rows are signalled.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            let failed = match self.deliver_due().await {
                Ok(_) => false,
                Err(e) => {
                    tracing::error!(error = %e, "outbox pass failed");
                    true
                }
            };
            let wait = crate::next_wait(self.store.next_outbox_attempt().await, failed);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = OutboxConfig {
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
            ..Default::default()
        };
        let got: Vec<u64> = (1..=5).map(|a| c.backoff(a).as_secs()).collect();
        assert_eq!(got, vec![2, 4, 8, 10, 10]);
        assert_eq!(c.backoff(u32::MAX).as_secs(), 10);
    }
}
