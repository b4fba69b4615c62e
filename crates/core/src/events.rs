//! The one event bus. Every domain state change is published here after it
//! is committed; the HTTP event stream, the desktop shell and tests subscribe.

use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::crawl::Job;
use crate::help::HelpRequest;
use crate::knowledge::KnowledgeEntry;
use crate::notify::Notification;
use crate::session::{Session, Turn};
use crate::time::now;

/// What happened.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type")]
pub enum EventKind {
    #[serde(rename = "help_request.created")]
    HelpRequestCreated { request: HelpRequest },
    /// Another caller joined a pending request.
    #[serde(rename = "help_request.joined")]
    HelpRequestJoined { request: HelpRequest },
    #[serde(rename = "help_request.resolved")]
    HelpRequestResolved { request: HelpRequest },
    #[serde(rename = "help_request.unresolved")]
    HelpRequestUnresolved { request: HelpRequest },
    #[serde(rename = "knowledge.updated")]
    KnowledgeUpdated { entry: KnowledgeEntry },
    #[serde(rename = "knowledge.deleted")]
    KnowledgeDeleted {
        #[schema(value_type = String, format = Uuid)]
        id: Uuid,
    },
    /// A customer notification delivered through the live event stream sink.
    #[serde(rename = "customer.notified")]
    CustomerNotified { notification: Notification },
    /// An interview room's transcript filled an evaluation window.
    #[serde(rename = "interview.window")]
    InterviewWindow { room: String, window: switchboard_interview::EvaluationWindow },
    #[serde(rename = "session.started")]
    SessionStarted { session: Session },
    /// A turn was stored (the caller's words, a tool call, the agent's reply).
    #[serde(rename = "session.turn")]
    SessionTurn { turn: Turn },
    #[serde(rename = "session.ended")]
    SessionEnded { session: Session },
    /// A crawl job's counters or state changed (throttled while it runs).
    #[serde(rename = "crawl.progress")]
    CrawlProgress { job: Job },
    /// A crawl job reached `done`, `failed`, `cancelled` or `interrupted`.
    #[serde(rename = "crawl.finished")]
    CrawlFinished { job: Job },
}

/// An event with its position on the bus.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    /// Strictly increasing; equal to the order subscribers receive events in.
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A broadcast bus with gap-free, ordered sequence numbers.
#[derive(Clone)]
pub struct EventBus {
    inner: std::sync::Arc<BusInner>,
}

struct BusInner {
    // The lock makes "assign seq" and "send" one step, so seq order is
    // delivery order even with concurrent publishers.
    seq: Mutex<u64>,
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self { inner: std::sync::Arc::new(BusInner { seq: Mutex::new(0), tx }) }
    }

    pub fn publish(&self, kind: EventKind) -> u64 {
        let mut seq = self.inner.seq.lock().unwrap_or_else(|p| p.into_inner());
        *seq += 1;
        // No subscribers is fine: events are a live view, not a log.
        let _ = self.inner.tx.send(Event { seq: *seq, at: now(), kind });
        *seq
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_publishers_deliver_in_seq_order() {
        let bus = EventBus::new(10_000);
        let mut rx = bus.subscribe();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        bus.publish(EventKind::KnowledgeDeleted { id: Uuid::nil() });
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for expected in 1..=2000u64 {
            assert_eq!(rx.recv().await.unwrap().seq, expected);
        }
    }

    #[test]
    fn serialises_with_dotted_type() {
        let e = Event { seq: 7, at: now(), kind: EventKind::KnowledgeDeleted { id: Uuid::nil() } };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "knowledge.deleted");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["id"], Uuid::nil().to_string());
    }
}
