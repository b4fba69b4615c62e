//! The help-request lifecycle and the notification outbox against real SQLite
//! and tantivy in a temp dir: answers, conflicts, races, deadlines, retries
//! and restarts.

use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::EventBus;
use switchboard_core::events::{Event, EventKind};
use switchboard_core::help::{HelpRequest, HelpStatus, NewHelpRequest, RespondInput};
use switchboard_core::knowledge::{KnowledgeInput, KnowledgeSource};
use switchboard_core::notify::{Notification, NotificationKind, Notifier, NotifyError, OutboxItem, OutboxStatus};
use switchboard_core::ports::{AuditStore, HelpRequestStore, KnowledgeIndex, OutboxStore};
use switchboard_escalation::{Escalation, EscalationConfig, EscalationError, Outbox, OutboxConfig};
use switchboard_knowledge::{KnowledgeBase, TantivyIndex};
use switchboard_store::SqliteStore;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long any polled condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(5);
const FAKE_ERROR: &str = "fake gateway is down";

// ---------------------------------------------------------------------------
// Setup

/// Everything a test drives, wired like the server wires it.
struct Env {
    store: Arc<SqliteStore>,
    index: Arc<TantivyIndex>,
    events: EventBus,
    outbox: Outbox,
    escalation: Escalation,
}

async fn setup(dir: &Path, sinks: Vec<Arc<dyn Notifier>>, outbox: OutboxConfig, config: EscalationConfig) -> Env {
    let store = Arc::new(SqliteStore::open(&dir.join("db.sqlite")).await.unwrap());
    let index = Arc::new(TantivyIndex::open(&dir.join("index")).unwrap().index);
    let events = EventBus::default();
    let outbox = Outbox::new(store.clone(), sinks, outbox);
    let escalation = Escalation::new(store.clone(), index.clone(), events.clone(), config, &outbox);
    Env { store, index, events, outbox, escalation }
}

/// Default configs and two sinks that always succeed; no outbox worker runs
/// unless a test starts one.
async fn setup_default(dir: &Path) -> Env {
    setup(dir, default_sinks(), OutboxConfig::default(), EscalationConfig::default()).await
}

fn default_sinks() -> Vec<Arc<dyn Notifier>> {
    sinks(&[&FakeSink::new("sms", 0), &FakeSink::new("webhook", 0)])
}

fn timeout_after(ms: u64) -> EscalationConfig {
    EscalationConfig { request_timeout: Duration::from_millis(ms) }
}

fn sinks(fakes: &[&Arc<FakeSink>]) -> Vec<Arc<dyn Notifier>> {
    fakes.iter().map(|&f| f.clone() as Arc<dyn Notifier>).collect()
}

impl Env {
    /// Closes the database and the index, as a shutdown would.
    async fn shut_down(self) {
        self.store.close().await;
        self.index.close();
    }

    async fn create(&self, question: &str) -> HelpRequest {
        self.escalation.create(&new_request(question)).await.unwrap()
    }

    async fn stored(&self, id: Uuid) -> HelpRequest {
        self.store.get_help_request(id).await.unwrap()
    }

    async fn outbox_rows(&self, id: Uuid) -> Vec<OutboxItem> {
        self.store.outbox_for_request(id).await.unwrap()
    }

    /// The single outbox row of `id` for `target`.
    async fn outbox_row(&self, id: Uuid, target: &str) -> OutboxItem {
        let rows: Vec<_> = self.outbox_rows(id).await.into_iter().filter(|r| r.target == target).collect();
        assert_eq!(rows.len(), 1, "one row for target {target}: {rows:?}");
        rows.into_iter().next().unwrap()
    }

    /// Asserts exactly one outbox row per configured target, of `kind`.
    async fn assert_one_row_per_target(&self, id: Uuid, kind: NotificationKind) {
        let rows = self.outbox_rows(id).await;
        let mut targets: Vec<_> = rows.iter().map(|r| r.target.clone()).collect();
        targets.sort();
        assert_eq!(targets, self.outbox.targets(), "one outbox row per target: {rows:?}");
        for r in &rows {
            assert_eq!(r.payload.kind, kind);
            assert_eq!(r.payload.request_id, id);
            assert_eq!(r.payload.id, r.id, "the payload carries the outbox id as idempotency key");
        }
    }

