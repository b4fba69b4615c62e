//! Crash safety of the real binary. The server is killed with SIGKILL at a
//! random moment while clients create help requests, answer them, edit the
//! knowledge base and a crawl writes pages. After every kill, read from the
//! database file: every acknowledged write is there, each resolution has
//! exactly its one outbox row and its one learned entry. After every restart,
//! through the API: the search index holds what the database holds. At the
//! end every notification has reached the gateway, under its own
//! idempotency key and never with two different bodies.
//!
//! `scripts/suite.sh` runs it (`ROUNDS`, default 20; `SEED` to replay).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Row};
use switchboard_tests::WebhookReceiver;
use switchboard_tests::process::ServerProcess;

/// What the clients were told succeeded (and what was in flight at the kill).
#[derive(Default, Clone)]
struct Ledger {
    /// Help request id → question, acknowledged with 201.
    created: HashMap<String, String>,
    /// Acknowledged, not yet answered (answerers take from here).
    open: Vec<String>,
    /// Help request id → answer, acknowledged with 200.
    answered: HashMap<String, String>,
    /// Knowledge entry id → its acknowledged state.
    entries: HashMap<String, Entry>,
    /// Entries whose deletion was acknowledged.
    deleted: HashSet<String>,
    /// Requests answered by more than a status this suite expects (5xx).
    server_errors: Vec<String>,
}

#[derive(Clone)]
struct Entry {
    token: String,
    answer: String,
    /// An edit or a delete sent but not acknowledged when the server died:
    /// either outcome is allowed.
    in_flight: Option<Option<String>>,
}

#[derive(Default, Debug)]
struct Figures {
    creates: usize,
    answers: usize,
    entries: usize,
    lost_creates: usize,
    lost_answers: usize,
    lost_entries: usize,
    wrong_outbox: usize,
    wrong_learned: usize,
    index_mismatches: usize,
}

const SITE_PAGES: usize = 60;

