//! The Deepgram voice agent against a local fake of the Voice Agent API
//! (`/v1/agent/converse`), which speaks the documented wire format —
//! `Welcome`, `Settings` → `SettingsApplied`, caller audio in, a turn with a
//! client-side function call, agent audio out, injected messages — and
//! fails in each way the real service can.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_cloud_voice::agent::{AgentCommand, AgentEvent, AgentLink, AgentSetup, VoiceAgent};
use switchboard_cloud_voice::deepgram_agent::{DeepgramAgent, DeepgramAgentConfig};
use switchboard_cloud_voice::usage::Usage;
use switchboard_cloud_voice::{ApiKey, CloudError};
use switchboard_core::llm::ToolSpec;
use switchboard_core::speech::AudioFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use url::Url;

mod common;

const KEY: &str = "dg-agent-test-key-0123";
const WAIT: Duration = Duration::from_secs(10);
const PROMPT: &str = "You take table bookings for Chez Nous. Be brief.";
const USER_SAID: &str = "I'd like a table for two at eight.";
const AGENT_SAID: &str = "Done: a table for two at eight.";
const SUPERVISOR: &str = "Your table is confirmed, see you tonight.";
/// 0.2 s of the agent's speech at 24 kHz, 16-bit.
const AGENT_AUDIO_BYTES: usize = 4_800 * 2;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Behaviour {
    /// A whole turn with a tool call on the first audio frame; injections
    /// refused once, then spoken.
    Converse,
    /// HTTP 429 at the handshake.
    RateLimit,
    /// Takes the settings and never confirms them.
    NoSettingsApplied,
    /// Answers the settings with an `INVALID_SETTINGS` error.
    RefuseSettings,
    /// Closes the socket (1011) after the second audio frame.
    CloseMidUtterance,
    /// Answers the first audio frame with text that is not JSON.
    Malformed,
    /// Asks for a function call whose arguments are not JSON.
    BadArguments,
    /// Answers the first audio frame with a fatal `Error`.
    ServiceError,
}

#[derive(Default, Debug)]
struct Log {
    connections: usize,
    authorization: Vec<String>,
    paths: Vec<String>,
    /// Every JSON message the client sent, in order.
    texts: Vec<Value>,
    audio_bytes: usize,
    /// The code of the client's close frame, once it came.
    close_code: Option<u16>,
}

impl Log {
    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.texts.iter().filter(|t| t["type"] == kind).collect()
    }
}

struct FakeAgent {
    url: Url,
    log: Arc<Mutex<Log>>,
}