    async fn audit_actions(&self, id: Uuid) -> Vec<String> {
        self.store.audit_for(&id.to_string()).await.unwrap().into_iter().map(|a| a.action).collect()
    }
}

fn new_request(question: &str) -> NewHelpRequest {
    NewHelpRequest {
        customer_name: "Ada Lovelace".into(),
        channel: "phone".into(),
        question: question.into(),
        customer_contact: Some("+15550100".into()),
        ..Default::default()
    }
}

fn answer(text: &str, topic: &str, supervisor: &str) -> RespondInput {
    RespondInput {
        answer: Some(text.into()),
        topic: Some(topic.into()),
        supervisor: Some(supervisor.into()),
        ..Default::default()
    }
}

/// A sink that fails its first `failures` calls, then succeeds.
struct FakeSink {
    target: &'static str,
    failures: u32,
    calls: AtomicU32,
    delivered: Mutex<Vec<Notification>>,
}

impl FakeSink {
    fn new(target: &'static str, failures: u32) -> Arc<Self> {
        Arc::new(Self { target, failures, calls: AtomicU32::new(0), delivered: Mutex::new(Vec::new()) })
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    fn delivered(&self) -> Vec<Notification> {
        self.delivered.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for FakeSink {
    fn target(&self) -> &str {
        self.target
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call <= self.failures {
            return Err(NotifyError(format!("{FAKE_ERROR} (call {call})")));
        }
        self.delivered.lock().unwrap().push(n.clone());
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Assertion helpers

/// Polls `check` until it yields `Some`, failing after [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < give_up, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The current request carried by an `AlreadyFinal` error.
fn already_final<T: Debug>(r: Result<T, EscalationError>) -> HelpRequest {
    match r {
        Err(EscalationError::AlreadyFinal(current)) => *current,
        other => panic!("expected AlreadyFinal, got {other:?}"),
    }
}

fn assert_not_found<T: Debug>(r: Result<T, EscalationError>) {
    assert!(matches!(r, Err(EscalationError::NotFound)), "expected NotFound, got {r:?}");
}

fn assert_invalid<T: Debug>(r: Result<T, EscalationError>, field: &str) {
    match r {
        Err(EscalationError::Invalid(e)) => assert_eq!(e.field, field),
        other => panic!("expected Invalid({field}), got {other:?}"),
    }
}

/// Cancels a background loop (sweeper, outbox worker) and waits for it to return.
async fn stop(token: CancellationToken, task: JoinHandle<()>) {
    token.cancel();
    tokio::time::timeout(Duration::from_secs(1), task).await.expect("the loop stops when cancelled").unwrap();
}

async fn next_event(rx: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(1), rx.recv()).await.expect("an event is published").unwrap()
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_resolves_learns_and_enqueues() {
    let dir = tempfile::tempdir().unwrap();
    let env = setup_default(dir.path()).await;
    // A distractor, so "ranks first" means something.
    KnowledgeBase::new(env.store.clone(), env.index.clone(), env.events.clone())
        .create(
            &KnowledgeInput {
                question: "Do you take card payments?".into(),
                answer: "Yes, all cards.".into(),
                topic: None,
            },
            KnowledgeSource::Manual,
        )
        .await
        .unwrap();
    let mut rx = env.events.subscribe();

    let req = env.create("Do you sell gift cards for birthdays?").await;
    assert_eq!(req.status, HelpStatus::Pending);
    let resolved = env
        .escalation
        .respond(req.id, &answer("Yes, gift cards from $25, wrapped for free.", "gift cards", "Grace"))
        .await
        .unwrap();

    let r = &resolved.request;
    assert_eq!((r.id, r.status), (req.id, HelpStatus::Resolved));
    assert_eq!(r.resolved_by.as_deref(), Some("Grace"));
    assert_eq!(r.answer.as_deref(), Some("Yes, gift cards from $25, wrapped for free."));
    assert_eq!(r.topic.as_deref(), Some("gift cards"));
    assert!(r.resolved_at.is_some());
    assert_eq!(&env.stored(req.id).await, r, "what is returned is what is stored");

    let entry = resolved.knowledge.clone().expect("an answer teaches the knowledge base");
    assert_eq!(entry.source, KnowledgeSource::Learned);
    assert_eq!(entry.source_request_id, Some(req.id));
    assert_eq!(entry.question, req.question);
    assert_eq!(entry.answer, "Yes, gift cards from $25, wrapped for free.");
    assert_eq!(entry.topic.as_deref(), Some("gift cards"));

    let hits = env.index.search("gift cards birthdays", 5).await.unwrap();
    assert_eq!(
        hits.first().map(|h| h.doc.id.clone()),
        Some(entry.id.to_string()),
        "indexed before respond returned: {hits:?}"
    );
    assert_eq!(hits[0].doc.kind, switchboard_core::knowledge::KnowledgeSource::Learned);
    assert_eq!(hits[0].doc.source_request_id, Some(req.id.to_string()));

    env.assert_one_row_per_target(req.id, NotificationKind::Answered).await;
    for row in env.outbox_rows(req.id).await {
        assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 0));
        assert_eq!(row.payload.answer.as_deref(), Some("Yes, gift cards from $25, wrapped for free."));
        assert!(row.payload.message.contains("gift cards from $25"), "{}", row.payload.message);
        assert_eq!(row.payload.customer_contact, "+15550100");
    }
    assert_eq!(resolved.notifications.len(), env.outbox.targets().len());

    assert_eq!(env.audit_actions(req.id).await, ["created", "resolved"]);

    let created = next_event(&mut rx).await;
    let learned = next_event(&mut rx).await;
    let done = next_event(&mut rx).await;
    assert!(matches!(&created.kind, EventKind::HelpRequestCreated { request } if request.id == req.id), "{created:?}");
    assert!(matches!(&learned.kind, EventKind::KnowledgeUpdated { entry: e } if e.id == entry.id), "{learned:?}");
    assert!(
        matches!(&done.kind, EventKind::HelpRequestResolved { request } if request.id == req.id && request.status == HelpStatus::Resolved),
        "{done:?}"
    );
    assert!(created.seq < learned.seq && learned.seq < done.seq);
    assert!(rx.try_recv().is_err(), "nothing else was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_answer_and_answer_after_timeout_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let env = setup_default(dir.path()).await;

    let req = env.create("Can I bring my dog?").await;
    let first = env.escalation.respond(req.id, &answer("Small dogs are welcome.", "pets", "Grace")).await.unwrap();
    let current = already_final(env.escalation.respond(req.id, &answer("No pets, sorry.", "pets", "Alan")).await);
    assert_eq!(current.status, HelpStatus::Resolved);
    assert_eq!(current.answer.as_deref(), Some("Small dogs are welcome."));
    assert_eq!(current.resolved_by.as_deref(), Some("Grace"));
    assert_eq!(env.stored(req.id).await, first.request, "the refused answer changed nothing");
    env.assert_one_row_per_target(req.id, NotificationKind::Answered).await;
    assert_eq!(env.audit_actions(req.id).await, ["created", "resolved"]);
    let unresolved = RespondInput { unresolved: true, notes: Some("no idea".into()), ..Default::default() };
    already_final(env.escalation.respond(req.id, &unresolved).await);
    assert_eq!(env.stored(req.id).await, first.request);

    let other = env.create("Do you do house calls?").await;
    let timed_out = env.escalation.time_out(other.id).await.unwrap();
    assert_eq!(timed_out.status, HelpStatus::Unresolved);
    assert_eq!(timed_out.resolved_by.as_deref(), Some("system"));
    let current = already_final(env.escalation.respond(other.id, &answer("Yes, on Mondays.", "visits", "Grace")).await);
    assert_eq!(current.status, HelpStatus::Unresolved);
    assert_eq!(current.resolved_by.as_deref(), Some("system"));
    assert_eq!(current.answer, None);
    let current = already_final(env.escalation.time_out(other.id).await);
    assert_eq!(current, timed_out);
    assert_eq!(env.stored(other.id).await, timed_out);
    env.assert_one_row_per_target(other.id, NotificationKind::Unresolved).await;
    assert_eq!(env.audit_actions(other.id).await, ["created", "unresolved"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_answers_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let env = setup_default(dir.path()).await;
    let req = env.create("Is there parking nearby?").await;

    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let escalation = env.escalation.clone();
            let supervisor = format!("supervisor-{i}");
            tokio::spawn(async move {
                let r = escalation.respond(req.id, &answer(&format!("Answer {i}"), "parking", &supervisor)).await;
                (supervisor, r)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (supervisor, Ok(resolved)) => winners.push((supervisor, resolved)),
            (_, Err(EscalationError::AlreadyFinal(current))) => losers.push(*current),
            (_, Err(e)) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((winners.len(), losers.len()), (1, 7));
    let (winner, resolved) = winners.pop().unwrap();

    let stored = env.stored(req.id).await;
    assert_eq!(stored.resolved_by.as_deref(), Some(winner.as_str()));
    assert_eq!(stored, resolved.request);
    for current in &losers {
        assert_eq!(current.resolved_by.as_deref(), Some(winner.as_str()), "losers are told who won");
    }
    env.assert_one_row_per_target(req.id, NotificationKind::Answered).await;
    assert_eq!(env.audit_actions(req.id).await, ["created", "resolved"]);
    assert_eq!(env.index.search("parking nearby", 5).await.unwrap().len(), 1, "one learned entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_id_and_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let env = setup_default(dir.path()).await;
    let unknown = Uuid::now_v7();

    assert_not_found(env.escalation.respond(unknown, &answer("Yes.", "misc", "Grace")).await);
    assert_not_found(env.escalation.time_out(unknown).await);
    assert_not_found(env.escalation.get(unknown).await);
    assert!(env.outbox_rows(unknown).await.is_empty());

    let req = env.create("Do you have vegan options?").await;
    let count = env.store.count_help_requests(None).await.unwrap();
    assert_invalid(env.escalation.create(&new_request("   \n ")).await, "question");
    assert_eq!(env.store.count_help_requests(None).await.unwrap(), count);

    let blank = RespondInput {
        answer: Some("  ".into()),
        unresolved: false,
        supervisor: Some("Grace".into()),
        ..Default::default()
    };
    assert_invalid(env.escalation.respond(req.id, &blank).await, "answer");
    let stored = env.stored(req.id).await;
    assert_eq!(stored.status, HelpStatus::Pending);
    assert_eq!(stored, req, "a refused response changes nothing");
    assert!(env.outbox_rows(req.id).await.is_empty());
    assert_eq!(env.audit_actions(req.id).await, ["created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_times_out_overdue_requests() {
    let dir = tempfile::tempdir().unwrap();
    let env =
        setup(dir.path(), sinks(&[&FakeSink::new("webhook", 0)]), OutboxConfig::default(), timeout_after(200)).await;
    let token = CancellationToken::new();
    let sweeper = tokio::spawn(env.escalation.clone().run_sweeper(token.clone()));

    let a = env.create("Can I pay in instalments?").await;
    let b = env.create("Do you ship abroad?").await;
    for req in [&a, &b] {
        let done = eventually("the request timed out", || async {
            Some(env.stored(req.id).await).filter(|r| r.status != HelpStatus::Pending)
        })
        .await;
        assert_eq!(done.status, HelpStatus::Unresolved);
        assert_eq!(done.resolved_by.as_deref(), Some("system"));
        assert!(done.resolved_at.unwrap() >= req.deadline_at, "not before its deadline");
        env.assert_one_row_per_target(req.id, NotificationKind::Unresolved).await;
        assert_eq!(env.outbox_row(req.id, "webhook").await.payload.answer, None);
    }

    stop(token, sweeper).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = setup(dir.path(), default_sinks(), OutboxConfig::default(), timeout_after(300)).await;
    let req = env.create("Are you open on public holidays?").await;
    env.shut_down().await;

    let remaining = (req.deadline_at - switchboard_core::time::now()).to_std().unwrap_or_default();
    tokio::time::sleep(remaining + Duration::from_millis(20)).await;

    let env = setup_default(dir.path()).await;
    assert_eq!(env.stored(req.id).await.status, HelpStatus::Pending, "nothing ran while we were down");
    assert_eq!(env.escalation.expire_overdue().await.unwrap(), 1);
    let stored = env.stored(req.id).await;
    assert_eq!(stored.status, HelpStatus::Unresolved);
    assert_eq!(stored.resolved_by.as_deref(), Some("system"));
    env.assert_one_row_per_target(req.id, NotificationKind::Unresolved).await;
    assert_eq!(env.escalation.expire_overdue().await.unwrap(), 0, "a second sweep finds nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_retries_then_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = FakeSink::new("webhook", 2);
    let config = OutboxConfig {
        base_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_attempts: 5,
        delivery_timeout: Duration::from_secs(1),
    };
    let env = setup(dir.path(), sinks(&[&webhook]), config, EscalationConfig::default()).await;
    assert_eq!(env.outbox.targets(), ["webhook"]);
    let token = CancellationToken::new();
    let worker = tokio::spawn(env.outbox.clone().run(token.clone()));

    let req = env.create("Do you repair vintage watches?").await;
    env.escalation.respond(req.id, &answer("Yes, allow two weeks.", "repairs", "Grace")).await.unwrap();

    let row = eventually("the notification is sent", || async {
        Some(env.outbox_row(req.id, "webhook").await).filter(|r| r.status == OutboxStatus::Sent)
    })
    .await;
    assert_eq!(row.attempts, 3);
    assert_eq!(row.last_error, None, "a success clears the last error");
    assert_eq!(webhook.calls(), 3);
    let delivered = webhook.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0], row.payload);
    assert_eq!(delivered[0].kind, NotificationKind::Answered);
    assert_eq!(delivered[0].answer.as_deref(), Some("Yes, allow two weeks."));

    stop(token, worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_gives_up_after_max_attempts_and_survives_restart() {
    // Gives up.
    let dir = tempfile::tempdir().unwrap();
    let broken = FakeSink::new("webhook", u32::MAX);
    let config = OutboxConfig {
        base_backoff: Duration::from_millis(30),
        max_backoff: Duration::from_millis(200),
        max_attempts: 3,
        delivery_timeout: Duration::from_secs(1),
    };
    let env = setup(dir.path(), sinks(&[&broken]), config, EscalationConfig::default()).await;
    let token = CancellationToken::new();
    let worker = tokio::spawn(env.outbox.clone().run(token.clone()));
    let req = env.create("Can I reschedule online?").await;
    env.escalation.respond(req.id, &answer("Yes, from the booking link.", "booking", "Grace")).await.unwrap();

    let row = eventually("the outbox gives up", || async {
        Some(env.outbox_row(req.id, "webhook").await).filter(|r| r.status != OutboxStatus::Pending)
    })
    .await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert_eq!(row.attempts, 3);
    let error = row.last_error.unwrap_or_default();
    assert!(error.contains(FAKE_ERROR), "{error}");
    assert_eq!(broken.calls(), 3, "no attempt after giving up");
    stop(token, worker).await;

    // Survives a restart: enqueued with no worker running, delivered after reopening.
    let dir = tempfile::tempdir().unwrap();
    let env = setup(
        dir.path(),
        sinks(&[&FakeSink::new("webhook", u32::MAX)]),
        OutboxConfig::default(),
        EscalationConfig::default(),
    )
    .await;
    let req = env.create("Do you have a loyalty card?").await;
    env.escalation.respond(req.id, &answer("Yes, every tenth visit is free.", "loyalty", "Grace")).await.unwrap();
    let queued = env.outbox_row(req.id, "webhook").await;
    assert_eq!((queued.status, queued.attempts), (OutboxStatus::Pending, 0));
    env.shut_down().await;

    let webhook = FakeSink::new("webhook", 0);
    let env = setup(dir.path(), sinks(&[&webhook]), OutboxConfig::default(), EscalationConfig::default()).await;
    assert_eq!(env.outbox.deliver_due().await.unwrap(), 1);
    let row = env.outbox_row(req.id, "webhook").await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 1));
    assert_eq!(webhook.delivered(), [queued.payload]);
    assert_eq!(env.outbox.deliver_due().await.unwrap(), 0, "delivered once, not again");
}
