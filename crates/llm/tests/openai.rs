//! `OpenAiEngine` against a local fake of `/v1/chat/completions` that speaks
//! the real wire format: server-sent events written in arbitrary byte
//! chunks, streamed tool-call deltas, HTTP errors, broken JSON, stalls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use switchboard_core::llm::{
    ChatMessage, ChatRequest, FinishReason, LanguageModel, LlmError, LlmEvent, LlmStream, ToolCall, ToolSpec,
};
use switchboard_llm::OpenAiEngine;

const KEY: &str = "sk-test-0123456789";

#[derive(Clone)]
enum Reply {
    /// Body pieces written as separate chunks, with a pause between them.
    Sse(Vec<String>),
    Status(u16, String),
    /// Headers, then the pieces, then nothing ever again.
    StallAfter(Vec<String>),
    /// Never answers at all.
    StallBeforeHeaders,
    /// An endless stream; `dropped` is set when the client goes away.
    Endless,
}

#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct Fake {
    reply: Reply,
    seen: Arc<Mutex<Vec<Seen>>>,
    dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn completions(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    fake.seen.lock().unwrap().push(Seen {
        authorization: headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_string()),
        body: serde_json::from_slice(&body).expect("the engine sent JSON"),
    });
    let sse = |body: Body| {
        ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
    };
    match fake.reply {
        Reply::Status(code, text) => (StatusCode::from_u16(code).unwrap(), text).into_response(),
        Reply::Sse(pieces) => sse(Body::from_stream(pieces_stream(pieces, false))),
        Reply::StallAfter(pieces) => sse(Body::from_stream(pieces_stream(pieces, true))),
        Reply::StallBeforeHeaders => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Reply::Endless => {
            let guard = SetOnDrop(fake.dropped.clone());
            let stream = futures::stream::unfold((0u64, guard), |(n, guard)| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let line = format!("data: {}\n\n", delta(&format!("t{n} ")));
                Some((Ok::<_, std::io::Error>(Bytes::from(line)), (n + 1, guard)))
            });
            sse(Body::from_stream(stream))
        }
    }
}

fn pieces_stream(
    pieces: Vec<String>,
    stall: bool,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold((pieces.into_iter(), stall), |(mut it, stall)| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        match it.next() {
            Some(p) => Some((Ok(Bytes::from(p)), (it, stall))),
            None if stall => {
                futures::future::pending::<()>().await;
                None
            }
            None => None,
        }
    })
}

/// Starts a fake server; returns its `/v1` base URL.
async fn serve(reply: Reply) -> (String, Fake) {
    let fake = Fake { reply, seen: Arc::default(), dropped: Arc::default() };
    let app = axum::Router::new().route("/v1/chat/completions", post(completions)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), fake)
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
    .to_string()
}

fn delta(text: &str) -> String {
    chunk(json!({"content": text}), None)
}

/// The event lines of a whole stream, then cut into pieces of `n` bytes
/// (so lines, and the JSON in them, split anywhere).
fn cut(events: &[String], n: usize) -> Vec<String> {
    let raw: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    raw.as_bytes().chunks(n).map(|c| String::from_utf8_lossy(c).into_owned()).collect()
}

fn request(messages: Vec<ChatMessage>, tools: Vec<ToolSpec>, timeout: Duration) -> ChatRequest {
    ChatRequest { messages, tools, max_tokens: 200, temperature: 0.2, timeout, grammar: None }
}

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Current weather for a city".into(),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    }
}

