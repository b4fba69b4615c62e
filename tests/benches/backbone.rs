//! Backbone benchmark: prints its figures.
//!
//! 1. Help-request creates per second on SQLite (one task, then 8 concurrent).
//! 2. Supervisor answer -> knowledge entry searchable: the time from calling
//!    `respond` until a search for the question returns the learned entry,
//!    p50/p99 over many answers.
//!
//! Run with `make bench` (or `cargo bench -p switchboard-tests --bench backbone`).
//! `BENCH_CREATES` and `BENCH_ANSWERS` scale the runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use switchboard_core::EventBus;
use switchboard_core::help::{NewHelpRequest, RespondInput};
use switchboard_core::ports::{HelpRequestStore, KnowledgeIndex, Store};
use switchboard_escalation::{Escalation, EscalationConfig, EventStreamNotifier, Outbox, OutboxConfig};
use switchboard_knowledge::TantivyIndex;
use switchboard_store::SqliteStore;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn request(i: usize) -> NewHelpRequest {
    NewHelpRequest {
        customer_name: format!("Caller {i}"),
        channel: "phone".into(),
        question: format!("Do you offer service number {i} on weekday {} afternoons?", i % 7),
        customer_contact: Some(format!("+1-555-{:04}", i % 10_000)),
        ..Default::default()
    }
}

async fn setup(dir: &std::path::Path) -> (Escalation, Arc<SqliteStore>, Arc<TantivyIndex>) {
    let store = Arc::new(SqliteStore::open(&dir.join("db.sqlite")).await.unwrap());
    let index = Arc::new(TantivyIndex::open(&dir.join("index")).unwrap().index);
    let store_port: Arc<dyn Store> = store.clone();
    let index_port: Arc<dyn KnowledgeIndex> = index.clone();
    let events = EventBus::default();
    // The outbox worker is not started: delivery is not what is measured.
    let outbox = Outbox::new(
        store_port.clone(),
        vec![Arc::new(EventStreamNotifier::new(events.clone()))],
        OutboxConfig::default(),
    );
    let esc = Escalation::new(store_port, index_port, events, EscalationConfig::default(), &outbox);
    (esc, store, index)
}

async fn creates(n: usize, tasks: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (esc, store, index) = setup(dir.path()).await;
    let start = Instant::now();
    let per_task = n / tasks;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let esc = esc.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    esc.create(&request(t * per_task + i)).await.unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(store.count_help_requests(None).await.unwrap() as usize, per_task * tasks);
    index.close();
    store.close().await;
    (per_task * tasks) as f64 / secs
}

async fn answer_to_searchable(n: usize) -> Histogram<u64> {
    let dir = tempfile::tempdir().unwrap();
    let (esc, store, index) = setup(dir.path()).await;
    // A realistic index to search in: a few thousand existing entries.
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(esc.create(&request(i)).await.unwrap());
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for (i, r) in ids.iter().enumerate() {
        let answer =
            RespondInput { answer: Some(format!("Yes, service {i} runs every weekday.")), ..Default::default() };
        let start = Instant::now();
        esc.respond(r.id, &answer).await.unwrap();
        let hits = index.search(&r.question, 3).await.unwrap();
        let elapsed = start.elapsed();
        assert!(
            hits.iter().any(|h| h.doc.source_request_id.as_deref() == Some(&r.id.to_string())),
            "learned entry {i} searchable when respond returns"
        );
        hist.record(elapsed.as_micros().max(1) as u64).unwrap();
    }
    index.close();
    store.close().await;
    hist
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", Duration::from_micros(us).as_secs_f64() * 1000.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let n_creates = env_or("BENCH_CREATES", 20_000);
    let n_answers = env_or("BENCH_ANSWERS", 1_000);
    rt.block_on(async {
        println!("switchboard backbone benchmark ({} cores)", std::thread::available_parallelism().map_or(0, |n| n.get()));
        let seq = creates(n_creates, 1).await;
        println!("help-request creates, 1 task:   {seq:>8.0}/s  ({n_creates} creates, SQLite WAL on disk)");
        let par = creates(n_creates, 8).await;
        println!("help-request creates, 8 tasks:  {par:>8.0}/s  ({n_creates} creates)");
        let h = answer_to_searchable(n_answers).await;
        println!(
            "answer -> knowledge searchable: p50 {}  p99 {}  max {}  ({} answers; respond() + tantivy commit + reload + search)",
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            h.len()
        );
    });
}
