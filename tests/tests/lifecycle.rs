//! The help-request loop end to end: HTTP in, SQLite and tantivy on disk,
//! events out, webhooks delivered.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_tests::*;

const SECS5: Duration = Duration::from_secs(5);

async fn status_of(server: &TestServer, id: &str) -> Value {
    server.get_json(&format!("/api/help-requests/{id}"), 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle_through_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut events = server.events().await;

    let req = server.create_request("Can I bring my dog to my appointment?").await;
    let id = req["id"].as_str().unwrap().to_string();
    assert_eq!(req["status"], "pending");
    assert_eq!(req["customer_name"], "Ada Lovelace");
    let created = chrono_ms(&req["created_at"]);
    let deadline = chrono_ms(&req["deadline_at"]);
    assert_eq!(deadline - created, 15 * 60 * 1000, "default deadline is 15 minutes");

    let pending = server.get_json("/api/help-requests?status=pending", 200).await;
    assert_eq!(ids(&pending), vec![id.clone()]);
    assert!(ids(&server.get_json("/api/help-requests?status=resolved", 200).await).is_empty());

    // The knowledge base does not know yet.
    assert!(server.get_json("/api/knowledge-base?q=dog%20appointment", 200).await.as_array().unwrap().is_empty());

    let answer = "Well-behaved dogs are welcome in the waiting area.";
    let out = server
        .post_json(
            &format!("/api/help-requests/{id}/response"),
            &json!({"answer": answer, "topic": "policies", "supervisor": "Sam"}),
            200,
        )
        .await;
    assert_eq!(out["request"]["status"], "resolved");
    assert_eq!(out["request"]["answer"], answer);
    assert_eq!(out["request"]["resolved_by"], "Sam");
    assert_eq!(out["knowledge_entry"]["source"], "learned");
    assert_eq!(out["knowledge_entry"]["source_request_id"], id.as_str());

    // Searchable the moment the call returned, with a score, linked to its request.
    let hits = server.get_json("/api/knowledge-base?q=bring%20dog", 200).await;
    assert_eq!(hits[0]["answer"], answer);
    assert_eq!(hits[0]["source_request_id"], id.as_str());
    assert!(hits[0]["score"].as_f64().unwrap() > 0.0);

    let stored = status_of(&server, &id).await;
    assert_eq!(stored["status"], "resolved");
    assert!(stored["resolved_at"].is_string());
    assert!(ids(&server.get_json("/api/help-requests?status=pending", 200).await).is_empty());
    assert_eq!(ids(&server.get_json("/api/help-requests?status=resolved", 200).await), vec![id.clone()]);

    // Events, in order, with consecutive sequence numbers.
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(events.next().await);
    }
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["help_request.created", "knowledge.updated", "help_request.resolved", "customer.notified"]);
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "consecutive: {seqs:?}");
    assert_eq!(seen[0]["request"]["id"], id.as_str());
    let note = &seen[3]["notification"];
    assert_eq!(note["kind"], "answered");
    assert_eq!(note["customer_contact"], "+1-555-0100");
    assert!(note["message"].as_str().unwrap().contains(answer));

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_answers_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let id = server.create_request("Do you do bridal trials on Mondays?").await["id"].as_str().unwrap().to_string();

    let attempts = (0..10).map(|i| {
        let req = server.post(
            &format!("/api/help-requests/{id}/response"),
            &json!({"answer": format!("answer {i}"), "supervisor": format!("sup{i}")}),
        );
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<&Value> = results.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!(winners.len(), 1, "exactly one 200: {results:?}");
    let winner = winners[0]["request"]["resolved_by"].as_str().unwrap();
    for (s, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*s, 409);
        assert_eq!(body["error"]["code"], "conflict");
        // Every loser is told who won.
        assert_eq!(body["error"]["details"]["current"]["resolved_by"], winner);
    }
    let stored = status_of(&server, &id).await;
    assert_eq!(stored["resolved_by"], winner);
    assert_eq!(stored["answer"], winners[0]["request"]["answer"]);
    // One learned entry, not ten.
    assert_eq!(server.get_json("/api/knowledge-base", 200).await.as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_times_out_unanswered_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.request_timeout = Duration::from_millis(400);
    let server = TestServer::start(c).await;
    let mut events = server.events().await;
    let a = server.create_request("Do you sell wigs?").await["id"].as_str().unwrap().to_string();
    let b = server.create_request("Do you offer scalp massages?").await["id"].as_str().unwrap().to_string();

    for id in [&a, &b] {
        let r = eventually(SECS5, || async {
            let r = status_of(&server, id).await;
            (r["status"] == "unresolved").then_some(r)
        })
        .await;
        assert_eq!(r["resolved_by"], "system");
        assert!(r["notes"].as_str().unwrap().contains("timed out"));
    }
    let mut unresolved = Vec::new();
    while unresolved.len() < 2 {
        let e = events.next_of("help_request.unresolved").await;
        unresolved.push(e["request"]["id"].as_str().unwrap().to_string());
    }
    unresolved.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(unresolved, expected);
    let apology = events.next_of("customer.notified").await;
    assert_eq!(apology["notification"]["kind"], "unresolved");

    // A timed-out request cannot be answered any more, and learns nothing.
    let r =
        server.post(&format!("/api/help-requests/{a}/response"), &json!({"answer": "too late"})).send().await.unwrap();
    expect_error(r, 409, "conflict").await;
    assert!(server.get_json("/api/knowledge-base", 200).await.as_array().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.request_timeout = Duration::from_millis(700);
    let server = TestServer::start(c).await;
    let id = server.create_request("Is there a student discount?").await["id"].as_str().unwrap().to_string();
    server.stop().await;

    // Down past the deadline; the new process uses a long timeout, so only the
    // stored deadline can expire the request.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let server = TestServer::start(config(dir.path())).await;
    let r = eventually(SECS5, || async {
        let r = status_of(&server, &id).await;
        (r["status"] == "unresolved").then_some(r)
    })
    .await;
    assert_eq!(r["resolved_by"], "system");
    // Requests made after the restart get the new timeout.
    let fresh = server.create_request("Do you sell hair dye to take home?").await;
    assert_eq!(chrono_ms(&fresh["deadline_at"]) - chrono_ms(&fresh["created_at"]), 15 * 60 * 1000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_outbox_retries_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start(2).await;
    let mut c = config(dir.path());
    c.webhook_url = Some(hook.url.parse().unwrap());
    let server = TestServer::start(c).await;

    let id = server.create_request("Can you fit me in tonight?").await["id"].as_str().unwrap().to_string();
    server.post_json(&format!("/api/help-requests/{id}/response"), &json!({"answer": "Yes, at 7pm."}), 200).await;

    let delivered = eventually(SECS5, || async { hook.accepted.lock().unwrap().first().cloned() }).await;
    assert_eq!(delivered["request_id"], id.as_str());
    assert_eq!(delivered["kind"], "answered");
    assert_eq!(delivered["customer_contact"], "+1-555-0100");
    assert!(delivered["message"].as_str().unwrap().contains("Yes, at 7pm."));
    let attempts = hook.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3, "two failures, then success");
    assert!(
        attempts.iter().all(|(key, _)| key == delivered["id"].as_str().unwrap()),
        "one idempotency key across retries"
    );

    // A timeout notifies the customer too.
    let other = server.create_request("Do you do perms?").await["id"].as_str().unwrap().to_string();
    server.post_json(&format!("/api/help-requests/{other}/timeout"), &json!({}), 200).await;
    let apology = eventually(SECS5, || async {
        hook.accepted.lock().unwrap().iter().find(|n| n["request_id"] == other.as_str()).cloned()
    })
    .await;
    assert_eq!(apology["kind"], "unresolved");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_notifications_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let down = WebhookReceiver::start(usize::MAX).await;
    let mut c = config(dir.path());
    c.webhook_url = Some(down.url.parse().unwrap());
    let server = TestServer::start(c).await;
    let id = server.create_request("Do you have gift vouchers?").await["id"].as_str().unwrap().to_string();
    server.post_json(&format!("/api/help-requests/{id}/response"), &json!({"answer": "Yes, from $25."}), 200).await;
    eventually(SECS5, || async { (!down.attempts.lock().unwrap().is_empty()).then_some(()) }).await;
    server.stop().await;
    assert!(down.accepted.lock().unwrap().is_empty());

    // The gateway is back (at a new address); the stored notification goes out.
    let up = WebhookReceiver::start(0).await;
    let mut c = config(dir.path());
    c.webhook_url = Some(up.url.parse().unwrap());
    let server = TestServer::start(c).await;
    let n = eventually(SECS5, || async { up.accepted.lock().unwrap().first().cloned() }).await;
    assert_eq!(n["request_id"], id.as_str());
    assert_eq!(up.accepted.lock().unwrap().len(), 1, "delivered once");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_delivers_in_order_to_every_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut first = server.events().await;
    let mut second = server.events().await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(server.create_request(&format!("Question number {i}?")).await["id"].as_str().unwrap().to_string());
    }
    for stream in [&mut first, &mut second] {
        let mut got = Vec::new();
        let mut last_seq = 0;
        for _ in 0..25 {
            let e = stream.next().await;
            assert_eq!(e["type"], "help_request.created");
            let seq = e["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "seq increases");
            last_seq = seq;
            got.push(e["request"]["id"].as_str().unwrap().to_string());
        }
        assert_eq!(got, created, "same order as the API calls returned");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_crud_over_http_is_indexed_and_announced() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut events = server.events().await;
    let e = server
        .post_json(
            "/api/knowledge-base",
            &json!({"question": "Where can I park?", "answer": "Free parking behind the salon.", "topic": "location"}),
            201,
        )
        .await;
    let id = e["id"].as_str().unwrap().to_string();
    assert_eq!(e["source"], "manual");
    assert_eq!(events.next().await["type"], "knowledge.updated");
    assert_eq!(server.get_json("/api/knowledge-base?q=parking", 200).await[0]["id"], id.as_str());

    let updated = server
        .put(
            &format!("/api/knowledge-base/{id}"),
            &json!({"question": "Where can I park?", "answer": "Use the Larch Street garage."}),
        )
        .send()
        .await
        .unwrap();
    let updated = expect(updated, 200).await;
    assert_eq!(updated["answer"], "Use the Larch Street garage.");
    assert_eq!(events.next().await["type"], "knowledge.updated");
    assert_eq!(server.get_json("/api/knowledge-base?q=garage", 200).await[0]["id"], id.as_str());
    assert!(server.get_json("/api/knowledge-base?q=behind", 200).await.as_array().unwrap().is_empty(), "old text gone");
    assert_eq!(
        server.get_json(&format!("/api/knowledge-base/{id}"), 200).await["answer"],
        "Use the Larch Street garage."
    );

    expect(server.delete(&format!("/api/knowledge-base/{id}")).send().await.unwrap(), 204).await;
    let deleted = events.next().await;
    assert_eq!(deleted["type"], "knowledge.deleted");
    assert_eq!(deleted["id"], id.as_str());
    assert!(server.get_json("/api/knowledge-base?q=garage", 200).await.as_array().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_index_is_rebuilt_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    server
        .post_json(
            "/api/knowledge-base",
            &json!({"question": "Do you sell gift cards?", "answer": "Yes, from $25."}),
            201,
        )
        .await;
    server.stop().await;
    std::fs::write(dir.path().join("index/meta.json"), b"\0garbage").unwrap();
    let server = TestServer::start(config(dir.path())).await;
    assert_eq!(server.get_json("/api/knowledge-base?q=gift", 200).await.as_array().unwrap().len(), 1);
    server.stop().await;
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let server = TestServer::start(config(dir.path())).await;
    assert_eq!(server.get_json("/api/knowledge-base?q=gift", 200).await.as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_covers_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let doc = server.get_json("/api/openapi.json", 200).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/health",
        "/api/help-requests",
        "/api/help-requests/{id}",
        "/api/help-requests/{id}/response",
        "/api/help-requests/{id}/timeout",
        "/api/knowledge-base",
        "/api/knowledge-base/{id}",
        "/api/events",
        "/api/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    for schema in ["HelpRequest", "NewHelpRequest", "RespondInput", "KnowledgeEntry", "KnowledgeInput", "ErrorBody"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} documented");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // Schemas are keyed by type name: two types of one name would silently
    // become one (it happened twice). The pairs that collided stay apart.
    let props = |name: &str| doc["components"]["schemas"][name]["properties"].clone();
    assert!(props("AgentStatus")["model"].is_object() && props("RoomAgentStatus")["listening_to"].is_object());
    assert!(doc["components"]["schemas"]["ParticipantRole"]["enum"].to_string().contains("interviewer"));
    assert!(doc["components"]["schemas"]["Role"]["enum"].to_string().contains("speech_to_text"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_open_event_streams() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut events = server.events().await;
    // stop() asserts the server finished within 10 s despite the open socket.
    server.stop().await;
    assert!(events.next_within(Duration::from_secs(2)).await.is_none(), "stream ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seed_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.demo = true;
    let server = TestServer::start(c.clone()).await;
    let kb = server.get_json("/api/knowledge-base", 200).await.as_array().unwrap().len();
    let reqs = server.get_json("/api/help-requests?status=pending", 200).await.as_array().unwrap().len();
    assert!(kb >= 12, "a dozen entries: {kb}");
    assert!(reqs >= 3, "a few help requests: {reqs}");
    let hits = server.get_json("/api/knowledge-base?q=sunday", 200).await;
    assert!(!hits.as_array().unwrap().is_empty(), "demo knowledge is searchable");
    server.stop().await;
    let server = TestServer::start(c).await;
    assert_eq!(server.get_json("/api/knowledge-base", 200).await.as_array().unwrap().len(), kb);
    assert_eq!(server.get_json("/api/help-requests", 200).await.as_array().unwrap().len(), reqs);
    server.stop().await;
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

/// Milliseconds since the epoch of an RFC 3339 timestamp.
fn chrono_ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_apply_at_once_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let initial = server.get_json("/api/settings", 200).await;
    assert_eq!(
        initial,
        json!({"request_timeout_secs": 900, "webhook_url": null, "crawl_allow_private": false, "review_learned": false})
    );

    // Invalid input: 422, nothing changes.
    for bad in [
        json!({"request_timeout_secs": 5, "webhook_url": null}),
        json!({"request_timeout_secs": 600, "webhook_url": "ftp://gateway"}),
        json!({"request_timeout_secs": 600, "webhook_url": null, "extra": 1}),
    ] {
        expect_error(server.put("/api/settings", &bad).send().await.unwrap(), 422, "validation_failed").await;
    }
    assert_eq!(server.get_json("/api/settings", 200).await, initial);

    // A webhook configured at runtime receives the next notification, and the
    // new timeout applies to the next request.
    let hook = WebhookReceiver::start(0).await;
    let saved = expect(
        server
            .put("/api/settings", &json!({"request_timeout_secs": 120, "webhook_url": hook.url}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(saved["request_timeout_secs"], 120);
    let req = server.create_request("Do you sell shampoo?").await;
    assert_eq!(chrono_ms(&req["deadline_at"]) - chrono_ms(&req["created_at"]), 120_000);
    let id = req["id"].as_str().unwrap();
    server.post_json(&format!("/api/help-requests/{id}/response"), &json!({"answer": "Yes, three brands."}), 200).await;
    let n = eventually(SECS5, || async { hook.accepted.lock().unwrap().first().cloned() }).await;
    assert_eq!(n["request_id"], id);
    server.stop().await;

    // Saved settings win over the start-up configuration.
    let server = TestServer::start(config(dir.path())).await;
    assert_eq!(server.get_json("/api/settings", 200).await, saved);
    server.stop().await;
}

/// The webhook goes to the configured URL only: a redirect is not followed
/// (the delivery fails and is retried), and the URL's credentials appear
/// neither in what is stored nor in the logs' error text.
#[tokio::test]
async fn the_webhook_follows_no_redirect_and_keeps_its_credentials_out_of_errors() {
    use axum::http::{StatusCode, header};
    const SECRET: &str = "s3cret-pa55";
    // Where a redirect would lead.
    let elsewhere = WebhookReceiver::start(0).await;
    let target = elsewhere.url.clone();
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = redirector.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move || {
            let target = target.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(redirector, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.webhook_url = Some(format!("http://gateway:{SECRET}@{addr}/sms").parse().unwrap());
    let s = TestServer::start(cfg).await;
    let r = s.create_request("Do you validate parking?").await;
    let id = r["id"].as_str().unwrap();
    s.post_json(&format!("/api/help-requests/{id}/response"), &json!({"answer": "Yes, two hours."}), 200).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(elsewhere.attempts.lock().unwrap().is_empty(), "the redirect was followed");
    s.stop().await;
    server.abort();

    // Nothing in the data directory holds the password (the outbox row's
    // error included).
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "the password is in {}", p.display());
        }
    }
}

/// A delivery that fails before any answer (nothing listens) reports an
/// error without the URL, so its credentials cannot reach the logs.
#[tokio::test]
async fn a_failed_webhook_delivery_error_names_no_url() {
    use switchboard_core::notify::{Notification, NotificationKind, Notifier};
    let hook = switchboard_escalation::WebhookNotifier::new(
        Some("http://gateway:s3cret@127.0.0.1:9/sms".parse().unwrap()),
        Duration::from_secs(2),
    )
    .unwrap();
    let n = Notification {
        id: uuid::Uuid::now_v7(),
        kind: NotificationKind::Answered,
        request_id: uuid::Uuid::now_v7(),
        customer_name: "Ana".into(),
        customer_contact: "+1-555-0142".into(),
        channel: "phone".into(),
        session_id: None,
        question: "q".into(),
        answer: Some("a".into()),
        message: "Thanks for waiting. a".into(),
        follow_up_allowed: true,
    };
    let e = hook.deliver(&n).await.unwrap_err();
    assert!(!e.0.contains("s3cret") && !e.0.contains("127.0.0.1"), "{}", e.0);
}

/// Slowloris: a client that trickles its request headers a byte at a time
/// is cut off after the header read timeout instead of holding a
/// connection open for as long as it likes; a normal request still works.
#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(config(dir.path())).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut closed = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if tcp.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(10), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {
                // An error response (408) before closing counts as cut off.
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    let held = started.elapsed();
    eprintln!("a trickling client was cut off after {:.1} s", held.as_secs_f64());
    assert!(closed, "still open after {held:?}");
    assert!(held < Duration::from_secs(15), "held {held:?}");
    let ok = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    s.stop().await;
}

/// With "review answers before the agent learns them" on, an answer reaches
/// the caller at once but teaches the agent only once a supervisor
/// approves it; a dismissed one never does.
#[tokio::test]
async fn answers_can_wait_for_review_before_the_agent_learns_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(config(dir.path())).await;
    let mut settings = s.get_json("/api/settings", 200).await;
    assert_eq!(settings["review_learned"], false, "off by default: answers teach at once");
    settings["review_learned"] = json!(true);
    let resp = s.put("/api/settings", &settings).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let taught = "Yes, we validate two hours of parking at the desk.";
    let r = s.create_request("Do you validate parking tickets?").await;
    let id = r["id"].as_str().unwrap().to_string();
    // Not pending review yet: nothing to decide.
    let early = s.post(&format!("/api/help-requests/{id}/learning"), &json!({"approve": true})).send().await.unwrap();
    assert_eq!(early.status(), 409);
    let out = s.post_json(&format!("/api/help-requests/{id}/response"), &json!({"answer": taught}), 200).await;
    assert!(out["knowledge_entry"].is_null(), "{out}");
    assert_eq!(out["request"]["status"], "resolved");
    assert_eq!(out["request"]["learn_pending"], true);
    let kb = s.get_json("/api/knowledge-base?q=validate%20parking", 200).await;
    assert!(kb.as_array().unwrap().iter().all(|e| e["answer"] != taught), "learned before review: {kb}");

    // Bad input changes nothing.
    for bad in [json!({"approve": "yes"}), json!({}), json!({"approve": true, "extra": 1})] {
        let resp = s.post(&format!("/api/help-requests/{id}/learning"), &bad).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{bad}: {}", resp.status());
    }
    let unknown = uuid::Uuid::now_v7();
    let resp =
        s.post(&format!("/api/help-requests/{unknown}/learning"), &json!({"approve": true})).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(s.get_json(&format!("/api/help-requests/{id}"), 200).await["learn_pending"], true);

    // Approved: learned and searchable at once; a second decision is refused.
    let ok = s.post_json(&format!("/api/help-requests/{id}/learning"), &json!({"approve": true}), 200).await;
    assert_eq!(ok["knowledge_entry"]["answer"], taught);
    assert_eq!(ok["knowledge_entry"]["source"], "learned");
    assert_eq!(ok["request"]["learn_pending"], false);
    let kb = s.get_json("/api/knowledge-base?q=validate%20parking", 200).await;
    assert!(kb.as_array().unwrap().iter().any(|e| e["answer"] == taught), "{kb}");
    let again = s.post(&format!("/api/help-requests/{id}/learning"), &json!({"approve": true})).send().await.unwrap();
    assert_eq!(again.status(), 409);

    // Dismissed: never learned.
    let private = "Your booking is under the name Reyes.";
    let r = s.create_request("What name is my booking under?").await;
    let id = r["id"].as_str().unwrap().to_string();
    s.post_json(&format!("/api/help-requests/{id}/response"), &json!({"answer": private}), 200).await;
    let no = s.post_json(&format!("/api/help-requests/{id}/learning"), &json!({"approve": false}), 200).await;
    assert!(no["knowledge_entry"].is_null());
    let kb = s.get_json("/api/knowledge-base", 200).await;
    assert!(kb.as_array().unwrap().iter().all(|e| e["answer"] != private), "{kb}");
    s.stop().await;
}

/// Credentials in the webhook URL are write-only: settings show them masked,
/// the masked URL sent back keeps them (the gateway still gets them), and
/// masked credentials sent with another server are dropped, not carried over.
#[tokio::test]
async fn webhook_credentials_are_write_only_in_settings() {
    const SECRET: &str = "gw-s3cret-77";
    let auth: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let seen = auth.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let seen = seen.clone();
            async move {
                let a = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                seen.lock().unwrap().push(a);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(config(dir.path())).await;
    let put = |url: String| {
        let body = json!({"request_timeout_secs": 600, "webhook_url": url});
        s.put("/api/settings", &body).send()
    };
    let shown = expect(put(format!("http://gw:{SECRET}@{addr}/sms")).await.unwrap(), 200).await;
    let masked = shown["webhook_url"].as_str().unwrap().to_string();
    assert_eq!(masked, format!("http://redacted:redacted@{addr}/sms"));
    assert!(!s.get_json("/api/settings", 200).await.to_string().contains(SECRET));

    // The form sends back what it was shown: the credentials stay.
    let again = expect(put(masked.clone()).await.unwrap(), 200).await;
    assert_eq!(again["webhook_url"], masked);
    let r = s.create_request("Do you take cheques?").await;
    let id = r["id"].as_str().unwrap();
    s.post_json(&format!("/api/help-requests/{id}/response"), &json!({"answer": "No, sorry."}), 200).await;
    let header = eventually(SECS5, || async { auth.lock().unwrap().first().cloned() }).await;
    let expected = format!("Basic {}", base64_of(&format!("gw:{SECRET}")));
    assert_eq!(header, expected, "the gateway still gets the credentials");

    // Masked credentials with another server are not carried over.
    let moved = expect(put("http://redacted:redacted@127.0.0.1:9/sms".into()).await.unwrap(), 200).await;
    assert_eq!(moved["webhook_url"], "http://127.0.0.1:9/sms");
    s.stop().await;
    gateway.abort();
}

/// Standard base64 (for the Basic authorization the gateway receives).
fn base64_of(s: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
