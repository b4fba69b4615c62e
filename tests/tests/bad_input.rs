//! Bad input end to end: every malformed, invalid, unauthorised or repeated
//! request gets its clear 4xx error, and nothing already stored changes.

use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use switchboard_tests::*;
use tempfile::TempDir;

// ---------------------------------------------------------------- helpers

async fn start() -> (TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    (dir, server)
}

/// A valid body for `POST /api/help-requests`.
fn new_request() -> Value {
    json!({
        "customer_name": "Grace Hopper",
        "channel": "phone",
        "question": "Do you repair compilers?",
        "customer_contact": "+1-555-0199",
    })
}

/// `base` with `key` set to `value` (or removed when `value` is null).
fn with(mut base: Value, key: &str, value: Value) -> Value {
    let obj = base.as_object_mut().unwrap();
    if value.is_null() {
        obj.remove(key);
    } else {
        obj.insert(key.into(), value);
    }
    base
}

fn chars(n: usize) -> String {
    "x".repeat(n)
}

/// A well-formed id that names nothing.
fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn help_requests(server: &TestServer) -> Value {
    server.get_json("/api/help-requests", 200).await
}

async fn knowledge(server: &TestServer) -> Value {
    server.get_json("/api/knowledge-base", 200).await
}

/// Everything stored: the request list and the knowledge list.
async fn snapshot(server: &TestServer) -> (Value, Value) {
    (help_requests(server).await, knowledge(server).await)
}

/// Sends and asserts an API error; `mentions` must appear in its message.
async fn refused(req: RequestBuilder, status: u16, code: &str, mentions: &str) -> Value {
    let err = expect_error(req.send().await.unwrap(), status, code).await;
    let message = err["message"].as_str().unwrap();
    assert!(message.contains(mentions), "message {message:?} should mention {mentions:?}");
    err
}

/// A request with a raw body and an optional Content-Type.
fn raw(server: &TestServer, path: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> RequestBuilder {
    let req = server.client.post(server.url(path)).bearer_auth(TOKEN).body(body);
    match content_type {
        Some(ct) => req.header(CONTENT_TYPE, ct),
        None => req,
    }
}

// ---------------------------------------------------------------- 1. creation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_help_request_rejects_bad_input_and_stores_nothing() {
    let (_dir, server) = start().await;
    server.create_request("Are you open on Sundays?").await;

    // Exactly at the limit is fine.
    let at_limit =
        server.post_json("/api/help-requests", &with(new_request(), "question", json!(chars(2000))), 201).await;
    assert_eq!(at_limit["question"].as_str().unwrap().chars().count(), 2000);

    let before = snapshot(&server).await;
    assert_eq!(before.0.as_array().unwrap().len(), 2);

    let invalid: &[(&str, Value, u16, &str, &str)] = &[
        ("question", json!(""), 422, "validation_failed", "question"),
        ("question", json!("  \n\t "), 422, "validation_failed", "question"),
        ("question", Value::Null, 422, "validation_failed", "question"),
        ("question", json!(chars(2001)), 422, "validation_failed", "question"),
        ("question", json!(5), 422, "validation_failed", "question"),
        ("customer_name", json!(chars(121)), 422, "validation_failed", "customer_name"),
        ("customer_name", json!("Ada\u{7}"), 422, "validation_failed", "customer_name"),
        ("channel", json!(chars(33)), 422, "validation_failed", "channel"),
        ("channel", json!("sms gateway"), 422, "validation_failed", "channel"),
        ("customer_contact", json!(chars(321)), 422, "validation_failed", "customer_contact"),
        ("priority", json!("urgent"), 422, "validation_failed", "priority"),
    ];
    for (field, value, status, code, mentions) in invalid {
        let body = with(new_request(), field, value.clone());
        refused(server.post("/api/help-requests", &body), *status, code, mentions).await;
    }

    let valid_json = new_request().to_string();
    refused(
        raw(&server, "/api/help-requests", Some("application/json"), r#"{"customer_name":"#),
        400,
        "bad_request",
        "",
    )
    .await;
    refused(raw(&server, "/api/help-requests", None, valid_json.clone()), 415, "unsupported_media_type", "").await;
    refused(raw(&server, "/api/help-requests", Some("text/plain"), valid_json), 415, "unsupported_media_type", "")
        .await;
    let huge = with(new_request(), "question", json!(chars(70_000)));
    refused(server.post("/api/help-requests", &huge), 413, "payload_too_large", "").await;

    assert_eq!(snapshot(&server).await, before, "bad input changed what is stored");
    server.stop().await;
}

// ---------------------------------------------------------------- 2 + 3. ids and filters

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_and_bad_filters_are_refused() {
    let (_dir, server) = start().await;
    let pending = server.create_request("Do you deliver?").await;
    let done = server.create_request("Do you take cards?").await;
    server
        .post_json(
            &format!("/api/help-requests/{}/response", done["id"].as_str().unwrap()),
            &json!({"answer": "Yes."}),
            200,
        )
        .await;
    server
        .post_json("/api/knowledge-base", &json!({"question": "Where can I park?", "answer": "Behind the shop."}), 201)
        .await;
    let before = snapshot(&server).await;

    let answer = json!({"answer": "Yes."});
    let entry = json!({"question": "Is there wifi?", "answer": "Yes."});
    for id in [unknown_id(), "nope".to_string()] {
        let hr = format!("/api/help-requests/{id}");
        let kb = format!("/api/knowledge-base/{id}");
        let attempts = [
            server.get(&hr),
            server.post(&format!("{hr}/response"), &answer),
            server.post(&format!("{hr}/timeout"), &json!({})),
            server.get(&kb),
            server.put(&kb, &entry),
            server.delete(&kb),
        ];
        for req in attempts {
            refused(req, 404, "not_found", "not found").await;
        }
    }

    refused(server.get("/api/help-requests?status=bogus"), 400, "bad_request", "bogus").await;
    refused(server.get("/api/help-requests?foo=1"), 400, "bad_request", "foo").await;
    let only_pending = server.get_json("/api/help-requests?status=pending", 200).await;
    let ids: Vec<&Value> = only_pending.as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&pending["id"]]);
    assert_eq!(server.get_json("/api/help-requests?status=", 200).await, before.0, "an empty filter lists all");

    assert_eq!(snapshot(&server).await, before);
    server.stop().await;
}

