//! `switchboard-escalation` owns the human-in-the-loop: opening help requests,
//! supervisors' responses, deadlines and their sweeper, what a resolution
//! teaches the knowledge base, and the outbox that tells the customer.
//!
//! Invariants:
//! - Status moves only `pending -> resolved | unresolved`; every other move is
//!   a conflict that changes nothing. Concurrent answers: exactly one wins.
//! - A resolution, its learned knowledge entry and its customer notifications
//!   commit together or not at all; the entry is indexed before `respond`
//!   returns.
//! - Every resolution and every timeout enqueues a customer notification per
//!   sink; the outbox delivers each at least once, retrying with backoff,
//!   across restarts.
//! - Deadlines live in the database, so a restart loses none.

mod messages;
mod outbox;
mod service;
mod sinks;

pub use outbox::{Outbox, OutboxConfig};
pub use service::{Escalation, EscalationConfig, EscalationError};
pub use sinks::{EventStreamNotifier, WebhookNotifier};

use std::time::Duration;

use switchboard_core::ports::StoreError;
use switchboard_core::time::{self, Timestamp};

/// `at + d`, saturating instead of overflowing on absurd durations.
pub(crate) fn later(at: Timestamp, d: Duration) -> Timestamp {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// How long a background loop sleeps: until `next` is due, at most a minute,
/// and at least a second after a failed pass so a persistent error (a bad
/// row, a locked disk) cannot spin the loop.
pub(crate) fn next_wait(next: Result<Option<Timestamp>, StoreError>, failed: bool) -> Duration {
    let wait = match next {
        Ok(Some(t)) => (t - time::now()).to_std().unwrap_or(Duration::ZERO),
        Ok(None) => Duration::from_secs(60),
        Err(_) => Duration::from_secs(1),
    }
    .min(Duration::from_secs(60));
    if failed { wait.max(Duration::from_secs(1)) } else { wait }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_saturates() {
        let now = time::now();
        assert_eq!(later(now, Duration::MAX), chrono::DateTime::<chrono::Utc>::MAX_UTC);
        assert_eq!(later(now, Duration::from_millis(1500)) - now, chrono::TimeDelta::milliseconds(1500));
    }

    #[test]
    fn failed_passes_wait_at_least_a_second() {
        let overdue = Ok(Some(time::now() - chrono::TimeDelta::seconds(5)));
        assert_eq!(next_wait(overdue, false), Duration::ZERO);
        let overdue = Ok(Some(time::now() - chrono::TimeDelta::seconds(5)));
        assert_eq!(next_wait(overdue, true), Duration::from_secs(1));
        assert_eq!(next_wait(Ok(None), false), Duration::from_secs(60));
    }
}