impl FakeAgent {
    async fn start(behaviour: Behaviour) -> FakeAgent {
        let (url, log) = common::listen(move |tcp, log| serve(tcp, behaviour, log)).await;
        FakeAgent { url, log }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    /// Waits (bounded) until the client's close frame has arrived.
    async fn closed_by_client(&self) -> Option<u16> {
        let _ = tokio::time::timeout(WAIT, async {
            while self.log().close_code.is_none() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        self.log().close_code
    }
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

/// The agent's speech, sent in chunks, one of which splits a sample.
fn agent_audio() -> Vec<Message> {
    let pcm = AudioFrame::new(24_000, (0..4_800).map(|i| ((i % 48) as f32 / 48.0) - 0.5).collect()).to_pcm16_le();
    assert_eq!(pcm.len(), AGENT_AUDIO_BYTES);
    [&pcm[..1_001], &pcm[1_001..5_000], &pcm[5_000..]].iter().map(|c| Message::Binary(c.to_vec().into())).collect()
}

// The handshake callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn serve(tcp: tokio::net::TcpStream, behaviour: Behaviour, log: Arc<Mutex<Log>>) {
    let hs_log = log.clone();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let mut l = hs_log.lock().unwrap();
        l.connections += 1;
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        l.authorization.push(auth.clone());
        l.paths.push(req.uri().to_string());
        let status = if auth != format!("Token {KEY}") {
            Some(StatusCode::UNAUTHORIZED)
        } else if behaviour == Behaviour::RateLimit {
            Some(StatusCode::TOO_MANY_REQUESTS)
        } else if req.uri().path() != "/v1/agent/converse" {
            Some(StatusCode::NOT_FOUND)
        } else {
            None
        };
        match status {
            Some(s) => {
                let mut r = ErrorResponse::new(Some(r#"{"err_code":"refused"}"#.into()));
                *r.status_mut() = s;
                Err(r)
            }
            None => Ok(resp),
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else { return };
    let _ = ws.send(text(json!({"type": "Welcome", "request_id": "fake-request"}))).await;
    let mut frames = 0;
    let mut injections = 0;
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Binary(b) => {
                log.lock().unwrap().audio_bytes += b.len();
                frames += 1;
                let reply: Vec<Message> = match (behaviour, frames) {
                    (Behaviour::Converse, 1) => vec![
                        text(json!({"type": "UserStartedSpeaking"})),
                        text(json!({"type": "ConversationText", "role": "user", "content": USER_SAID})),
                        text(json!({"type": "AgentThinking", "content": "The caller wants a booking."})),
                        text(json!({"type": "FunctionCallRequest", "functions": [
                            {"id": "call-1", "name": "book_table", "arguments": "{\"people\":2,\"time\":\"20:00\"}", "client_side": true},
                            {"id": "call-2", "name": "server_lookup", "arguments": "{}", "client_side": false}
                        ]})),
                    ],
                    (Behaviour::CloseMidUtterance, 2) => {
                        let _ = ws.close(Some(CloseFrame { code: 1011u16.into(), reason: "NET-0001".into() })).await;
                        return;
                    }
                    (Behaviour::Malformed, 1) => {
                        vec![Message::Text("{\"type\": \"ConversationText\", \"role\": ".into())]
                    }
                    (Behaviour::BadArguments, 1) => vec![text(json!({"type": "FunctionCallRequest", "functions": [
                        {"id": "call-9", "name": "book_table", "arguments": "{people: 2", "client_side": true}
                    ]}))],
                    (Behaviour::ServiceError, 1) => vec![text(json!({
                        "type": "Error", "code": "INTERNAL_SERVER_ERROR", "description": "The think provider failed"
                    }))],
                    _ => vec![],
                };
                for m in reply {
                    let _ = ws.send(m).await;
                }
            }
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(json!({"type": "not JSON", "text": t.as_str()}));
                log.lock().unwrap().texts.push(v.clone());
                let mut reply: Vec<Message> = Vec::new();
                match v["type"].as_str() {
                    Some("Settings") => match behaviour {
                        Behaviour::NoSettingsApplied => {}
                        Behaviour::RefuseSettings => reply.push(text(json!({
                            "type": "Error", "code": "INVALID_SETTINGS", "description": "Unknown think model"
                        }))),
                        _ => reply.push(text(json!({"type": "SettingsApplied"}))),
                    },
                    Some("FunctionCallResponse") => {
                        let content: Value =
                            v["content"].as_str().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
                        if v["id"] == "call-1"
                            && v["name"] == "book_table"
                            && content == json!({"booked": true, "table": 12})
                        {
                            reply.push(text(
                                json!({"type": "ConversationText", "role": "assistant", "content": AGENT_SAID}),
                            ));
                            reply.push(text(json!({"type": "AgentStartedSpeaking", "total_latency": 0.9, "tts_latency": 0.2, "ttt_latency": 0.7})));
                            reply.extend(agent_audio());
                            reply.push(text(json!({"type": "AgentAudioDone"})));
                        } else {
                            reply.push(text(json!({"type": "Error", "code": "BAD_RESPONSE", "description": format!("unexpected {v}")})));
                        }
                    }
                    Some("InjectAgentMessage") => {
                        injections += 1;
                        if injections == 1 {
                            // As if the agent were still speaking: refused,
                            // then the agent finishes.
                            reply.push(text(json!({"type": "InjectionRefused", "message": "agent is speaking"})));
                            reply.push(text(json!({"type": "AgentAudioDone"})));
                        } else {
                            reply.push(text(
                                json!({"type": "ConversationText", "role": "assistant", "content": v["message"]}),
                            ));
                            reply.push(text(json!({"type": "AgentStartedSpeaking", "total_latency": 0.1, "tts_latency": 0.1, "ttt_latency": 0.0})));
                            reply.extend(agent_audio());
                            reply.push(text(json!({"type": "AgentAudioDone"})));
                        }
                    }
                    _ => {}
                }
                for m in reply {
                    let _ = ws.send(m).await;
                }
            }
            Message::Close(frame) => {
                log.lock().unwrap().close_code = Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
            }
            _ => {}
        }
    }
}

fn config(url: &Url, key: &str) -> DeepgramAgentConfig {
    let mut cfg = DeepgramAgentConfig::new(ApiKey::new(key).unwrap());
    cfg.base_url = url.clone();
    cfg.connect_timeout = Duration::from_millis(500);
    cfg.keepalive = Duration::from_secs(5);
    cfg
}

fn engine(url: &Url, key: &str, usage: Usage) -> DeepgramAgent {
    DeepgramAgent::new(config(url, key), usage).unwrap()
}

fn setup() -> AgentSetup {
    AgentSetup {
        instructions: PROMPT.into(),
        greeting: Some("Chez Nous, how can I help?".into()),
        tools: vec![ToolSpec {
            name: "book_table".into(),
            description: "Books a table".into(),
            parameters: json!({
                "type": "object",
                "properties": {"people": {"type": "integer"}, "time": {"type": "string"}},
                "required": ["people", "time"]
            }),
        }],
        language: None,
    }
}

/// 0.1 s of a 440 Hz tone at 16 kHz.
fn frame() -> AudioFrame {
    AudioFrame::new(
        16_000,
        (0..1600).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 0.3).collect(),
    )
}

async fn connect(agent: &DeepgramAgent) -> AgentLink {
    let mut link = tokio::time::timeout(WAIT, agent.connect(setup())).await.expect("connect never hangs").unwrap();
    assert_eq!(next(&mut link).await, Some(AgentEvent::Ready), "the first event is Ready");
    link
}

async fn next(link: &mut AgentLink) -> Option<AgentEvent> {
    tokio::time::timeout(WAIT, link.events.recv()).await.expect("an event or the end, never a hang")
}

/// The events up to and including `AgentDone`, with the audio frames summed
/// into one (rate, samples) entry so the order of the rest is exact.
async fn turn(link: &mut AgentLink) -> (Vec<AgentEvent>, Vec<(u32, usize)>) {
    let mut events = Vec::new();
    let mut audio = Vec::new();
    loop {
        match next(link).await {
            Some(AgentEvent::Audio(f)) => audio.push((f.rate, f.samples.len())),
            Some(AgentEvent::AgentDone) => {
                events.push(AgentEvent::AgentDone);
                return (events, audio);
            }
            Some(AgentEvent::Failed(e)) => panic!("the turn failed: {e}"),
            Some(ev) => events.push(ev),
            None => panic!("the events ended mid-turn: {events:?}"),
        }
    }
}

/// Reads to the single failure, and checks nothing follows it.
async fn failure(link: &mut AgentLink) -> CloudError {
    loop {
        match next(link).await {
            Some(AgentEvent::Failed(e)) => {
                assert_eq!(next(link).await, None, "nothing follows Failed");
                assert_no_key(&e);
                return e;
            }
            Some(_) => {}
            None => panic!("the events ended without a failure"),
        }
    }
}

fn assert_no_key(e: &CloudError) {
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(KEY) && !shown.contains("wrong-key"), "the key shows in {shown}");
    }
}

