//! The Gemini Live engine against a local fake of the Live API's
//! `BidiGenerateContent` socket, which speaks the documented wire format
//! (`setup` → `setupComplete`; `realtimeInput` audio in; `serverContent`
//! transcripts, 24 kHz audio and turn ends, `toolCall`/`toolResponse`,
//! `toolCallCancellation` out; JSON in text or binary frames) and fails in
//! each way the real service can.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_cloud_voice::agent::{AgentCommand, AgentEvent, AgentLink, AgentSetup, VoiceAgent};
use switchboard_cloud_voice::gemini::{GeminiConfig, GeminiLive};
use switchboard_cloud_voice::usage::Usage;
use switchboard_cloud_voice::{ApiKey, CloudError};
use switchboard_core::llm::ToolSpec;
use switchboard_core::speech::AudioFrame;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use url::Url;

mod common;

const KEY: &str = "AIza-test-key-0123";
const PATH: &str = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Behaviour {
    /// On the first audio: the caller's words in pieces, a tool call; on the
    /// tool response: the reply's words and 24 kHz audio, then turnComplete.
    Converse,
    /// Like `Converse`, but nothing at all after the tool response.
    SilentAfterTool,
    /// On the first audio: a reply the caller cuts (`interrupted`), their new
    /// words, the cut turn's end, then the answer to them.
    BargeIn,
    /// On the first audio: a tool call, then its cancellation.
    Cancel,
    /// Answers every text turn with a short spoken "ok".
    Echo,
    /// Accepts any key at the handshake, then closes the setup with 1007, as
    /// Gemini does for a key it does not know.
    RefuseKeyInBand,
    /// HTTP 429 at the handshake.
    RateLimit,
    /// Closes the socket (1011) after the second audio frame.
    CloseMidUtterance,
    /// Answers the first audio frame with text that is not JSON.
    Malformed,
    /// Answers the first audio frame with an error object (echoing the key).
    ErrorMessage,
    /// Takes the setup and never answers it.
    NoSetup,
}

#[derive(Default, Debug)]
struct Log {
    keys: Vec<String>,
    paths: Vec<String>,
    setups: Vec<Value>,
    audio_frames: usize,
    audio_bytes: usize,
    audio_mimes: Vec<String>,
    /// `clientContent` messages and `realtimeInput.text` messages, whole.
    texts: Vec<Value>,
    tool_responses: Vec<Value>,
    close_codes: Vec<u16>,
}

struct FakeGemini {
    url: Url,
    log: Arc<Mutex<Log>>,
}

impl FakeGemini {
    async fn start(behaviour: Behaviour) -> FakeGemini {
        let (url, log) = common::listen(move |tcp, log| serve(tcp, behaviour, log)).await;
        FakeGemini { url, log }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

/// 0.3 s of a 330 Hz tone at 24 kHz: the agent's voice.
fn reply_samples() -> Vec<f32> {
    (0..7200).map(|i| (i as f32 * 330.0 * std::f32::consts::TAU / 24_000.0).sin() * 0.4).collect()
}

fn content(v: Value) -> Message {
    Message::Text(json!({"serverContent": v}).to_string().into())
}

fn audio_part(bytes: &[u8]) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}]}})
}

/// As Gemini often does: JSON in a binary frame.
fn binary(v: Value) -> Message {
    Message::Binary(v.to_string().into_bytes().into())
}

async fn close(ws: &mut WebSocketStream<tokio::net::TcpStream>, code: u16, reason: &str) {
    let _ = ws.close(Some(CloseFrame { code: code.into(), reason: reason.to_string().into() })).await;
}

