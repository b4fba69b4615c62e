//! Test harness for Switchboard's end-to-end tests: starts the real server
//! (`switchboard_server::run`) on `127.0.0.1:0` over a temp data directory,
//! with an authenticated HTTP client, an event-stream reader, and a local
//! webhook receiver that can be told to fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard_server::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

pub mod eval;
pub mod fake_cloud;
pub mod livekit;
pub mod model;
pub mod process;
pub mod speech;

pub const TOKEN: &str = "test-token-0123456789";

/// A config for a test: fixed token, fast outbox retries.
pub fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.api_token = Some(TOKEN.into());
    c.outbox.base_backoff = Duration::from_millis(50);
    c.outbox.max_backoff = Duration::from_millis(400);
    c.outbox.delivery_timeout = Duration::from_secs(2);
    // Tests that need a model plug one in (scripted, or the embedded one).
    c.llm.engine = switchboard_llm::EngineKind::None;
    c
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), switchboard_server::StartError>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let data_dir = config.data_dir.clone();
        let task = tokio::spawn(switchboard_server::run(config, listener, async move {
            let _ = stopped.await;
        }));
        let server = TestServer {
            base: format!("http://{addr}"),
            data_dir,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(self.url("/health")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server at {} never became healthy", self.base);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(TOKEN)
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(TOKEN).json(body)
    }

    pub fn put(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client.put(self.url(path)).bearer_auth(TOKEN).json(body)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.delete(self.url(path)).bearer_auth(TOKEN)
    }

    /// GET and parse JSON, asserting the status.
    pub async fn get_json(&self, path: &str, status: u16) -> Value {
        expect(self.get(path).send().await.unwrap(), status).await
    }

    /// POST and parse JSON, asserting the status.
    pub async fn post_json(&self, path: &str, body: &Value, status: u16) -> Value {
        expect(self.post(path, body).send().await.unwrap(), status).await
    }

    /// Opens a help request and returns it.
    pub async fn create_request(&self, question: &str) -> Value {
        let body = serde_json::json!({
            "customer_name": "Ada Lovelace",
            "channel": "phone",
            "question": question,
            "customer_contact": "+1-555-0100",
        });
        self.post_json("/api/help-requests", &body, 201).await
    }

    /// With `--demo`: waits until the demo website's crawl job (started in
    /// the background at start) has finished, and returns the job.
    pub async fn wait_demo_site(&self) -> Value {
        eventually(Duration::from_secs(60), || async {
            let jobs = self.get_json("/api/jobs", 200).await;
            jobs.as_array()
                .and_then(|j| j.last())
                .filter(|j| !matches!(j["state"].as_str(), Some("queued" | "running")))
                .cloned()
        })
        .await
    }

    /// Starts an agent session for a caller; returns its id.
    pub async fn start_session(&self, name: &str, contact: &str) -> String {
        let body = serde_json::json!({"caller_name": name, "caller_contact": contact});
        self.post_json("/api/sessions", &body, 201).await["id"].as_str().unwrap().to_string()
    }

    /// Sends a caller's message and waits for the whole turn (JSON mode).
    pub async fn ask(&self, session: &str, text: &str) -> Value {
        let resp = self
            .post(&format!("/api/sessions/{session}/messages"), &serde_json::json!({ "text": text }))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        expect(resp, 200).await
    }

    /// Subscribes to `/api/events`.
    pub async fn events(&self) -> EventStream {
        let url = format!("{}/api/events?token={TOKEN}", self.base.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("event stream connects");
        EventStream { ws }
    }

    /// Stops the server and waits until every background task finished.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let r = tokio::time::timeout(Duration::from_secs(10), t).await.expect("server stops within 10 s");
            r.expect("server task did not panic").expect("server returned Ok");
        }
    }
}

/// The grounding decision of a turn's reply, as `TestServer::ask` returns it.
pub fn decision(outcome: &Value) -> &str {
    outcome["reply"]["grounding"]["decision"].as_str().unwrap_or("")
}

/// Asserts the status and returns the JSON body (`null` when empty).
pub async fn expect(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// Asserts an API error: status and `error.code`; returns the error object.
pub async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    let body = expect(resp, status).await;
    assert_eq!(body["error"]["code"], code, "error body: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error has a message: {body}");
    body["error"].clone()
}

/// Polls `f` every 25 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < limit, "condition not met within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The JSON events of `/api/events`.
pub struct EventStream {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl EventStream {
    /// The next event, or `None` after `wait` without one.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(wait, self.ws.next()).await.ok()??.ok()?;
            match msg {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).expect("event is JSON")),
                Message::Ping(p) => {
                    let _ = self.ws.send(Message::Pong(p)).await;
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The next event; panics after 5 s.
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(5)).await.expect("an event within 5 s")
    }

    /// Skips events until one of type `ty` arrives.
    pub async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            let e = self.next().await;
            if e["type"] == ty {
                return e;
            }
        }
    }
}

/// A local HTTP endpoint standing in for an SMS gateway: answers 503 to the
/// first `fail_first` requests, then 200, recording every body it accepted.
pub struct WebhookReceiver {
    pub url: String,
    pub accepted: Arc<Mutex<Vec<Value>>>,
    pub attempts: Arc<Mutex<Vec<(String, Value)>>>,
    task: JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start(fail_first: usize) -> WebhookReceiver {
        use axum::http::{HeaderMap, StatusCode};
        let accepted: Arc<Mutex<Vec<Value>>> = Arc::default();
        let attempts: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let (acc, att) = (accepted.clone(), attempts.clone());
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                let (acc, att) = (acc.clone(), att.clone());
                async move {
                    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let n = {
                        let mut a = att.lock().unwrap();
                        a.push((key, body.clone()));
                        a.len()
                    };
                    if n <= fail_first {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        acc.lock().unwrap().push(body);
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { url, accepted, attempts, task }
    }

    /// The notifications accepted so far, once there is at least one
    /// (waiting up to 5 s).
    pub async fn first_accepted(&self) -> Vec<Value> {
        eventually(Duration::from_secs(5), || async {
            let a = self.accepted.lock().unwrap().clone();
            (!a.is_empty()).then_some(a)
        })
        .await
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