#[tokio::test]
async fn a_whole_turn_runs_the_tool_here_and_plays_the_agent_at_24_khz() {
    let fake = FakeAgent::start(Behaviour::Converse).await;
    let usage = Usage::default();
    let agent = engine(&fake.url, KEY, usage.clone());
    assert_eq!(agent.info().engine, "deepgram-agent");
    assert_eq!(agent.info().model.as_deref(), Some("gpt-4o-mini"));
    assert!(agent.info().ready);
    assert_eq!((agent.service(), agent.input_rate(), agent.output_rate()), ("Deepgram", 16_000, 24_000));
    assert!(agent.says_verbatim());

    let mut link = connect(&agent).await;
    for _ in 0..5 {
        link.audio.send(frame()).await.unwrap();
    }
    // The tool call comes first; the agent speaks once it has the result.
    let mut before_tool = Vec::new();
    let call = loop {
        match next(&mut link).await {
            Some(AgentEvent::ToolCall { call_id, name, arguments }) => break (call_id, name, arguments),
            Some(ev) => before_tool.push(ev),
            None => panic!("ended before the tool call: {before_tool:?}"),
        }
    };
    assert_eq!(
        before_tool,
        [AgentEvent::UserStartedSpeaking, AgentEvent::UserText { text: USER_SAID.into(), is_final: true }]
    );
    assert_eq!(call, ("call-1".into(), "book_table".into(), json!({"people": 2, "time": "20:00"})));
    link.commands
        .send(AgentCommand::ToolResult { call_id: call.0, name: call.1, output: json!({"booked": true, "table": 12}) })
        .await
        .unwrap();
    let (events, audio) = turn(&mut link).await;
    assert_eq!(events, [AgentEvent::AgentText(AGENT_SAID.into()), AgentEvent::AgentDone], "no second tool call");
    assert!(audio.iter().all(|(rate, _)| *rate == 24_000), "{audio:?}");
    assert_eq!(audio.iter().map(|(_, n)| n).sum::<usize>(), 4_800, "every sample, the split one joined");

    // Dropping the audio closes cleanly: a normal close, then the end.
    let AgentLink { audio: sender, mut events, commands } = link;
    drop(sender);
    let end = tokio::time::timeout(WAIT, events.recv()).await.expect("the events end");
    assert_eq!(end, None, "a clean close is no failure");
    drop(commands);
    assert_eq!(fake.closed_by_client().await, Some(1000));

    let log = fake.log();
    assert_eq!(log.authorization, [format!("Token {KEY}")]);
    assert_eq!(log.paths, ["/v1/agent/converse"]);
    let settings = &log.texts[0];
    assert_eq!(settings["type"], "Settings", "Settings is the first message");
    assert_eq!(settings["audio"]["input"], json!({"encoding": "linear16", "sample_rate": 16000}));
    assert_eq!(settings["audio"]["output"], json!({"encoding": "linear16", "sample_rate": 24000, "container": "none"}));
    assert_eq!(settings["agent"]["language"], "en");
    assert_eq!(settings["agent"]["greeting"], "Chez Nous, how can I help?");
    assert_eq!(settings["agent"]["listen"]["provider"], json!({"type": "deepgram", "model": "nova-3"}));
    assert_eq!(settings["agent"]["speak"]["provider"], json!({"type": "deepgram", "model": "aura-2-thalia-en"}));
    let think = &settings["agent"]["think"];
    assert_eq!(think["provider"], json!({"type": "open_ai", "model": "gpt-4o-mini"}));
    assert_eq!(think["prompt"], PROMPT);
    assert_eq!(think["functions"][0]["name"], "book_table");
    assert_eq!(think["functions"][0]["description"], "Books a table");
    assert_eq!(think["functions"][0]["parameters"]["required"], json!(["people", "time"]));
    assert!(!settings.to_string().contains(KEY), "the key is only in the header");
    let responses = log.of_type("FunctionCallResponse");
    assert_eq!(responses.len(), 1, "only the client-side call is answered");
    assert_eq!(responses[0]["id"], "call-1");
    assert_eq!(responses[0]["content"], json!(r#"{"booked":true,"table":12}"#), "the output as a JSON string");
    assert_eq!(log.audio_bytes, 5 * 1600 * 2, "16-bit PCM, every sample");
    let used = usage.snapshot()["deepgram"];
    assert!((used.sent_seconds - 0.5).abs() < 1e-9, "{used:?}");
    assert!((used.received_seconds - 0.2).abs() < 1e-9, "{used:?}");
}

#[tokio::test]
async fn say_is_injected_as_it_is_and_retried_once_after_a_refusal() {
    let fake = FakeAgent::start(Behaviour::Converse).await;
    let agent = engine(&fake.url, KEY, Usage::default());
    let mut link = connect(&agent).await;
    link.commands.send(AgentCommand::Say(SUPERVISOR.into())).await.unwrap();
    // The refusal's AgentDone (the agent finishing what it was saying)...
    let (first, _) = turn(&mut link).await;
    assert_eq!(first, [AgentEvent::AgentDone]);
    // ...then the retry, spoken.
    let (second, audio) = turn(&mut link).await;
    assert_eq!(second, [AgentEvent::AgentText(SUPERVISOR.into()), AgentEvent::AgentDone]);
    assert_eq!(audio.iter().map(|(_, n)| n).sum::<usize>(), 4_800);
    let log = fake.log();
    let injected: Vec<&Value> = log.of_type("InjectAgentMessage");
    assert_eq!(injected.len(), 2, "sent, refused, sent again once: {injected:?}");
    for i in injected {
        assert_eq!(*i, json!({"type": "InjectAgentMessage", "message": SUPERVISOR}));
    }
}

#[tokio::test]
async fn a_quiet_conversation_sends_keepalives() {
    let fake = FakeAgent::start(Behaviour::Converse).await;
    let mut cfg = config(&fake.url, KEY);
    cfg.keepalive = Duration::from_millis(150);
    let agent = DeepgramAgent::new(cfg, Usage::default()).unwrap();
    let link = connect(&agent).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let keepalives = fake.log().of_type("KeepAlive").len();
    assert!((2..=8).contains(&keepalives), "one about every 150 ms of silence, got {keepalives}");
    assert_eq!(fake.log().texts[0]["type"], "Settings", "nothing before the settings");
    // Audio counts as traffic: no keep-alive while it flows.
    let before = fake.log().of_type("KeepAlive").len();
    for _ in 0..6 {
        link.audio.send(frame()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(fake.log().of_type("KeepAlive").len(), before);
    drop(link);
    assert_eq!(fake.closed_by_client().await, Some(1000));
}

#[tokio::test]
async fn a_refused_key_shows_when_the_engine_is_chosen() {
    let fake = FakeAgent::start(Behaviour::Converse).await;
    let wrong = engine(&fake.url, "wrong-key-456", Usage::default());
    let e = wrong.check().await.unwrap_err();
    assert_eq!(e, CloudError::BadKey { service: "Deepgram" });
    assert_no_key(&e);
    let e = wrong.connect(setup()).await.err().expect("a refused key");
    assert_eq!(e, CloudError::BadKey { service: "Deepgram" });
    assert_no_key(&e);
    assert!(!format!("{:?}", config(&fake.url, KEY)).contains(KEY), "the config's Debug hides the key");
    assert!(!format!("{wrong:?}").contains("wrong-key"), "the engine's Debug hides the key");

    tokio::time::timeout(WAIT, engine(&fake.url, KEY, Usage::default()).check())
        .await
        .expect("the check never hangs")
        .expect("the right key passes the check");
    assert_eq!(fake.closed_by_client().await, Some(1000), "the check closes what it opened");
    let log = fake.log();
    assert_eq!(log.of_type("Settings").len(), 1, "the check goes as far as the settings");
    assert_eq!(log.audio_bytes, 0, "and sends no audio");
}

#[tokio::test]
async fn rate_limits_unanswered_and_refused_settings_fail_connect_clearly() {
    let fake = FakeAgent::start(Behaviour::RateLimit).await;
    let agent = engine(&fake.url, KEY, Usage::default());
    assert_eq!(agent.connect(setup()).await.err(), Some(CloudError::RateLimited { service: "Deepgram" }));
    assert_eq!(agent.check().await, Err(CloudError::RateLimited { service: "Deepgram" }));

    let fake = FakeAgent::start(Behaviour::NoSettingsApplied).await;
    let agent = engine(&fake.url, KEY, Usage::default());
    let e = tokio::time::timeout(WAIT, agent.connect(setup())).await.unwrap().err().expect("no SettingsApplied");
    assert_eq!(e, CloudError::Timeout { service: "Deepgram", after: Duration::from_millis(500) });
    assert_no_key(&e);
    assert_eq!(fake.closed_by_client().await, Some(1000), "the abandoned conversation is closed");
    let e = tokio::time::timeout(WAIT, agent.check()).await.unwrap().unwrap_err();
    assert_eq!(e.code(), "cloud_timeout");

    let fake = FakeAgent::start(Behaviour::RefuseSettings).await;
    let e = engine(&fake.url, KEY, Usage::default()).connect(setup()).await.err().expect("refused settings");
    assert_eq!(e, CloudError::Config { service: "Deepgram", why: "INVALID_SETTINGS: Unknown think model".into() });

    let gone = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Url::parse(&format!("ws://{}", l.local_addr().unwrap())).unwrap()
    };
    let e = engine(&gone, KEY, Usage::default()).check().await.unwrap_err();
    assert_eq!(e.code(), "cloud_unreachable");
    assert_no_key(&e);
}

#[tokio::test]
async fn a_socket_closed_mid_utterance_ends_the_link_with_one_failure() {
    let fake = FakeAgent::start(Behaviour::CloseMidUtterance).await;
    let agent = engine(&fake.url, KEY, Usage::default());
    let mut link = connect(&agent).await;
    for _ in 0..4 {
        if link.audio.send(frame()).await.is_err() {
            break;
        }
    }
    let e = failure(&mut link).await;
    assert!(matches!(&e, CloudError::Closed { service: "Deepgram", why } if why.contains("1011")), "{e:?}");
}

#[tokio::test]
async fn undocumented_or_fatal_messages_end_the_link_with_one_failure() {
    for (behaviour, code, says) in [
        (Behaviour::Malformed, "cloud_protocol", "does not document"),
        (Behaviour::BadArguments, "cloud_protocol", "arguments of book_table are not JSON"),
        (Behaviour::ServiceError, "cloud_protocol", "INTERNAL_SERVER_ERROR: The think provider failed"),
    ] {
        let fake = FakeAgent::start(behaviour).await;
        let agent = engine(&fake.url, KEY, Usage::default());
        let mut link = connect(&agent).await;
        link.audio.send(frame()).await.unwrap();
        let e = failure(&mut link).await;
        assert_eq!(e.code(), code, "{behaviour:?}: {e}");
        assert!(e.to_string().contains(says), "{behaviour:?}: {e}");
    }
}

#[tokio::test]
async fn audio_at_the_wrong_rate_is_a_configuration_failure() {
    let fake = FakeAgent::start(Behaviour::Converse).await;
    let agent = engine(&fake.url, KEY, Usage::default());
    let mut link = connect(&agent).await;
    link.audio.send(AudioFrame::silence(24_000, 0.1)).await.unwrap();
    let e = failure(&mut link).await;
    assert_eq!(e.code(), "cloud_not_configured", "{e}");
    assert!(e.to_string().contains("24000 Hz"), "{e}");
    assert_eq!(fake.log().audio_bytes, 0, "nothing at the wrong rate reaches the service");
}