/// A small website for the crawl: every page links to a few others and
/// carries a word found nowhere else (`pgtokN`), each page a little slow so
/// the crawl is still writing when the kill comes.
async fn start_site() -> SocketAddr {
    use axum::extract::Path as UrlPath;
    use axum::response::Html;
    let page = |n: usize| {
        let links: String = (1..=4).map(|k| format!("<a href=\"/p/{}\">more {k}</a> ", (n * 7 + k) % SITE_PAGES)).collect();
        let body = format!(
            "<html><head><title>Workshop page {n}</title></head><body><main><h1>Workshop page {n}</h1>\
             <p>This page describes the service number {n} of the workshop, with its own reference pgtok{n}. \
             The workshop repairs lamps, clocks and radios for the neighbourhood, and every repair is \
             tested before it goes back to its owner. Opening times and prices are on the other pages.</p>\
             <nav>{links}</nav></main></body></html>"
        );
        Html(body)
    };
    let app = axum::Router::new()
        .route("/", axum::routing::get(move || async move { page(0) }))
        .route(
            "/p/{n}",
            axum::routing::get(move |UrlPath(n): UrlPath<usize>| async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                page(n % SITE_PAGES)
            }),
        )
        .route("/robots.txt", axum::routing::get(|| async { "User-agent: *\nAllow: /\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn start_server(dir: &Path, webhook: &str) -> ServerProcess {
    tokio::task::block_in_place(|| {
        ServerProcess::start(
            dir,
            &["--llm-engine", "none", "--crawl-allow-private", "--request-timeout", "2h", "--webhook-url", webhook],
            &[],
        )
    })
}

fn note_status(ledger: &Mutex<Ledger>, what: &str, status: reqwest::StatusCode) {
    if status.is_server_error() {
        ledger.lock().unwrap().server_errors.push(format!("{what}: {status}"));
    }
}

/// Clients until `stop`: two creating, two answering, one editing knowledge.
async fn workload(
    client: reqwest::Client,
    base: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    seq: Arc<AtomicU64>,
) {
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (c, base, ledger, stop, seq) =
            (client.clone(), base.clone(), ledger.clone(), stop.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let question = format!("Can you fix an old item number {n} quickly, reference qtok{n}?");
                let body = json!({"customer_name": "Kim", "channel": "phone", "question": question,
                    "customer_contact": format!("+1-555-{:04}", n % 10_000)});
                let Ok(resp) = c.post(format!("{base}/api/help-requests")).json(&body).send().await else { break };
                note_status(&ledger, "create", resp.status());
                if resp.status() == 201
                    && let Ok(v) = resp.json::<Value>().await
                {
                    let id = v["id"].as_str().unwrap().to_string();
                    let mut l = ledger.lock().unwrap();
                    l.created.insert(id.clone(), question);
                    l.open.push(id);
                }
            }
        }));
    }
    for _ in 0..2 {
        let (c, base, ledger, stop) = (client.clone(), base.clone(), ledger.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let next = ledger.lock().unwrap().open.pop();
                let Some(id) = next else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let answer = format!("Yes, we can, answer for {id}.");
                let url = format!("{base}/api/help-requests/{id}/response");
                let Ok(resp) = c.post(url).json(&json!({"answer": answer})).send().await else { break };
                note_status(&ledger, "answer", resp.status());
                if resp.status() == 200 {
                    ledger.lock().unwrap().answered.insert(id, answer);
                }
            }
        }));
    }
    {
        let (c, base, ledger, stop, seq) =
            (client.clone(), base.clone(), ledger.clone(), stop.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seq.load(Ordering::Relaxed));
            while !stop.load(Ordering::Relaxed) {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let pick = {
                    let l = ledger.lock().unwrap();
                    let live: Vec<String> =
                        l.entries.iter().filter(|(_, e)| e.in_flight.is_none()).map(|(id, _)| id.clone()).collect();
                    (!live.is_empty()).then(|| live[rng.random_range(0..live.len())].clone())
                };
                let roll = rng.random_range(0..10);
                match pick {
                    Some(id) if roll < 4 => {
                        let token = ledger.lock().unwrap().entries[&id].token.clone();
                        let answer = format!("Edited answer {n} for ktok{token}.");
                        ledger.lock().unwrap().entries.get_mut(&id).unwrap().in_flight = Some(Some(answer.clone()));
                        let body = json!({"question": format!("What about item ktok{token}?"), "answer": answer});
                        let Ok(resp) = c.put(format!("{base}/api/knowledge-base/{id}")).json(&body).send().await
                        else {
                            break;
                        };
                        note_status(&ledger, "edit", resp.status());
                        let mut l = ledger.lock().unwrap();
                        let e = l.entries.get_mut(&id).unwrap();
                        e.in_flight = None;
                        if resp.status() == 200 {
                            e.answer = answer;
                        }
                    }
                    Some(id) if roll < 5 => {
                        ledger.lock().unwrap().entries.get_mut(&id).unwrap().in_flight = Some(None);
                        let Ok(resp) = c.delete(format!("{base}/api/knowledge-base/{id}")).send().await else { break };
                        note_status(&ledger, "delete", resp.status());
                        let mut l = ledger.lock().unwrap();
                        if resp.status() == 204 {
                            l.entries.remove(&id);
                            l.deleted.insert(id);
                        } else {
                            l.entries.get_mut(&id).unwrap().in_flight = None;
                        }
                    }
                    _ => {
                        let token = n.to_string();
                        let answer = format!("First answer for ktok{token}.");
                        let body = json!({"question": format!("What about item ktok{token}?"), "answer": answer});
                        let Ok(resp) = c.post(format!("{base}/api/knowledge-base")).json(&body).send().await else {
                            break;
                        };
                        note_status(&ledger, "entry", resp.status());
                        if resp.status() == 201
                            && let Ok(v) = resp.json::<Value>().await
                        {
                            let id = v["id"].as_str().unwrap().to_string();
                            ledger.lock().unwrap().entries.insert(id, Entry { token, answer, in_flight: None });
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn open_db(dir: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("switchboard.sqlite"))
        .read_only(true)
        .connect()
        .await
        .expect("open the database read-only")
}

/// Checks the database file against the ledger (the server is dead).
async fn check_database(dir: &Path, ledger: &Ledger, figures: &mut Figures, problems: &mut Vec<String>) {
    let mut db = open_db(dir).await;
    let requests: HashMap<String, (String, Option<String>)> =
        sqlx::query("SELECT id, status, answer FROM help_requests")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.get::<String, _>(0), (r.get::<String, _>(1), r.get::<Option<String>, _>(2))))
            .collect();
    // Per request, its outbox rows' targets, sorted (duplicates kept).
    let mut outbox: HashMap<String, Vec<String>> = HashMap::new();
    for r in sqlx::query("SELECT request_id, target FROM notification_outbox ORDER BY target")
        .fetch_all(&mut db)
        .await
        .unwrap()
    {
        outbox.entry(r.get(0)).or_default().push(r.get(1));
    }
    let learned: HashMap<String, i64> = sqlx::query(
        "SELECT source_request_id, count(*) FROM knowledge_entries WHERE source = 'learned' GROUP BY source_request_id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let entries: HashMap<String, String> = sqlx::query("SELECT id, answer FROM knowledge_entries")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    for id in ledger.created.keys() {
        if !requests.contains_key(id) {
            figures.lost_creates += 1;
            problems.push(format!("acknowledged help request {id} is missing"));
        }
    }
    for (id, answer) in &ledger.answered {
        match requests.get(id) {
            Some((status, Some(a))) if status == "resolved" && a == answer => {}
            other => {
                figures.lost_answers += 1;
                problems.push(format!("acknowledged answer of {id} is missing: {other:?}"));
            }
        }
    }
    for (id, (status, _)) in &requests {
        let rows = outbox.get(id).cloned().unwrap_or_default();
        let teach = learned.get(id).copied().unwrap_or(0);
        // A resolution notifies the event stream (the UI) and, the caller
        // having no live session, the SMS gateway: one row each.
        let (want_rows, want_learned): (&[&str], i64) =
            if status == "resolved" { (&["events", "webhook"], 1) } else { (&[], 0) };
        if rows != want_rows {
            figures.wrong_outbox += 1;
            problems.push(format!("{status} request {id} has outbox rows {rows:?}"));
        }
        if teach != want_learned {
            figures.wrong_learned += 1;
            problems.push(format!("{status} request {id} has {teach} learned entries"));
        }
    }
    for (id, e) in &ledger.entries {
        let ok = match (entries.get(id), &e.in_flight) {
            (Some(a), _) if *a == e.answer => true,
            (Some(a), Some(Some(edit))) => a == edit,
            (None, Some(None)) => true,
            _ => false,
        };
        if !ok {
            figures.lost_entries += 1;
            problems.push(format!("knowledge entry {id}: acknowledged {:?}, database {:?}", e.answer, entries.get(id)));
        }
    }
    for id in &ledger.deleted {
        if entries.contains_key(id) {
            problems.push(format!("deleted knowledge entry {id} is back"));
        }
    }
}

/// Through the API of a restarted server: every entry and crawled page in
/// the database is found by its own word, with the database's text.
async fn check_index(server: &ServerProcess, dir: &Path, figures: &mut Figures, problems: &mut Vec<String>) {
    let mut db = open_db(dir).await;
    let mut docs: Vec<(String, String, String)> = sqlx::query("SELECT id, question, answer FROM knowledge_entries")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    docs.extend(
        sqlx::query("SELECT id, question, answer FROM page_passages")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2))),
    );
    for (id, question, answer) in docs {
        let Some(token) = format!("{question} {answer}")
            .split(|c: char| !c.is_alphanumeric())
            .find(|w| w.starts_with("ktok") || w.starts_with("qtok") || w.starts_with("pgtok"))
            .map(str::to_string)
        else {
            continue;
        };
        let url = server.url(&format!("/api/knowledge-base?q={token}&limit=50"));
        let hits: Vec<Value> = server.client.get(url).send().await.unwrap().json().await.unwrap();
        let found = hits.iter().any(|h| {
            h["answer"] == answer.as_str() && (h["id"] == id.as_str() || h["source"] == "page")
        });
        if !found {
            figures.index_mismatches += 1;
            problems.push(format!("search for {token} misses document {id} as stored"));
        }
    }
}

