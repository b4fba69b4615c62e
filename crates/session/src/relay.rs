//! Live relay: a supervisor's answer told to the caller in their session.

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::notify::{Delivery, Notification, NotificationKind, Notifier, NotifyError};
use switchboard_core::session::{Decision, Grounding, NewTurn, SessionStore, TurnRole};
use switchboard_core::time;
use uuid::Uuid;

use crate::hub::{SessionEvent, SessionHub};

/// The outbox sink `session`: enqueued instead of the follow-up sinks while
/// the caller is still in the session. If the caller leaves between the
/// enqueue and the delivery, the follow-up sink takes over.
pub struct SessionRelay {
    store: Arc<dyn SessionStore>,
    hub: SessionHub,
    events: EventBus,
    follow_up: Option<Arc<dyn Notifier>>,
    /// Where the relayed sentence's wording comes from.
    prompts: crate::prompts::Prompts,
}

impl SessionRelay {
    pub fn new(
        store: Arc<dyn SessionStore>,
        hub: SessionHub,
        events: EventBus,
        follow_up: Option<Arc<dyn Notifier>>,
        prompts: crate::prompts::Prompts,
    ) -> Self {
        Self { store, hub, events, follow_up, prompts }
    }
}

/// Longest wait for a session's turn in progress before a relay is retried.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl SessionRelay {
    /// The caller is not (or no longer) in the session: the follow-up sink
    /// instead, when there is one and the contact may receive it.
    async fn follow_up(&self, n: &Notification) -> Result<(), NotifyError> {
        match &self.follow_up {
            Some(f) if f.enabled() && n.follow_up_allowed => f.deliver(n).await,
            _ => Ok(()),
        }
    }
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

fn message(prompts: &crate::prompts::Prompts, n: &Notification) -> String {
    let caller = if n.customer_name == "Caller" { "" } else { first_name(&n.customer_name) };
    let answer = match n.kind {
        NotificationKind::Answered => n.answer.as_deref(),
        _ => None,
    };
    prompts.relay_message(caller, &n.question, answer)
}

#[async_trait]
impl Notifier for SessionRelay {
    fn target(&self) -> &str {
        "session"
    }

    fn delivery(&self) -> Delivery {
        Delivery::Live
    }

    fn reaches(&self, session_id: &str) -> bool {
        Uuid::parse_str(session_id).is_ok_and(|id| self.hub.is_live(id))
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let Some(sid) = n.session_id.as_deref().and_then(|s| Uuid::parse_str(s).ok()) else {
            return Ok(());
        };
        if !self.hub.is_live(sid) {
            return self.follow_up(n).await;
        }
        // Never between a caller's turn and the agent's reply to it: wait for
        // the turn in progress (bounded; the outbox retries later if a turn
        // runs long).
        let lock = self.hub.turn_lock(sid);
        let _turn = match &lock {
            Some(l) => Some(
                tokio::time::timeout(TURN_WAIT, l.lock())
                    .await
                    .map_err(|_| NotifyError("the session is in a long turn; will retry".into()))?,
            ),
            None => None,
        };
        // At least once: a retry after a lost acknowledgement must not repeat it.
        let turns = self.store.turns(sid).await.map_err(|e| NotifyError(e.to_string()))?;
        let already = turns.iter().any(|t| {
            t.grounding
                .as_ref()
                .is_some_and(|g| g.decision == Decision::Relay && g.help_request_id == Some(n.request_id))
        });
        if already {
            return Ok(());
        }
        let text = message(&self.prompts, n);
        let turn = NewTurn {
            id: Uuid::now_v7(),
            role: TurnRole::Agent,
            text: text.clone(),
            tool: None,
            grounding: Some(Grounding {
                decision: Decision::Relay,
                hits: vec![],
                cited: vec![],
                help_request_id: Some(n.request_id),
                reason: "a supervisor answered while the caller was still in the session".into(),
            }),
            timings: None,
            input: None,
            interrupted: false,
            at: time::now(),
        };
        match self.store.append_turns(sid, &[turn]).await {
            Ok(stored) => {
                for t in stored {
                    self.hub.publish(sid, SessionEvent::Token { turn_id: t.id, text: t.text.clone() });
                    self.hub.publish(sid, SessionEvent::Turn { turn: t.clone() });
                    self.events.publish(EventKind::SessionTurn { turn: t });
                }
                Ok(())
            }
            // Ended just now: the caller gets the follow-up instead.
            Err(switchboard_core::ports::StoreError::Conflict(_)) => self.follow_up(n).await,
            Err(e) => Err(NotifyError(e.to_string())),
        }
    }
}
