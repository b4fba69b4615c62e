//! The help-request lifecycle.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::help::{HelpRequest, HelpStatus, NewHelpRequest, RespondInput, SupervisorResponse, Waiter};
use switchboard_core::knowledge::{IndexDoc, KnowledgeEntry, KnowledgeSource};
use switchboard_core::notify::{Notification, NotificationKind, OutboxItem, OutboxStatus};
use switchboard_core::ports::{
    Consequences, HelpRequestRecord, KnowledgeIndex, Resolution, Resolved, Store, StoreError,
};
use switchboard_core::validate::ValidationError;
use switchboard_core::{Coded, ErrorCode, time};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::messages;
use crate::outbox::Outbox;

/// Most requests a list returns.
pub const LIST_LIMIT: u32 = 500;

#[derive(Debug, Clone)]
pub struct EscalationConfig {
    /// How long a request may stay pending before it times out.
    pub request_timeout: Duration,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(15 * 60) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EscalationError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("help request not found")]
    NotFound,
    /// The request already left `pending`.
    #[error("{}", already_final_message(.0))]
    AlreadyFinal(Box<HelpRequest>),
    /// No answer of this request is waiting for review.
    #[error("{0}")]
    NotInReview(String),
    #[error(transparent)]
    Store(StoreError),
}

fn already_final_message(r: &HelpRequest) -> String {
    match (&r.status, &r.resolved_by) {
        (HelpStatus::Resolved, Some(by)) => format!("help request was already answered by {by}"),
        (HelpStatus::Unresolved, Some(by)) if by == "system" => "help request already timed out".into(),
        (status, Some(by)) => format!("help request was already marked {} by {by}", status.as_str()),
        (status, None) => format!("help request is already {}", status.as_str()),
    }
}

impl From<StoreError> for EscalationError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => EscalationError::NotFound,
            StoreError::AlreadyFinal(r) => EscalationError::AlreadyFinal(r),
            StoreError::Conflict(why) => EscalationError::NotInReview(why),
            other => EscalationError::Store(other),
        }
    }
}

