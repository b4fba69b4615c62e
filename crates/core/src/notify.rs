//! Customer notifications and the sink port they are delivered through.
//!
//! Notifications are written to an outbox in the same transaction as the
//! state change that causes them, then delivered at least once by a worker
//! with retries, so a crash or a failing gateway loses nothing.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

/// Why the customer is being contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A supervisor answered the customer's question.
    Answered,
    /// Nobody could answer (supervisor said so, or the deadline passed).
    Unresolved,
}

/// The message a sink delivers to a customer (e.g. as an SMS via a webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    /// The outbox id; stable across retries, usable as an idempotency key.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub kind: NotificationKind,
    #[schema(value_type = String, format = Uuid)]
    pub request_id: Uuid,
    pub customer_name: String,
    pub customer_contact: String,
    pub channel: String,
    pub session_id: Option<String>,
    pub question: String,
    pub answer: Option<String>,
    /// Ready-to-send text for the customer: the answer and nothing the
    /// caller typed (no name, no question), so it cannot carry a message
    /// of their making to a number of their choosing.
    pub message: String,
    /// The contact may receive a follow-up (it came from the channel, or a
    /// supervisor confirmed it).
    #[serde(default = "crate::notify::yes")]
    pub follow_up_allowed: bool,
}

pub(crate) fn yes() -> bool {
    true
}

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sent,
    /// Gave up after the maximum number of attempts.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(OutboxStatus::Pending),
            "sent" => Some(OutboxStatus::Sent),
            "failed" => Some(OutboxStatus::Failed),
            _ => None,
        }
    }
}

/// A row of the notification outbox.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutboxItem {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// Name of the sink that delivers it (`webhook`, `events`, `desktop`).
    pub target: String,
    pub payload: Notification,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A delivery failed; the outbox will retry with backoff.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// How a sink relates to the customer, which decides what it is enqueued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Sees every notification (the live event stream for supervisors).
    Observer,
    /// Reaches a customer who is still in their session; gets a notification
    /// only when [`Notifier::reaches`] says the customer is there.
    Live,
    /// Reaches the customer later (SMS, email); used when no live sink can.
    FollowUp,
}

/// A place notifications go. Implementations must be idempotent per
/// [`Notification::id`] where the far side allows it: delivery is at least once.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The outbox `target` this sink serves.
    fn target(&self) -> &str;
    /// Whether new notifications should be enqueued for this sink now (a
    /// webhook with no URL configured is not).
    fn enabled(&self) -> bool {
        true
    }
    fn delivery(&self) -> Delivery {
        Delivery::FollowUp
    }
    /// For live sinks: whether the customer of this session is on the line now.
    fn reaches(&self, _session_id: &str) -> bool {
        false
    }
    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError>;
}