/// Reads the stream to its end: the events, and the error that ended it, if any.
async fn drain(mut rx: LlmStream) -> (Vec<LlmEvent>, Option<LlmError>) {
    let mut events = Vec::new();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => {
                assert!(rx.recv().await.is_none(), "an error ends the stream");
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

fn text_of(events: &[LlmEvent]) -> String {
    events.iter().filter_map(|e| if let LlmEvent::Token(t) = e { Some(t.as_str()) } else { None }).collect()
}

#[tokio::test]
async fn streams_text_and_sends_the_request_in_wire_format() {
    let events = vec![
        chunk(json!({"role": "assistant", "content": ""}), None),
        delta("Hel"),
        delta("lo, "),
        delta("wörld"),
        chunk(json!({}), Some("stop")),
        json!({"id": "x", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}})
            .to_string(),
        "[DONE]".to_string(),
    ];
    let (url, fake) = serve(Reply::Sse(cut(&events, 7))).await;
    let engine = OpenAiEngine::new(&url, "test-model", Some(KEY.into())).unwrap();
    let rx = engine
        .chat(request(vec![ChatMessage::system("Be kind."), ChatMessage::user("Hi")], vec![], Duration::from_secs(10)))
        .await
        .unwrap();
    let (got, err) = drain(rx).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&got), "Hello, wörld");
    assert!(got.len() >= 4, "tokens arrive one by one: {got:?}");
    assert_eq!(
        got.last(),
        Some(&LlmEvent::Done { finish: FinishReason::Stop, prompt_tokens: 11, completion_tokens: 4 })
    );

    let seen = fake.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(seen.body["model"], "test-model");
    assert_eq!(seen.body["stream"], true);
    assert_eq!(seen.body["max_tokens"], 200);
    assert!((seen.body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(
        seen.body["messages"],
        json!([{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}])
    );
    assert!(seen.body.get("tools").is_none() && seen.body.get("tool_choice").is_none());
}

#[tokio::test]
async fn joins_streamed_parallel_tool_call_deltas() {
    let call_delta = |index: u32, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut f = json!({"arguments": args});
        if let Some(n) = name {
            f["name"] = json!(n);
        }
        let mut c = json!({"index": index, "function": f});
        if let Some(id) = id {
            c["id"] = json!(id);
            c["type"] = json!("function");
        }
        chunk(json!({"tool_calls": [c]}), None)
    };
    let events = vec![
        chunk(json!({"role": "assistant", "content": null}), None),
        call_delta(0, Some("call_paris"), Some("get_weather"), ""),
        call_delta(0, None, None, "{\"ci"),
        call_delta(0, None, None, "ty\": \"Pa"),
        call_delta(1, Some("call_rome"), Some("get_weather"), "{\"city\""),
        call_delta(0, None, None, "ris\"}"),
        call_delta(1, None, None, ": \"Ro"),
        call_delta(1, None, None, "me\"}"),
        chunk(json!({}), Some("tool_calls")),
        "[DONE]".to_string(),
    ];
    let (url, fake) = serve(Reply::Sse(cut(&events, 13))).await;
    let engine = OpenAiEngine::new(&url, "test-model", Some(KEY.into())).unwrap();

    // A follow-up turn: the earlier call and its result go back on the wire.
    let earlier = ToolCall { id: "call_0".into(), name: "get_weather".into(), arguments: r#"{"city":"Oslo"}"#.into() };
    let messages = vec![
        ChatMessage::system("Use tools."),
        ChatMessage::user("Weather in Oslo?"),
        ChatMessage::assistant("", vec![earlier]),
        ChatMessage::tool("call_0", r#"{"temp_c": 3}"#),
        ChatMessage::assistant("It is 3 °C in Oslo.", vec![]),
        ChatMessage::user("And in Paris and Rome?"),
    ];
    let rx = engine.chat(request(messages, vec![weather_tool()], Duration::from_secs(10))).await.unwrap();
    let (got, err) = drain(rx).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        got,
        vec![
            LlmEvent::ToolCall(ToolCall {
                id: "call_paris".into(),
                name: "get_weather".into(),
                arguments: r#"{"city": "Paris"}"#.into()
            }),
            LlmEvent::ToolCall(ToolCall {
                id: "call_rome".into(),
                name: "get_weather".into(),
                arguments: r#"{"city": "Rome"}"#.into()
            }),
            LlmEvent::Done { finish: FinishReason::ToolCalls, prompt_tokens: 0, completion_tokens: 0 },
        ]
    );
    for ev in &got {
        if let LlmEvent::ToolCall(c) = ev {
            serde_json::from_str::<Value>(&c.arguments).expect("joined arguments are JSON");
        }
    }

    let body = fake.seen.lock().unwrap()[0].body.clone();
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }}])
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_0", "content": "{\"temp_c\": 3}"},
            {"role": "assistant", "content": "It is 3 °C in Oslo."},
            {"role": "user", "content": "And in Paris and Rome?"},
        ])
    );
}

#[tokio::test]
async fn http_401_is_a_protocol_error_without_the_key() {
    let body =
        json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error"}});
    let (url, _) = serve(Reply::Status(401, body.to_string())).await;
    let engine = OpenAiEngine::new(&url, "m", Some(KEY.into())).unwrap();
    let err = engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_secs(5))).await.unwrap_err();
    let LlmError::Protocol(msg) = &err else { panic!("expected Protocol, got {err:?}") };
    assert!(msg.contains("401"), "{msg}");
    assert!(msg.contains("Incorrect API key"), "{msg}");
    assert!(!msg.contains(KEY) && !format!("{err:?}").contains(KEY), "{msg}");
}