impl Coded for EscalationError {
    fn code(&self) -> ErrorCode {
        match self {
            EscalationError::Invalid(_) => ErrorCode::ValidationFailed,
            EscalationError::NotFound => ErrorCode::NotFound,
            EscalationError::AlreadyFinal(_) => ErrorCode::Conflict,
            EscalationError::NotInReview(_) => ErrorCode::Conflict,
            EscalationError::Store(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            // Lets the UI show who won a race instead of failing silently.
            EscalationError::AlreadyFinal(r) => Some(serde_json::json!({ "current": r })),
            _ => None,
        }
    }
}

/// The escalation service. Cheap to clone.
#[derive(Clone)]
pub struct Escalation {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    index: Arc<dyn KnowledgeIndex>,
    events: EventBus,
    /// Changeable at runtime; applies to requests opened afterwards.
    request_timeout: RwLock<Duration>,
    /// Decides which sinks each notification is enqueued for.
    outbox: Outbox,
    sweeper_wake: Notify,
    /// Answers wait for a supervisor's review before the agent learns them.
    review_learned: std::sync::atomic::AtomicBool,
}

impl Escalation {
    pub fn new(
        store: Arc<dyn Store>,
        index: Arc<dyn KnowledgeIndex>,
        events: EventBus,
        config: EscalationConfig,
        outbox: &Outbox,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                index,
                events,
                request_timeout: RwLock::new(config.request_timeout),
                outbox: outbox.clone(),
                sweeper_wake: Notify::new(),
                review_learned: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        *self.inner.request_timeout.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers given from now on wait for review before they are learned.
    pub fn set_review_learned(&self, on: bool) {
        self.inner.review_learned.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn review_learned(&self) -> bool {
        self.inner.review_learned.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ends the review of a request's answer: approved, the agent learns it
    /// (indexed before this returns); dismissed, it is not learned.
    pub async fn review(
        &self,
        id: Uuid,
        approve: bool,
    ) -> Result<(HelpRequest, Option<KnowledgeEntry>), EscalationError> {
        let req = self.inner.store.get_help_request(id).await?;
        let at = time::now();
        let entry = match (&req.answer, approve) {
            (Some(answer), true) => Some(KnowledgeEntry {
                id: Uuid::now_v7(),
                question: req.question.clone(),
                answer: answer.clone(),
                topic: req.topic.clone(),
                source: KnowledgeSource::Learned,
                source_request_id: Some(req.id),
                created_at: at,
                updated_at: at,
            }),
            _ => None,
        };
        let (request, learned) = self.inner.store.finish_review(id, entry).await?;
        if let Some(entry) = &learned {
            self.index_learned(entry).await;
        }
        Ok((request, learned))
    }

    /// Applies to requests opened from now on; existing deadlines stand.
    pub fn set_request_timeout(&self, timeout: Duration) {
        *self.inner.request_timeout.write().unwrap_or_else(|p| p.into_inner()) = timeout;
    }

    /// Opens a help request with a deadline `request_timeout` from now.
    pub async fn create(&self, input: &NewHelpRequest) -> Result<HelpRequest, EscalationError> {
        let v = input.validate()?;
        let now = time::now();
        let record = HelpRequestRecord {
            id: Uuid::now_v7(),
            customer_name: v.customer_name,
            customer_contact: v.customer_contact,
            channel: v.channel,
            question: v.question,
            created_at: now,
            deadline_at: crate::later(now, self.request_timeout()),
            session_id: v.session_id,
            history: v.history,
            contact_confirmed: v.contact_confirmed,
        };
        let request = self.inner.store.insert_help_request(&record).await?;
        // The sweeper may be sleeping towards a later deadline.
        self.inner.sweeper_wake.notify_one();
        self.inner.events.publish(EventKind::HelpRequestCreated { request: request.clone() });
        Ok(request)
    }

    pub async fn list(&self, status: Option<HelpStatus>) -> Result<Vec<HelpRequest>, EscalationError> {
        Ok(self.inner.store.list_help_requests(status, LIST_LIMIT).await?)
    }

    /// How many requests there are, or are in `status` (exact; lists are capped).
    pub async fn count(&self, status: Option<HelpStatus>) -> Result<u64, EscalationError> {
        Ok(self.inner.store.count_help_requests(status).await?)
    }

    pub async fn get(&self, id: Uuid) -> Result<HelpRequest, EscalationError> {
        Ok(self.inner.store.get_help_request(id).await?)
    }

    /// A supervisor answers (or gives up on) a pending request.
    pub async fn respond(&self, id: Uuid, input: &RespondInput) -> Result<Resolved, EscalationError> {
        let v = input.validate()?;
        let at = time::now();
        let status = if v.unresolved { HelpStatus::Unresolved } else { HelpStatus::Resolved };
        let resolution = Resolution {
            id,
            status,
            answer: if v.unresolved { None } else { v.answer.clone() },
            topic: v.topic.clone(),
            notes: v.notes.clone(),
            resolved_by: v.supervisor.clone(),
            at,
            response: Some(SupervisorResponse {
                request_id: id,
                answer: v.answer.clone(),
                topic: v.topic.clone(),
                unresolved: v.unresolved,
                notes: v.notes.clone(),
                supervisor: v.supervisor.clone(),
                created_at: at,
            }),
            confirm_contact: v.confirm_contact,
            learn_pending: !v.unresolved && !v.only_for_caller && self.review_learned(),
        };
        self.finish(resolution, v.only_for_caller).await
    }

    /// Adds a caller who asked the same question to a pending request: the
    /// supervisor answers once and every waiting caller gets the answer.
    pub async fn join(&self, id: Uuid, waiter: Waiter) -> Result<HelpRequest, EscalationError> {
        let request = self.inner.store.join_help_request(id, &waiter).await?;
        self.inner.events.publish(EventKind::HelpRequestJoined { request: request.clone() });
        Ok(request)
    }

    /// Moves a pending request to `unresolved` because nobody answered in time.
    pub async fn time_out(&self, id: Uuid) -> Result<HelpRequest, EscalationError> {
        let resolution = Resolution {
            id,
            status: HelpStatus::Unresolved,
            answer: None,
            topic: None,
            notes: Some("timed out: no supervisor answered before the deadline".into()),
            resolved_by: "system".into(),
            at: time::now(),
            response: None,
            confirm_contact: false,
            learn_pending: false,
        };
        Ok(self.finish(resolution, false).await?.request)
    }

    /// `private`: the answer is only for the caller who asked (not learned;
    /// callers who joined get requests of their own).
    async fn finish(&self, r: Resolution, private: bool) -> Result<Resolved, EscalationError> {
        let outbox = self.inner.outbox.clone();
        let at = r.at;
        let deadline = at + chrono::Duration::from_std(self.request_timeout()).unwrap_or(chrono::Duration::hours(1));
        // Waiting for review: learned (or not) when a supervisor decides.
        let review = r.learn_pending;
        // Decided inside the transaction, from the request as stored: whether
        // its caller is still in the session picks live relay or follow-up.
        let then = Box::new(move |req: &HelpRequest| {
            consequences(
                req,
                |session, follow_up| outbox.targets_for(session, follow_up),
                At { now: at, deadline },
                private || review,
                private,
            )
        });
        let resolved = self.inner.store.resolve_help_request(r, then).await?;
        if let Some(entry) = &resolved.knowledge {
            self.index_learned(entry).await;
        }
        for reopened in &resolved.reopened {
            self.inner.events.publish(EventKind::HelpRequestCreated { request: reopened.clone() });
        }
        if !resolved.reopened.is_empty() {
            self.inner.sweeper_wake.notify_one();
        }
        let request = resolved.request.clone();
        self.inner.events.publish(match request.status {
            HelpStatus::Resolved => EventKind::HelpRequestResolved { request },
            _ => EventKind::HelpRequestUnresolved { request },
        });
        self.inner.outbox.waker().notify_one();
        Ok(resolved)
    }

    /// Indexes an entry the database has just learned and tells observers.
    /// The database already holds it; if indexing fails the index is
    /// reconciled from it at next start, so this logs rather than fails a
    /// change that has committed.
    async fn index_learned(&self, entry: &KnowledgeEntry) {
        if let Err(e) = self.inner.index.upsert(vec![IndexDoc::from(entry)]).await {
            tracing::error!(error = %e, id = %entry.id, "learned entry not indexed");
        }
        self.inner.events.publish(EventKind::KnowledgeUpdated { entry: entry.clone() });
    }

    /// Times out every overdue pending request. Returns how many it moved.
    pub async fn expire_overdue(&self) -> Result<usize, EscalationError> {
        let mut moved = 0;
        for id in self.inner.store.overdue_help_requests(time::now()).await? {
            match self.time_out(id).await {
                Ok(_) => moved += 1,
                // A supervisor answered in the meantime: that is fine.
                Err(EscalationError::AlreadyFinal(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }

    /// Runs until cancelled, sleeping until the earliest pending deadline.
    pub async fn run_sweeper(self, cancel: CancellationToken) {
        loop {
            let failed = match self.expire_overdue().await {
                Ok(0) => false,
                Ok(n) => {
                    tracing::info!(count = n, "help requests timed out");
                    false
                }
                Err(e) => {
                    tracing::error!(error = %e, "deadline sweep failed");
                    true
                }
            };
            let wait = crate::next_wait(self.inner.store.next_deadline().await, failed);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.sweeper_wake.notified() => {}
            }
        }
    }
}

/// What a resolution writes besides the status: a learned entry when it was
/// answered (once, however many callers waited), and one customer
/// notification per sink for the caller who asked and for every caller who
/// joined, each by their own session's delivery.
/// When a resolution happens, and the deadline of any request it reopens.
struct At {
    now: time::Timestamp,
    deadline: time::Timestamp,
}

/// `unlearned`: the answer is not learned now (private, or waiting for
/// review); `private`: it is for the asker alone.
fn consequences(
    req: &HelpRequest,
    targets_for: impl Fn(Option<&str>, bool) -> Vec<String>,
    when: At,
    unlearned: bool,
    private: bool,
) -> Consequences {
    let at = when.now;
    let answer = req.answer.as_deref().filter(|_| req.status == HelpStatus::Resolved);
    // A private answer reaches its own caller only: the others who joined
    // asked in their own words, maybe about their own records, so each gets
    // a request of their own instead.
    let private = private && answer.is_some();
    let reopen: Vec<HelpRequestRecord> = if private {
        req.waiters
            .iter()
            .map(|w| HelpRequestRecord {
                id: Uuid::now_v7(),
                customer_name: w.customer_name.clone(),
                customer_contact: w.customer_contact.clone(),
                channel: w.channel.clone(),
                question: w.question.clone(),
                created_at: at,
                deadline_at: when.deadline,
                session_id: w.session_id.clone(),
                history: Vec::new(),
                // A waiter's contact is their session's (the channel's).
                contact_confirmed: true,
            })
            .collect()
    } else {
        Vec::new()
    };
    let learn = answer.filter(|_| !unlearned).map(|a| KnowledgeEntry {
        id: Uuid::now_v7(),
        question: req.question.clone(),
        answer: a.to_string(),
        topic: req.topic.clone(),
        source: KnowledgeSource::Learned,
        source_request_id: Some(req.id),
        created_at: at,
        updated_at: at,
    });
    let (kind, message) = match answer {
        Some(a) => (NotificationKind::Answered, messages::answered(req, a)),
        None => (NotificationKind::Unresolved, messages::unresolved(req)),
    };
    let asker = (&req.customer_name, &req.customer_contact, &req.channel, req.session_id.as_ref(), &message);
    let joined: Vec<(String, Waiter)> = req
        .waiters
        .iter()
        .filter(|_| !private)
        .map(|w| {
            let for_them = HelpRequest { customer_name: w.customer_name.clone(), ..req.clone() };
            let m = match answer {
                Some(a) => messages::answered(&for_them, a),
                None => messages::unresolved(&for_them),
            };
            (m, w.clone())
        })
        .collect();
    let callers = std::iter::once(asker).chain(
        joined.iter().map(|(m, w)| (&w.customer_name, &w.customer_contact, &w.channel, w.session_id.as_ref(), m)),
    );
    let mut notifications = Vec::new();
    for (i, (name, contact, channel, session, message)) in callers.enumerate() {
        // The asker's contact may be only what they said; waiters' come
        // from their sessions.
        let allowed = i > 0 || req.contact_confirmed;
        for target in targets_for(session.map(String::as_str), allowed) {
            // Observers (the event stream) hear of the resolution once.
            if i > 0 && target == crate::sinks::EVENT_STREAM_TARGET {
                continue;
            }
            let id = Uuid::now_v7();
            notifications.push(OutboxItem {
                id,
                target,
                payload: Notification {
                    id,
                    kind,
                    request_id: req.id,
                    customer_name: name.clone(),
                    customer_contact: contact.clone(),
                    channel: channel.clone(),
                    session_id: session.cloned(),
                    question: req.question.clone(),
                    answer: answer.map(str::to_string),
                    message: message.clone(),
                    follow_up_allowed: allowed,
                },
                status: OutboxStatus::Pending,
                attempts: 0,
                next_attempt_at: at,
                last_error: None,
                created_at: at,
            });
        }
    }
    Consequences { learn, notifications, reopen }
}

/// The agent opens help requests through this port.
#[async_trait::async_trait]
impl switchboard_core::session::HelpDesk for Escalation {
    async fn open(&self, r: NewHelpRequest) -> Result<HelpRequest, switchboard_core::session::HelpDeskError> {
        self.create(&r).await.map_err(|e| switchboard_core::session::HelpDeskError(e.to_string()))
    }

    async fn pending_for_session(
        &self,
        session_id: &str,
    ) -> Result<Vec<HelpRequest>, switchboard_core::session::HelpDeskError> {
        self.inner
            .store
            .pending_for_session(session_id)
            .await
            .map_err(|e| switchboard_core::session::HelpDeskError(e.to_string()))
    }

    async fn pending(&self, limit: u32) -> Result<Vec<HelpRequest>, switchboard_core::session::HelpDeskError> {
        self.inner
            .store
            .list_help_requests(Some(HelpStatus::Pending), limit)
            .await
            .map_err(|e| switchboard_core::session::HelpDeskError(e.to_string()))
    }

    async fn join(&self, id: Uuid, waiter: Waiter) -> Result<HelpRequest, switchboard_core::session::HelpDeskError> {
        self.join(id, waiter).await.map_err(|e| switchboard_core::session::HelpDeskError(e.to_string()))
    }
}