// The handshake callback's error type is tungstenite's, large or not.
#[allow(clippy::result_large_err)]
async fn serve(tcp: tokio::net::TcpStream, behaviour: Behaviour, log: Arc<Mutex<Log>>) {
    let hs_log = log.clone();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let mut l = hs_log.lock().unwrap();
        let key = req.headers().get("x-goog-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        l.keys.push(key.clone());
        l.paths.push(req.uri().to_string());
        let status = if req.uri().path() != PATH {
            Some(StatusCode::NOT_FOUND)
        } else if key != KEY && behaviour != Behaviour::RefuseKeyInBand {
            Some(StatusCode::UNAUTHORIZED)
        } else if behaviour == Behaviour::RateLimit {
            Some(StatusCode::TOO_MANY_REQUESTS)
        } else {
            None
        };
        match status {
            Some(s) => {
                let mut r = ErrorResponse::new(Some(r#"{"error":{"status":"refused"}}"#.into()));
                *r.status_mut() = s;
                Err(r)
            }
            None => Ok(resp),
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else { return };
    while let Some(Ok(msg)) = ws.next().await {
        let v: Value = match msg {
            Message::Text(t) => serde_json::from_str(&t).unwrap_or_default(),
            Message::Binary(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Message::Close(frame) => {
                log.lock().unwrap().close_codes.push(frame.map_or(1005, |f| u16::from(f.code)));
                return;
            }
            _ => continue,
        };
        if let Some(setup) = v.get("setup") {
            log.lock().unwrap().setups.push(setup.clone());
            match behaviour {
                Behaviour::NoSetup => {}
                Behaviour::RefuseKeyInBand => {
                    return close(&mut ws, 1007, "API key not valid. Please pass a valid API key.").await;
                }
                _ => {
                    let _ = ws.send(binary(json!({"setupComplete": {}}))).await;
                }
            }
        } else if let Some(audio) = v.pointer("/realtimeInput/audio") {
            let frames = {
                let mut l = log.lock().unwrap();
                let data = audio["data"].as_str().unwrap_or("");
                l.audio_bytes += base64::engine::general_purpose::STANDARD.decode(data).map_or(0, |b| b.len());
                l.audio_mimes.push(audio["mimeType"].as_str().unwrap_or("").to_string());
                l.audio_frames += 1;
                l.audio_frames
            };
            if !on_audio(&mut ws, behaviour, frames).await {
                return;
            }
        } else if v.get("clientContent").is_some() || v.pointer("/realtimeInput/text").is_some() {
            log.lock().unwrap().texts.push(v.clone());
            let _ = ws.send(content(json!({"outputTranscription": {"text": "ok"}}))).await;
            let _ = ws.send(content(json!({"turnComplete": true}))).await;
        } else if let Some(r) = v.get("toolResponse") {
            log.lock().unwrap().tool_responses.push(r.clone());
            if behaviour == Behaviour::Converse {
                let pcm = AudioFrame::new(24_000, reply_samples()).to_pcm16_le();
                // The second chunk starts mid-sample: the engine joins it.
                let _ = ws.send(content(json!({"outputTranscription": {"text": "Booked"}}))).await;
                let _ = ws.send(content(audio_part(&pcm[..4801]))).await;
                let _ = ws.send(binary(json!({"serverContent": audio_part(&pcm[4801..9600])}))).await;
                let _ = ws.send(content(json!({"outputTranscription": {"text": " for two."}}))).await;
                let _ = ws.send(content(audio_part(&pcm[9600..]))).await;
                let _ = ws.send(content(json!({"generationComplete": true}))).await;
                let done = json!({"serverContent": {"turnComplete": true}, "usageMetadata": {"totalTokenCount": 42}});
                let _ = ws.send(Message::Text(done.to_string().into())).await;
            }
        }
    }
}

/// The fake's answer to the caller's `frames`-th audio frame; false: it
/// hung up.
async fn on_audio(ws: &mut WebSocketStream<tokio::net::TcpStream>, behaviour: Behaviour, frames: usize) -> bool {
    let tool_call = |id: &str, name: &str, args: Value| {
        Message::Text(
            json!({"toolCall": {"functionCalls": [{"id": id, "name": name, "args": args}]}}).to_string().into(),
        )
    };
    match behaviour {
        Behaviour::Converse | Behaviour::SilentAfterTool if frames == 1 => {
            for piece in ["I'd like", " a table", " for two"] {
                let _ = ws.send(content(json!({"inputTranscription": {"text": piece}}))).await;
            }
            let _ = ws.send(tool_call("call-1", "book_table", json!({"party": 2}))).await;
        }
        Behaviour::BargeIn if frames == 1 => {
            let _ = ws.send(content(json!({"outputTranscription": {"text": "Hello there."}}))).await;
            // An odd number of bytes: the half sample must not outlive the cut.
            let _ = ws.send(content(audio_part(&[1u8; 2401]))).await;
            let _ = ws.send(content(json!({"interrupted": true}))).await;
            let _ = ws.send(content(json!({"inputTranscription": {"text": "wait"}}))).await;
            let _ = ws.send(content(json!({"turnComplete": true}))).await;
            let mut answer = audio_part(&[2u8; 2400]);
            answer["outputTranscription"] = json!({"text": "Yes?"});
            let _ = ws.send(content(answer)).await;
            let _ = ws.send(content(json!({"turnComplete": true}))).await;
        }
        Behaviour::Cancel if frames == 1 => {
            let _ = ws.send(content(json!({"inputTranscription": {"text": "cancel that"}}))).await;
            let _ = ws.send(tool_call("call-9", "hours", json!({}))).await;
            let _ =
                ws.send(Message::Text(json!({"toolCallCancellation": {"ids": ["call-9"]}}).to_string().into())).await;
        }
        Behaviour::CloseMidUtterance if frames == 2 => {
            close(ws, 1011, "Internal error encountered.").await;
            return false;
        }
        Behaviour::Malformed if frames == 1 => {
            let _ = ws.send(Message::Text("{\"serverContent\": ".into())).await;
        }
        Behaviour::ErrorMessage if frames == 1 => {
            let error = json!({"error": {"code": 400, "message": format!("invalid argument for key {KEY}"), "status": "INVALID_ARGUMENT"}});
            let _ = ws.send(Message::Text(error.to_string().into())).await;
        }
        _ => {}
    }
    true
}

fn config(url: &Url, key: &str) -> GeminiConfig {
    let mut cfg = GeminiConfig::new(ApiKey::new(key).unwrap());
    cfg.base_url = url.clone();
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.reply_timeout = Duration::from_secs(3);
    cfg
}

fn engine(url: &Url, key: &str, usage: Usage) -> GeminiLive {
    GeminiLive::new(config(url, key), usage).unwrap()
}

/// 0.1 s of a 440 Hz tone at 16 kHz: the caller.
fn frame() -> AudioFrame {
    AudioFrame::new(
        16_000,
        (0..1600).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 0.3).collect(),
    )
}

fn booking_setup() -> AgentSetup {
    AgentSetup {
        instructions: "You are the booking line of Luigi's.".into(),
        greeting: None,
        tools: vec![ToolSpec {
            name: "book_table".into(),
            description: "Books a table.".into(),
            parameters: json!({"type": "object", "properties": {"party": {"type": "integer"}}, "required": ["party"]}),
        }],
        language: Some("en".into()),
    }
}

async fn send_audio(link: &AgentLink, frames: usize) {
    for _ in 0..frames {
        if link.audio.send(frame()).await.is_err() {
            break;
        }
    }
}

/// Events up to and including the first that `last` accepts. Panics if the
/// stream hangs or ends first.
async fn until(events: &mut mpsc::Receiver<AgentEvent>, last: impl Fn(&AgentEvent) -> bool) -> Vec<AgentEvent> {
    let read = async {
        let mut seen = Vec::new();
        while let Some(e) = events.recv().await {
            let done = last(&e);
            seen.push(e);
            if done {
                return seen;
            }
        }
        panic!("the events ended early: {seen:?}");
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("the events never hang")
}

/// Every event to the end of the stream. Panics if it hangs.
async fn to_end(events: &mut mpsc::Receiver<AgentEvent>) -> Vec<AgentEvent> {
    let read = async {
        let mut seen = Vec::new();
        while let Some(e) = events.recv().await {
            seen.push(e);
        }
        seen
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("the events end, never hang")
}

/// Events in a comparable form (audio as its rate and length).
fn show(events: &[AgentEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            AgentEvent::Audio(f) => format!("Audio({} Hz, {} samples)", f.rate, f.samples.len()),
            other => format!("{other:?}"),
        })
        .collect()
}

fn user(text: &str, is_final: bool) -> String {
    format!("{:?}", AgentEvent::UserText { text: text.into(), is_final })
}

fn agent(text: &str) -> String {
    format!("{:?}", AgentEvent::AgentText(text.into()))
}

fn audio(samples: usize) -> String {
    format!("Audio(24000 Hz, {samples} samples)")
}

/// The one failure a stream ended with (and nothing after it).
fn failure(events: &[AgentEvent]) -> CloudError {
    let failed: Vec<&CloudError> =
        events.iter().filter_map(|e| if let AgentEvent::Failed(e) = e { Some(e) } else { None }).collect();
    assert_eq!(failed.len(), 1, "one failure: {events:?}");
    assert!(matches!(events.last(), Some(AgentEvent::Failed(_))), "nothing follows the failure: {events:?}");
    failed[0].clone()
}

#[tokio::test]
async fn a_turn_with_a_tool_call_comes_back_as_words_audio_and_a_tool_round_trip() {
    let fake = FakeGemini::start(Behaviour::Converse).await;
    let usage = Usage::default();
    let gemini = engine(&fake.url, KEY, usage.clone());
    assert_eq!((gemini.service(), gemini.input_rate(), gemini.output_rate()), ("Gemini", 16_000, 24_000));
    let info = gemini.info();
    assert_eq!(info.engine, "gemini-live");
    assert_eq!(info.model.as_deref(), Some("gemini-2.5-flash-native-audio-preview-12-2025"));
    assert!(info.ready && info.languages.iter().any(|l| l == "en"));

    let mut link = gemini.connect(booking_setup()).await.unwrap();
    send_audio(&link, 3).await;
    let asked = until(&mut link.events, |e| matches!(e, AgentEvent::ToolCall { .. })).await;
    let tool_call =
        AgentEvent::ToolCall { call_id: "call-1".into(), name: "book_table".into(), arguments: json!({"party": 2}) };
    assert_eq!(
        show(&asked),
        [
            "Ready".to_string(),
            user("I'd like", false),
            user("I'd like a table", false),
            user("I'd like a table for two", false),
            user("I'd like a table for two", true),
            format!("{tool_call:?}"),
        ]
    );
    link.commands
        .send(AgentCommand::ToolResult {
            call_id: "call-1".into(),
            name: "book_table".into(),
            output: json!("confirmed"),
        })
        .await
        .unwrap();
    let reply = until(&mut link.events, |e| *e == AgentEvent::AgentDone).await;
    assert_eq!(
        show(&reply),
        [agent("Booked"), audio(2400), audio(2400), agent(" for two."), audio(2400), "AgentDone".into()]
    );
    let heard: Vec<f32> = reply
        .iter()
        .filter_map(|e| if let AgentEvent::Audio(f) = e { Some(f.samples.clone()) } else { None })
        .flatten()
        .collect();
    let sent = reply_samples();
    assert_eq!(heard.len(), sent.len());
    assert!(heard.iter().zip(&sent).all(|(a, b)| (a - b).abs() < 1e-3), "the split sample is joined right");

    // Hanging up: dropping the audio sender closes the socket cleanly.
    let AgentLink { audio, commands: _commands, mut events } = link;
    drop(audio);
    let rest = to_end(&mut events).await;
    assert!(rest.is_empty(), "a clean close is no failure: {rest:?}");

    let log = fake.log();
    assert_eq!(log.keys, [KEY]);
    assert_eq!(log.paths, [PATH], "the key travels in the header, not the URL");
    let setup = &log.setups[0];
    assert_eq!(setup["model"], "models/gemini-2.5-flash-native-audio-preview-12-2025");
    assert_eq!(setup["generationConfig"]["responseModalities"], json!(["AUDIO"]));
    assert_eq!(setup["inputAudioTranscription"], json!({}));
    assert_eq!(setup["outputAudioTranscription"], json!({}));
    assert!(setup["systemInstruction"]["parts"][0]["text"].as_str().unwrap().starts_with("You are the booking line"));
    assert_eq!(setup["tools"][0]["functionDeclarations"][0]["name"], "book_table");
    assert_eq!(setup["tools"][0]["functionDeclarations"][0]["parameters"]["required"], json!(["party"]));
    assert_eq!(log.audio_frames, 3);
    assert_eq!(log.audio_bytes, 3 * 1600 * 2, "16-bit PCM, every sample");
    assert!(log.audio_mimes.iter().all(|m| m == "audio/pcm;rate=16000"), "{:?}", log.audio_mimes);
    assert_eq!(
        log.tool_responses,
        [json!({"functionResponses": [{"id": "call-1", "name": "book_table", "response": {"result": "confirmed"}}]})],
        "a bare output is wrapped in an object"
    );
    assert_eq!(log.close_codes, [1000], "a normal close");
    assert!(log.texts.is_empty(), "no greeting was asked for");
    let u = usage.snapshot()["gemini"];
    assert!((u.sent_seconds - 0.3).abs() < 1e-9, "{u:?}");
    assert!((u.received_seconds - 0.3).abs() < 1e-9, "{u:?}");
}

#[tokio::test]
async fn a_caller_who_cuts_in_is_a_barge_in_and_their_words_end_with_the_next_reply() {
    let fake = FakeGemini::start(Behaviour::BargeIn).await;
    let gemini = engine(&fake.url, KEY, Usage::default());
    let mut link = gemini.connect(AgentSetup::default()).await.unwrap();
    send_audio(&link, 1).await;
    let first = until(&mut link.events, |e| *e == AgentEvent::AgentDone).await;
    assert_eq!(
        show(&first),
        [
            "Ready".to_string(),
            agent("Hello there."),
            audio(1200),
            "UserStartedSpeaking".into(),
            user("wait", false),
            "AgentDone".into(),
        ],
        "the cut turn's end does not end the caller's words"
    );
    let second = until(&mut link.events, |e| *e == AgentEvent::AgentDone).await;
    assert_eq!(show(&second), [user("wait", true), agent("Yes?"), audio(1200), "AgentDone".into()]);
    if let AgentEvent::Audio(f) = &second[2] {
        let expected = i16::from_le_bytes([2, 2]) as f32 / 32768.0;
        assert!(f.samples.iter().all(|s| (s - expected).abs() < 1e-6), "no half sample of the cut reply");
    }
}

#[tokio::test]
async fn the_greeting_and_say_are_turns_that_ask_the_model_to_speak_the_text() {
    let fake = FakeGemini::start(Behaviour::Echo).await;
    let gemini = engine(&fake.url, KEY, Usage::default());
    assert!(!gemini.says_verbatim());
    let setup = AgentSetup { greeting: Some("Welcome to Luigi's, how can I help?".into()), ..AgentSetup::default() };
    let mut link = gemini.connect(setup).await.unwrap();
    let greeted = until(&mut link.events, |e| *e == AgentEvent::AgentDone).await;
    assert_eq!(show(&greeted), ["Ready".to_string(), agent("ok"), "AgentDone".into()]);
    link.commands.send(AgentCommand::Say("Your table is booked for 8 pm.".into())).await.unwrap();
    let said = until(&mut link.events, |e| *e == AgentEvent::AgentDone).await;
    assert_eq!(show(&said), [agent("ok"), "AgentDone".into()]);

    let texts = fake.log().texts.clone();
    assert_eq!(texts.len(), 2, "{texts:?}");
    for (m, expected) in texts.iter().zip(["Welcome to Luigi's, how can I help?", "Your table is booked for 8 pm."]) {
        let turn = &m["clientContent"];
        assert_eq!(turn["turnComplete"], true);
        assert_eq!(turn["turns"][0]["role"], "user");
        let text = turn["turns"][0]["parts"][0]["text"].as_str().unwrap();
        assert!(text.contains(expected) && text.to_lowercase().contains("exactly"), "{text}");
    }

    // Models that refuse clientContent mid-session get the text as realtime input.
    let mut cfg = config(&fake.url, KEY);
    cfg.say_as_realtime_text = true;
    let gemini = GeminiLive::new(cfg, Usage::default()).unwrap();
    let mut link = gemini.connect(AgentSetup::default()).await.unwrap();
    until(&mut link.events, |e| *e == AgentEvent::Ready).await;
    link.commands.send(AgentCommand::Say("One moment, please.".into())).await.unwrap();
    until(&mut link.events, |e| *e == AgentEvent::AgentDone).await;
    let last = fake.log().texts.last().cloned().unwrap();
    let text = last.pointer("/realtimeInput/text").and_then(Value::as_str).unwrap();
    assert!(text.contains("One moment, please."), "{text}");
}

#[tokio::test]
async fn a_withdrawn_tool_call_is_reported() {
    let fake = FakeGemini::start(Behaviour::Cancel).await;
    let gemini = engine(&fake.url, KEY, Usage::default());
    let mut link = gemini.connect(AgentSetup::default()).await.unwrap();
    send_audio(&link, 1).await;
    let events = until(&mut link.events, |e| matches!(e, AgentEvent::ToolCallsCancelled(_))).await;
    let call = AgentEvent::ToolCall { call_id: "call-9".into(), name: "hours".into(), arguments: json!({}) };
    let cancelled = AgentEvent::ToolCallsCancelled(vec!["call-9".into()]);
    assert_eq!(
        show(&events),
        [
            "Ready".to_string(),
            user("cancel that", false),
            user("cancel that", true),
            format!("{call:?}"),
            format!("{cancelled:?}")
        ]
    );
}

#[tokio::test]
async fn a_refused_key_shows_at_connect_and_when_the_engine_is_chosen() {
    let fake = FakeGemini::start(Behaviour::Converse).await;
    let wrong = engine(&fake.url, "wrong-key-777", Usage::default());
    assert_eq!(wrong.check().await.unwrap_err(), CloudError::BadKey { service: "Gemini" });
    let e = wrong.connect(booking_setup()).await.err().unwrap();
    assert_eq!(e, CloudError::BadKey { service: "Gemini" });
    assert!(!format!("{e} {e:?}").contains("wrong-key"));
    engine(&fake.url, KEY, Usage::default()).check().await.expect("the right key passes the check");
    assert_eq!(fake.log().setups.len(), 1, "the check sent a setup and had it accepted");
    assert_eq!(fake.log().close_codes, [1000], "the check closes normally");

    // Gemini itself accepts the handshake and refuses the key with a 1007 close.
    let fake = FakeGemini::start(Behaviour::RefuseKeyInBand).await;
    let gemini = engine(&fake.url, KEY, Usage::default());
    assert_eq!(gemini.check().await.unwrap_err(), CloudError::BadKey { service: "Gemini" });
    assert_eq!(gemini.connect(AgentSetup::default()).await.err().unwrap(), CloudError::BadKey { service: "Gemini" });
}

#[tokio::test]
async fn a_rate_limit_and_an_unanswered_setup_are_refusals_at_connect() {
    let fake = FakeGemini::start(Behaviour::RateLimit).await;
    let gemini = engine(&fake.url, KEY, Usage::default());
    assert_eq!(
        gemini.connect(AgentSetup::default()).await.err().unwrap(),
        CloudError::RateLimited { service: "Gemini" }
    );
    assert_eq!(gemini.check().await.unwrap_err(), CloudError::RateLimited { service: "Gemini" });

    let fake = FakeGemini::start(Behaviour::NoSetup).await;
    let mut cfg = config(&fake.url, KEY);
    cfg.connect_timeout = Duration::from_millis(300);
    let gemini = GeminiLive::new(cfg, Usage::default()).unwrap();
    let started = std::time::Instant::now();
    let e = gemini.connect(AgentSetup::default()).await.err().unwrap();
    assert_eq!(e, CloudError::Timeout { service: "Gemini", after: Duration::from_millis(300) });
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.log().setups.len(), 1, "the setup was sent");

    // Nobody listening at all.
    let gone = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Url::parse(&format!("ws://{}", l.local_addr().unwrap())).unwrap()
    };
    assert_eq!(engine(&gone, KEY, Usage::default()).check().await.unwrap_err().code(), "cloud_unreachable");
    // A key is never sent in clear over a network.
    let plain = Url::parse("ws://generativelanguage.googleapis.com").unwrap();
    assert_eq!(GeminiLive::new(config(&plain, KEY), Usage::default()).err().unwrap().code(), "cloud_not_configured");
}

#[tokio::test]
async fn each_failure_mid_conversation_ends_the_events_with_one_clear_error_without_the_key() {
    let mut errors = Vec::new();
    for (behaviour, code) in [
        (Behaviour::CloseMidUtterance, "cloud_closed"),
        (Behaviour::Malformed, "cloud_protocol"),
        (Behaviour::ErrorMessage, "cloud_protocol"),
    ] {
        let fake = FakeGemini::start(behaviour).await;
        let gemini = engine(&fake.url, KEY, Usage::default());
        let mut link = gemini.connect(AgentSetup::default()).await.unwrap();
        send_audio(&link, 4).await;
        let e = failure(&to_end(&mut link.events).await);
        assert_eq!(e.code(), code, "{behaviour:?}: {e}");
        if behaviour == Behaviour::CloseMidUtterance {
            assert!(e.to_string().contains("1011"), "{e}");
        }
        errors.push(e);
    }

    // The tool result went out and the service fell silent.
    let fake = FakeGemini::start(Behaviour::SilentAfterTool).await;
    let mut cfg = config(&fake.url, KEY);
    cfg.reply_timeout = Duration::from_millis(300);
    let gemini = GeminiLive::new(cfg, Usage::default()).unwrap();
    let mut link = gemini.connect(AgentSetup::default()).await.unwrap();
    send_audio(&link, 1).await;
    until(&mut link.events, |e| matches!(e, AgentEvent::ToolCall { .. })).await;
    // Running the tool takes longer than the reply timeout: that is not the service's silence.
    tokio::time::sleep(Duration::from_millis(500)).await;
    link.commands
        .send(AgentCommand::ToolResult {
            call_id: "call-1".into(),
            name: "book_table".into(),
            output: json!({"ok": true}),
        })
        .await
        .unwrap();
    let e = failure(&to_end(&mut link.events).await);
    assert_eq!(e, CloudError::Timeout { service: "Gemini", after: Duration::from_millis(300) });
    assert_eq!(fake.log().tool_responses[0]["functionResponses"][0]["response"], json!({"ok": true}));
    errors.push(e);

    // Audio at the wrong rate is a configuration error, not garbled speech.
    let fake = FakeGemini::start(Behaviour::Converse).await;
    let gemini = engine(&fake.url, KEY, Usage::default());
    let mut link = gemini.connect(AgentSetup::default()).await.unwrap();
    link.audio.send(AudioFrame::new(8_000, vec![0.0; 800])).await.unwrap();
    let e = failure(&to_end(&mut link.events).await);
    assert_eq!(e.code(), "cloud_not_configured");
    assert!(e.to_string().contains("8000 Hz"), "{e}");
    assert_eq!(fake.log().audio_frames, 0);
    errors.push(e);

    for e in &errors {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(KEY), "{text}");
    }
}