/// Adopts the database's outcome of writes that were in flight at the kill.
async fn settle(ledger: &Mutex<Ledger>, dir: &Path) {
    let mut db = open_db(dir).await;
    let entries: HashMap<String, String> = sqlx::query("SELECT id, answer FROM knowledge_entries")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut l = ledger.lock().unwrap();
    let unsettled: Vec<String> =
        l.entries.iter().filter(|(_, e)| e.in_flight.is_some()).map(|(id, _)| id.clone()).collect();
    for id in unsettled {
        match entries.get(&id) {
            Some(answer) => {
                let e = l.entries.get_mut(&id).unwrap();
                e.answer = answer.clone();
                e.in_flight = None;
            }
            None => {
                l.entries.remove(&id);
                l.deleted.insert(id);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the crash suite; scripts/suite.sh runs it"]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
    });
    println!("crash suite: {rounds} rounds, SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let site = start_site().await;
    let webhook = WebhookReceiver::start(0).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let seq = Arc::new(AtomicU64::new(1));
    let mut figures = Figures::default();
    let mut problems = Vec::new();
    let started = Instant::now();

    for round in 0..rounds {
        let mut server = start_server(dir.path(), &webhook.url);
        if round > 0 {
            check_index(&server, dir.path(), &mut figures, &mut problems).await;
        }
        // A crawl every other round (a re-crawl rewrites the same pages).
        if round % 2 == 0 {
            let body = json!({"url": format!("http://{site}/"), "max_pages": SITE_PAGES, "max_depth": 5});
            let resp = server.client.post(server.url("/api/onboard")).json(&body).send().await.unwrap();
            note_status(&ledger, "onboard", resp.status());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(workload(
            server.client.clone(),
            server.base.clone(),
            ledger.clone(),
            stop.clone(),
            seq.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..2500))).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        load.await.unwrap();
        let before = problems.len();
        let snapshot = ledger.lock().unwrap().clone();
        check_database(dir.path(), &snapshot, &mut figures, &mut problems).await;
        // An edit or delete in flight at the kill is settled by the database.
        settle(&ledger, dir.path()).await;
        let l = ledger.lock().unwrap();
        println!(
            "round {:>2}: {} requests, {} answers, {} entries acknowledged so far; {} new problems",
            round + 1,
            l.created.len(),
            l.answered.len(),
            l.entries.len(),
            problems.len() - before
        );
    }

    // The last start: the index is checked once more and the outbox drains.
    let mut server = start_server(dir.path(), &webhook.url);
    check_index(&server, dir.path(), &mut figures, &mut problems).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let outbox: BTreeMap<String, String> = loop {
        let mut db = open_db(dir.path()).await;
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_outbox WHERE status <> 'sent'")
            .fetch_one(&mut db)
            .await
            .unwrap();
        if pending == 0 {
            break sqlx::query("SELECT id, request_id FROM notification_outbox WHERE target = 'webhook'")
                .fetch_all(&mut db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        }
        assert!(Instant::now() < deadline, "{pending} notifications still not sent after 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(server.stop(Duration::from_secs(15)), "the last server stops cleanly on SIGTERM");

    let attempts = webhook.attempts.lock().unwrap().clone();
    let mut bodies: HashMap<String, Vec<Value>> = HashMap::new();
    for (key, body) in attempts {
        bodies.entry(key).or_default().push(body);
    }
    let missing = outbox.keys().filter(|k| !bodies.contains_key(*k)).count();
    let unknown = bodies.keys().filter(|k| !outbox.contains_key(*k)).count();
    let conflicting = bodies.values().filter(|b| b.iter().any(|x| *x != b[0])).count();
    let redelivered: usize = bodies.values().map(|b| b.len() - 1).sum();

    let l = ledger.lock().unwrap().clone();
    figures.creates = l.created.len();
    figures.answers = l.answered.len();
    figures.entries = l.entries.len();
    println!("crash suite: {rounds} rounds of kill -9 in {:.0?}", started.elapsed());
    println!(
        "  acknowledged: {} help requests, {} answers, {} knowledge entries (+{} deleted)",
        figures.creates,
        figures.answers,
        figures.entries,
        l.deleted.len()
    );
    println!(
        "  lost: {} requests, {} answers, {} entries; outbox mismatches {}, learned mismatches {}, index mismatches {}",
        figures.lost_creates,
        figures.lost_answers,
        figures.lost_entries,
        figures.wrong_outbox,
        figures.wrong_learned,
        figures.index_mismatches
    );
    println!(
        "  notifications: {} for the gateway in the outbox, {} never delivered, {} unknown keys, {} keys with differing bodies, {} redeliveries under the same key",
        outbox.len(),
        missing,
        unknown,
        conflicting,
        redelivered
    );
    let mut db = open_db(dir.path()).await;
    let passages: i64 = sqlx::query_scalar("SELECT count(*) FROM page_passages").fetch_one(&mut db).await.unwrap();
    println!("  crawled passages in the database (and the index): {passages}");
    println!("  5xx answers: {}", l.server_errors.len());
    assert!(l.server_errors.is_empty(), "server errors: {:?}", l.server_errors);
    // Each round re-checks everything: a problem found once is found again.
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!((missing, unknown, conflicting), (0, 0, 0), "every notification delivered under its own key");
    assert!(figures.creates > 0 && figures.answers > 0, "the load did something");
}