#[tokio::test]
async fn http_500_is_a_protocol_error_with_the_status() {
    let (url, _) = serve(Reply::Status(500, "upstream exploded".into())).await;
    let engine = OpenAiEngine::new(&url, "m", None).unwrap();
    match engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_secs(5))).await {
        Err(LlmError::Protocol(msg)) => assert!(msg.contains("500") && msg.contains("upstream exploded"), "{msg}"),
        other => panic!("expected Protocol, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_json_line_ends_the_stream_with_a_protocol_error() {
    let events = vec![delta("Hi"), "{\"choices\": [{\"delta\": {\"content\": \"x\"".to_string(), delta("never")];
    let (url, _) = serve(Reply::Sse(cut(&events, 5))).await;
    let engine = OpenAiEngine::new(&url, "m", None).unwrap();
    let rx = engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_secs(5))).await.unwrap();
    let (got, err) = drain(rx).await;
    assert_eq!(got, vec![LlmEvent::Token("Hi".into())]);
    assert!(matches!(err, Some(LlmError::Protocol(ref m)) if m.contains("unreadable")), "{err:?}");
}

#[tokio::test]
async fn a_stream_cut_short_is_a_protocol_error() {
    let (url, _) = serve(Reply::Sse(cut(&[delta("Hi")], 100))).await;
    let engine = OpenAiEngine::new(&url, "m", None).unwrap();
    let rx = engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_secs(5))).await.unwrap();
    let (got, err) = drain(rx).await;
    assert_eq!(got, vec![LlmEvent::Token("Hi".into())]);
    assert!(matches!(err, Some(LlmError::Protocol(_))), "{err:?}");
}

#[tokio::test]
async fn a_server_that_stalls_mid_stream_times_out() {
    let (url, _) = serve(Reply::StallAfter(cut(&[delta("Hel")], 100))).await;
    let engine = OpenAiEngine::new(&url, "m", None).unwrap();
    let started = std::time::Instant::now();
    let rx = engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_millis(400))).await.unwrap();
    let (got, err) = drain(rx).await;
    assert_eq!(got, vec![LlmEvent::Token("Hel".into())]);
    assert!(matches!(err, Some(LlmError::Timeout)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let (url, _) = serve(Reply::StallBeforeHeaders).await;
    let engine = OpenAiEngine::new(&url, "m", None).unwrap();
    let started = std::time::Instant::now();
    let err =
        engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_millis(300))).await.unwrap_err();
    assert!(matches!(err, LlmError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Bind and drop a listener: nothing listens on that port now.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let engine = OpenAiEngine::new(&format!("http://127.0.0.1:{port}/v1"), "m", None).unwrap();
    match engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_secs(5))).await {
        Err(LlmError::Unavailable(msg)) => assert!(msg.contains(&port.to_string()), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn no_key_sends_no_authorization_header() {
    let (url, fake) = serve(Reply::Sse(cut(&[chunk(json!({}), Some("stop")), "[DONE]".into()], 1000))).await;
    let engine = OpenAiEngine::new(&url, "m", None).unwrap();
    let rx = engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_secs(5))).await.unwrap();
    let (got, err) = drain(rx).await;
    assert!(err.is_none());
    assert_eq!(got, vec![LlmEvent::Done { finish: FinishReason::Stop, prompt_tokens: 0, completion_tokens: 0 }]);
    assert_eq!(fake.seen.lock().unwrap()[0].authorization, None);
}

#[tokio::test]
async fn dropping_the_receiver_stops_reading() {
    let (url, fake) = serve(Reply::Endless).await;
    let engine = OpenAiEngine::new(&url, "m", None).unwrap();
    let mut rx = engine.chat(request(vec![ChatMessage::user("hi")], vec![], Duration::from_secs(30))).await.unwrap();
    assert!(matches!(rx.recv().await, Some(Ok(LlmEvent::Token(_)))));
    drop(rx);
    // The engine drops the response, the connection closes, and the
    // server's body stream is dropped.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !fake.dropped.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < deadline, "the engine kept reading after the receiver was dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
