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
