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
    /// What the caller is saying, as recognised so far (spoken sessions).
    /// Not stored: the caller's turn follows with the final words.
    Hearing {
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
/// ends (by the caller, or after being idle: see `Sessions::run_idle_reaper`);
/// the turn lock serialises turns within one session. A session's event
/// stream exists only once someone watches it: thousands of sessions nobody
/// watches cost a few bytes each, not a stream buffer each.
#[derive(Clone, Default)]
pub struct SessionHub {
    inner: Arc<Mutex<HashMap<Uuid, Live>>>,
}

#[derive(Clone)]
struct Live {
    tx: Option<broadcast::Sender<SessionEvent>>,
    turn_lock: Arc<tokio::sync::Mutex<()>>,
    /// The caller's last message (or the start).
    last_active: std::time::Instant,
    /// Messages running or waiting for the turn lock.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// The turn holding the turn lock, so the caller can cut it off.
    current: Option<TurnHandle>,
}

/// A running turn, as seen from outside: the caller (or the voice loop, on
/// barge-in) may cut it off, saying what the caller actually heard of it.
#[derive(Clone, Debug)]
pub struct TurnHandle {
    cancel: tokio_util::sync::CancellationToken,
    heard: Arc<Mutex<Option<String>>>,
}

impl TurnHandle {
    pub(crate) fn new(cancel: tokio_util::sync::CancellationToken) -> TurnHandle {
        TurnHandle { cancel, heard: Arc::default() }
    }

    /// Cuts the turn off. `heard`: the part of the reply the caller heard
    /// (a voice call knows what was played); `None` keeps what was streamed.
    /// The model stream stops, tool rounds not yet started are skipped, and
    /// the agent turn is stored with only what was heard, marked interrupted.
    pub fn interrupt(&self, heard: Option<String>) {
        if let Some(h) = heard {
            *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        }
        self.cancel.cancel();
    }

    pub fn is_interrupted(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub(crate) fn token(&self) -> &tokio_util::sync::CancellationToken {
        &self.cancel
    }

    /// What the interrupter said the caller heard, if it said.
    pub(crate) fn heard(&self) -> Option<String> {
        self.heard.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Messages one session may have running or waiting at once: a caller
/// speaks one turn at a time; more is a client gone wrong (or a flood).
pub const MAX_QUEUED: usize = 4;

/// A message's place in its session's queue, given back when dropped.
pub(crate) struct QueueSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

const STREAM_CAPACITY: usize = 256;

impl SessionHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Live>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open(&self, id: Uuid) {
        self.lock().entry(id).or_insert_with(|| Live {
            tx: None,
            turn_lock: Arc::new(tokio::sync::Mutex::new(())),
            last_active: std::time::Instant::now(),
            queued: Arc::default(),
            current: None,
        });
    }

    /// A place in the session's message queue, or `None` when it is full
    /// (or the session is not live).
    pub(crate) fn enqueue(&self, id: Uuid) -> Option<QueueSlot> {
        use std::sync::atomic::Ordering;
        let queued = self.lock().get(&id)?.queued.clone();
        if queued.fetch_add(1, Ordering::SeqCst) >= MAX_QUEUED {
            queued.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(QueueSlot(queued))
    }

    /// The caller did something: the session is not idle.
    pub fn touch(&self, id: Uuid) {
        if let Some(l) = self.lock().get_mut(&id) {
            l.last_active = std::time::Instant::now();
        }
    }

    /// Live sessions idle for at least `idle`, with no turn in progress.
    pub fn idle(&self, idle: std::time::Duration) -> Vec<Uuid> {
        let now = std::time::Instant::now();
        self.lock()
            .iter()
            .filter(|(_, l)| now.duration_since(l.last_active) >= idle && l.turn_lock.try_lock().is_ok())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Drops a session that ended elsewhere without telling anyone.
    pub fn forget(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    /// Tells watchers the session ended and forgets it.
    pub fn close(&self, session: &Session) {
        if let Some(live) = self.lock().remove(&session.id)
            && let Some(tx) = live.tx
        {
            let _ = tx.send(SessionEvent::Ended { session: session.clone() });
        }
    }

    pub fn is_live(&self, id: Uuid) -> bool {
        self.lock().contains_key(&id)
    }

    pub fn live_ids(&self) -> Vec<Uuid> {
        self.lock().keys().copied().collect()
    }

    pub fn subscribe(&self, id: Uuid) -> Option<broadcast::Receiver<SessionEvent>> {
        self.lock().get_mut(&id).map(|l| l.tx.get_or_insert_with(|| broadcast::channel(STREAM_CAPACITY).0).subscribe())
    }

    /// Sends to the session's watchers, if it has any.
    pub fn publish(&self, id: Uuid, event: SessionEvent) {
        if let Some(tx) = self.lock().get(&id).and_then(|l| l.tx.as_ref()) {
            let _ = tx.send(event);
        }
    }

    /// Records (or clears) the turn that holds the session's turn lock.
    pub(crate) fn set_current(&self, id: Uuid, turn: Option<TurnHandle>) {
        if let Some(l) = self.lock().get_mut(&id) {
            l.current = turn;
        }
    }

    /// Cuts off the session's running turn, if there is one.
    pub fn interrupt(&self, id: Uuid, heard: Option<String>) -> bool {
        let current = self.lock().get(&id).and_then(|l| l.current.clone());
        current.map(|t| t.interrupt(heard)).is_some()
    }

    pub(crate) fn turn_lock(&self, id: Uuid) -> Option<Arc<tokio::sync::Mutex<()>>> {
        self.lock().get(&id).map(|l| l.turn_lock.clone())
    }
}
