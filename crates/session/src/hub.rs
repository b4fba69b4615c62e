//! Which sessions are live, and the per-session stream their watchers follow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use switchboard_core::ErrorCode;
use switchboard_core::session::{Session, Turn};
use tokio::sync::broadcast;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a session's watchers (and the sender of a message) receive.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A turn was stored (caller, tool, agent or relayed answer).
    Turn {
        turn: Turn,
    },
    /// A piece of the agent's reply while it is being generated.
    Token {
        #[schema(value_type = String, format = Uuid)]
        turn_id: Uuid,
        text: String,
    },
    /// The turn could not complete normally; a fallback turn follows.
    Error {
        code: ErrorCode,
        message: String,
    },
    Ended {
        session: Session,
    },
}

/// Live sessions in this process. A session is live from its start until it
/// ends; the turn lock serialises turns within one session.
#[derive(Clone, Default)]
pub struct SessionHub {
    inner: Arc<Mutex<HashMap<Uuid, Live>>>,
}

#[derive(Clone)]
struct Live {
    tx: broadcast::Sender<SessionEvent>,
    turn_lock: Arc<tokio::sync::Mutex<()>>,
}

const STREAM_CAPACITY: usize = 1024;

impl SessionHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Live>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open(&self, id: Uuid) {
        self.lock().entry(id).or_insert_with(|| Live {
            tx: broadcast::channel(STREAM_CAPACITY).0,
            turn_lock: Arc::new(tokio::sync::Mutex::new(())),
        });
    }

    /// Tells watchers the session ended and forgets it.
    pub fn close(&self, session: &Session) {
        if let Some(live) = self.lock().remove(&session.id) {
            let _ = live.tx.send(SessionEvent::Ended { session: session.clone() });
        }
    }

    pub fn is_live(&self, id: Uuid) -> bool {
        self.lock().contains_key(&id)
    }

    pub fn live_ids(&self) -> Vec<Uuid> {
        self.lock().keys().copied().collect()
    }

    pub fn subscribe(&self, id: Uuid) -> Option<broadcast::Receiver<SessionEvent>> {
        self.lock().get(&id).map(|l| l.tx.subscribe())
    }

    pub fn publish(&self, id: Uuid, event: SessionEvent) {
        if let Some(l) = self.lock().get(&id) {
            let _ = l.tx.send(event);
        }
    }

    pub(crate) fn turn_lock(&self, id: Uuid) -> Option<Arc<tokio::sync::Mutex<()>>> {
        self.lock().get(&id).map(|l| l.turn_lock.clone())
    }
}