// ---------------------------------------------------------------- 4. responding

fn respond_path(request: &Value) -> String {
    format!("/api/help-requests/{}/response", request["id"].as_str().unwrap())
}

fn timeout_path(request: &Value) -> String {
    format!("/api/help-requests/{}/timeout", request["id"].as_str().unwrap())
}

async fn fetch(server: &TestServer, request: &Value) -> Value {
    server.get_json(&format!("/api/help-requests/{}", request["id"].as_str().unwrap()), 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responding_refuses_invalid_and_repeated_answers() {
    let (_dir, server) = start().await;

    // Invalid answers leave the request pending and the knowledge base alone.
    let req = server.create_request("Do you open on holidays?").await;
    let before = snapshot(&server).await;
    let invalid = [
        (json!({"answer": "   ", "unresolved": false}), "answer"),
        (json!({"unresolved": false}), "answer"),
        (json!({"answer": chars(4001)}), "answer"),
        (json!({"answer": "Yes.", "topic": chars(81)}), "topic"),
        (json!({"answer": "Yes.", "notes": chars(2001)}), "notes"),
        (json!({"answer": "Yes.", "supervisor": chars(121)}), "supervisor"),
        (json!({"answer": "Yes.", "answr": "typo"}), "answr"),
    ];
    for (body, field) in &invalid {
        refused(server.post(&respond_path(&req), body), 422, "validation_failed", field).await;
    }
    let still = fetch(&server, &req).await;
    assert_eq!(still["status"], "pending");
    assert_eq!(still["answer"], Value::Null);
    assert_eq!(snapshot(&server).await, before);

    // The first answer wins; a second one is a conflict naming the winner.
    server.post_json(&respond_path(&req), &json!({"answer": "Yes, 10-4.", "supervisor": "Sam"}), 200).await;
    let answered = snapshot(&server).await;
    let stored = fetch(&server, &req).await;
    let err = refused(
        server.post(&respond_path(&req), &json!({"answer": "No.", "supervisor": "Kim"})),
        409,
        "conflict",
        "Sam",
    )
    .await;
    assert_eq!(err["details"]["current"]["status"], "resolved");
    assert_eq!(err["details"]["current"]["resolved_by"], "Sam");
    assert_eq!(err["details"]["current"]["answer"], "Yes, 10-4.");
    refused(server.post(&timeout_path(&req), &json!({})), 409, "conflict", "Sam").await;
    assert_eq!(fetch(&server, &req).await, stored);
    assert_eq!(snapshot(&server).await, answered);

    // A timed-out request cannot be answered or timed out again.
    let late = server.create_request("Can I bring my dog?").await;
    let timed_out = server.post_json(&timeout_path(&late), &json!({}), 200).await;
    assert_eq!(timed_out["status"], "unresolved");
    let before = snapshot(&server).await;
    let err =
        refused(server.post(&respond_path(&late), &json!({"answer": "Yes."})), 409, "conflict", "timed out").await;
    assert_eq!(err["details"]["current"]["resolved_by"], "system");
    refused(server.post(&timeout_path(&late), &json!({})), 409, "conflict", "timed out").await;
    assert_eq!(fetch(&server, &late).await, timed_out);
    assert_eq!(snapshot(&server).await, before);

    // "Can't answer" needs no answer, and teaches the knowledge base nothing.
    let hard = server.create_request("What is the meaning of life?").await;
    let kb_before = knowledge(&server).await;
    let r = server.post_json(&respond_path(&hard), &json!({"unresolved": true, "notes": "No idea."}), 200).await;
    assert_eq!(r["request"]["status"], "unresolved");
    assert_eq!(r["request"]["answer"], Value::Null);
    assert_eq!(r["request"]["notes"], "No idea.");
    assert_eq!(r["knowledge_entry"], Value::Null);
    assert_eq!(knowledge(&server).await, kb_before);

    server.stop().await;
}

// ---------------------------------------------------------------- 5. auth

/// How a request presents (or fails to present) the token.
fn authorize(req: RequestBuilder, auth: Option<&str>) -> RequestBuilder {
    match auth {
        Some(value) => req.header(AUTHORIZATION, value),
        None => req,
    }
}

/// The four routes, built without credentials.
fn api_routes(server: &TestServer) -> Vec<(RequestBuilder, u16)> {
    let c = &server.client;
    vec![
        (c.get(server.url("/api/help-requests")), 200),
        (c.post(server.url("/api/help-requests")).json(&new_request()), 201),
        (c.get(server.url("/api/knowledge-base")), 200),
        (c.get(server.url("/api/openapi.json")), 200),
    ]
}

async fn unauthorized(req: RequestBuilder) {
    let resp = req.send().await.unwrap();
    let challenge = resp.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_string());
    expect_error(resp, 401, "unauthorized").await;
    assert_eq!(challenge.as_deref(), Some("Bearer"), "a 401 names the scheme to use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requires_the_bearer_token() {
    let (_dir, server) = start().await;
    server.create_request("Is the token checked?").await;
    let before = snapshot(&server).await;

    for bad in [None, Some("Bearer wrong"), Some("Basic xyz"), Some("Bearer "), Some(TOKEN)] {
        for (req, _) in api_routes(&server) {
            unauthorized(authorize(req, bad)).await;
        }
    }
    // A token in the query string is for the event stream only.
    unauthorized(server.client.get(server.url(&format!("/api/help-requests?token={TOKEN}")))).await;
    unauthorized(server.client.post(server.url(&format!("/api/help-requests?token={TOKEN}"))).json(&new_request()))
        .await;
    assert_eq!(snapshot(&server).await, before, "a refused create stored something");

    let good = format!("Bearer {TOKEN}");
    for (req, status) in api_routes(&server) {
        expect(authorize(req, Some(&good)).send().await.unwrap(), status).await;
    }
    let health = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(expect(health, 200).await["status"], "ok");
    expect_error(server.get("/api/no-such-route").send().await.unwrap(), 404, "not_found").await;
    // Without the token an unknown path answers like a known one: 401, so
    // the API's routes cannot be mapped without credentials.
    for path in ["/api/no-such-route", "/api/help-requests/x/y/z", "/api/admin"] {
        unauthorized(server.client.get(server.url(path))).await;
    }

    server.stop().await;
}

/// The UI and the API tell browsers: only this origin's scripts, never in a
/// frame, no content-type sniffing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_are_told_to_load_only_our_code_and_never_frame_it() {
    let (_dir, server) = start().await;
    for path in ["/", "/health", "/api/help-requests"] {
        let resp = server.get(path).send().await.unwrap();
        let h = resp.headers();
        let csp = h.get("content-security-policy").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp:?}");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{path}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_token_is_refused_on_paths_that_merely_end_in_events() {
    let (_dir, server) = start().await;
    for path in ["/api/help-requests/events", "/api/knowledge-base/events"] {
        unauthorized(server.client.get(server.url(&format!("{path}?token={TOKEN}")))).await;
    }
    server.stop().await;
}

// ---------------------------------------------------------------- 6. token file

async fn status_with_token(server: &TestServer, token: &str) -> u16 {
    server.client.get(server.url("/api/help-requests")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_token_file_is_private_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let token_config = || {
        let mut c = config(dir.path());
        c.api_token = None;
        c
    };
    let path = dir.path().join("api-token");

    let server = TestServer::start(token_config()).await;
    let token = std::fs::read_to_string(&path).expect("token file created");
    assert!(!token.trim().is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(status_with_token(&server, token.trim()).await, 200);
    assert_eq!(status_with_token(&server, TOKEN).await, 401, "the fixed test token is not this install's");
    server.stop().await;

    let server = TestServer::start(token_config()).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token, "restart keeps the token");
    assert_eq!(status_with_token(&server, token.trim()).await, 200);
    server.stop().await;
}

// ---------------------------------------------------------------- 7. CORS

async fn preflight_allows(server: &TestServer, origin: &str) -> Option<String> {
    let resp = server
        .client
        .request(Method::OPTIONS, server.url("/api/help-requests"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "preflight for {origin}: {}", resp.status());
    resp.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_the_apps_own_origins() {
    let (_dir, server) = start().await;
    let port = server.base.rsplit(':').next().unwrap().to_string();

    assert_eq!(preflight_allows(&server, "http://evil.example").await, None);
    assert_eq!(preflight_allows(&server, &format!("http://127.0.0.1:{port}0")).await, None, "another port");
    for own in [server.base.clone(), format!("http://localhost:{port}")] {
        assert_eq!(preflight_allows(&server, &own).await.as_deref(), Some(own.as_str()));
    }
    // The desktop window loads the UI from this server: no Tauri origin.
    for unused in ["tauri://localhost", "http://tauri.localhost"] {
        assert_eq!(preflight_allows(&server, unused).await, None, "{unused}");
    }

    // An actual cross-origin call may run, but its response is not shared.
    let resp = server.get("/api/help-requests").header("origin", "http://evil.example").send().await.unwrap();
    assert!(resp.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    server.stop().await;
}

// ---------------------------------------------------------------- 8. knowledge base

fn entry_path(entry: &Value) -> String {
    format!("/api/knowledge-base/{}", entry["id"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_base_rejects_bad_input_and_keeps_entries() {
    let (_dir, server) = start().await;
    let gift = server
        .post_json(
            "/api/knowledge-base",
            &json!({"question": "Do you sell gift cards?", "answer": "Yes, at the till."}),
            201,
        )
        .await;
    let park = server
        .post_json("/api/knowledge-base", &json!({"question": "Where can I park?", "answer": "Behind the shop."}), 201)
        .await;
    let before = knowledge(&server).await;
    let (gift_before, park_before) =
        (server.get_json(&entry_path(&gift), 200).await, server.get_json(&entry_path(&park), 200).await);

    let creates = [
        (json!({"question": "Is there wifi?", "answer": "  "}), 422, "validation_failed", "answer"),
        (json!({"question": "Is there wifi?"}), 422, "validation_failed", "answer"),
        (json!({"question": chars(501), "answer": "Yes."}), 422, "validation_failed", "question"),
        (json!({"question": "Is there wifi?", "answer": chars(8001)}), 422, "validation_failed", "answer"),
        (
            json!({"question": "Is there wifi?", "answer": "Yes.", "topic": chars(81)}),
            422,
            "validation_failed",
            "topic",
        ),
        (json!({"question": "do you sell GIFT CARDS", "answer": "No."}), 409, "conflict", "already exists"),
        (json!({"question": "  Do you sell   gift cards?!", "answer": "No."}), 409, "conflict", "already exists"),
    ];
    for (body, status, code, mentions) in &creates {
        refused(server.post("/api/knowledge-base", body), *status, code, mentions).await;
    }

    let updates = [
        (json!({"question": chars(501), "answer": "Yes."}), 422, "validation_failed", "question"),
        (json!({"question": "Do you sell gift cards?", "answer": ""}), 422, "validation_failed", "answer"),
        (json!({"question": "where can i park", "answer": "Nowhere."}), 409, "conflict", "already has"),
    ];
    for (body, status, code, mentions) in &updates {
        refused(server.put(&entry_path(&gift), body), *status, code, mentions).await;
    }
    assert_eq!(server.get_json(&entry_path(&gift), 200).await, gift_before);
    assert_eq!(server.get_json(&entry_path(&park), 200).await, park_before);

    refused(server.get("/api/knowledge-base?q=%20%20%20"), 422, "validation_failed", "q").await;
    refused(server.get(&format!("/api/knowledge-base?q={}", chars(501))), 422, "validation_failed", "q").await;
    for query in ["limit=abc", "offset=-1", "sort=question"] {
        refused(server.get(&format!("/api/knowledge-base?{query}")), 400, "bad_request", "").await;
    }
    for garbage in ["parking%20AND%20(", "%22unclosed", "park*~:^", "%29%29%29"] {
        let hits = server.get_json(&format!("/api/knowledge-base?q={garbage}"), 200).await;
        assert!(hits.is_array(), "q={garbage}: {hits}");
    }

    assert_eq!(knowledge(&server).await, before);
    server.stop().await;
}
