//! Latency of the cloud speech engines (`switchboard-cloud-voice`). The
//! services are stood in for by fakes written here, which speak each one's
//! documented wire format and answer with the delays a real service has, so
//! the engines' timers, idle sockets and waiting run as in a call. The fakes
//! run on a thread and runtime of their own, as a service is another machine.
//!
//! 1. **Pipeline overhead per turn added by Switchboard** (target ≤ 5 ms).
//!    Each engine's one-turn exchange runs through Switchboard's engine (behind
//!    its speech port) and through a bare tokio-tungstenite client doing only
//!    the wire exchange (the same messages and encoding, connected the way the
//!    engines connect), against the same fake, alternating the two, in a few
//!    concurrent lanes. Printed per measure: p50/p99 of each, and of their
//!    difference turn by turn (and its mean):
//!    - Deepgram and ElevenLabs speech-to-text: 2 s of 16 kHz audio in 20 ms
//!      frames sent as fast as possible, interim results coming back; once the
//!      engine has taken the last frame off its queue, and a quiet gap later,
//!      the utterance ends (the engine's audio sender is dropped; the bare
//!      client sends `CloseStream` / `commit`). Measured from there to the
//!      final transcript in hand; the fake sends it 150 ms after the end. The
//!      bare Deepgram client stops at `Metadata`, the documented "that was
//!      all".
//!    - Deepgram Aura and ElevenLabs text-to-speech: `speak(text)` (connecting
//!      included, for both) → first audio in hand, and → last; the fake's
//!      first audio comes 120 ms after the text, then 1 s of audio in 100 ms
//!      chunks 20 ms apart.
//!    - The Deepgram Voice Agent and Gemini Live (the voice-agent port):
//!      connect until ready, send 1 s of audio (its last frame alone, a quiet
//!      gap after the rest was taken); the fake answers with the caller's
//!      words and a tool call, which is answered at once with a fixed result;
//!      200 ms after the result it sends the agent's words and 1 s of audio.
//!      Measured: last caller frame sent → first agent audio in hand, and tool
//!      call sent → result received (at the fake).
//!
//!    The quiet gap is 60 ms there, longer than a Linux receiver holds back
//!    an acknowledgement, so Nagle's algorithm (which neither the engines nor
//!    tokio-tungstenite's `connect_async` turn off) holds nothing back and the
//!    difference is the engines' own work. Two checks show what Nagle costs:
//!    a column with the bare client on TCP_NODELAY, and a second table with
//!    call-like timing (the end 20 ms after the last frame), Switchboard
//!    against the TCP_NODELAY client.
//! 2. **End of speech → first audio through the whole app**: the real server
//!    in-process (the test harness), a browser call sending espeak-ng
//!    questions at real time, answered from learned answers (no language
//!    model); on Deepgram STT + Aura TTS (the delays above) and on the
//!    Deepgram Voice Agent (the fake ends the caller's turn after 300 ms of
//!    quiet audio, then calls `search_knowledge_base`, and speaks 200 ms after
//!    the result). Measured by the client, from sending the question's last
//!    speech frame to the first reply audio received, p50/p95, also minus the
//!    fake's delays; with the turns' stored timings (p50), so the call loop's
//!    end-of-turn wait (`call.silence_ms`, with the work it starts early at
//!    `call.preempt_after_ms`) shows apart from the rest.
//!
//! Prints figures; asserts only that the exchanges succeed. `make bench`.
//! `CLOUD_BENCH_PAIRS` (100), `CLOUD_BENCH_LANES` (6), `CLOUD_BENCH_NODELAY`
//! and `CLOUD_BENCH_APP_TURNS` (10) change the counts;
//! `CLOUD_BENCH_ONLY=overhead` or `app` runs one part.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_cloud_voice::agent::{AgentCommand, AgentEvent, AgentLink, AgentSetup, VoiceAgent};
use switchboard_cloud_voice::usage::Usage;
use switchboard_cloud_voice::{ApiKey, aura, deepgram, deepgram_agent, elevenlabs, gemini};
use switchboard_core::llm::ToolSpec;
use switchboard_core::speech::{AudioFrame, SpeechToText, SttEvent, SttOptions, TextToSpeech};
use switchboard_tests::speech::{VoiceCall, resample, speak};
use switchboard_tests::{TOKEN, TestServer, config, expect};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The fakes' delays.
const STT_FINAL: Duration = Duration::from_millis(150);
const TTS_FIRST: Duration = Duration::from_millis(120);
const AGENT_THINK: Duration = Duration::from_millis(200);
/// The fake voice agent's end of turn in the app: this much quiet audio.
const AGENT_ENDPOINT_MS: u64 = 300;
/// Speech comes as this many chunks of 100 ms, 20 ms apart.
const CHUNKS: u32 = 10;
const CHUNK_SECS: f64 = 0.1;
const CHUNK_GAP: Duration = Duration::from_millis(20);
/// An interim result per this many audio messages (0.5 s of 20 ms frames).
const INTERIM_EVERY: usize = 25;

const RATE: u32 = 16_000;
const FRAME: usize = 320;
const FRAME_PERIOD: Duration = Duration::from_millis(20);
const REPLY: &str = "On Saturdays we open at nine in the morning.";
const HEARD: &str = "What time do you open on Saturday?";
const TOOL_ANSWER: &str = "Saturday 9:00 to 17:00";
const GEMINI_PATH: &str = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
const VOICE_ID: &str = "BenchVoice01";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).expect("base64 audio")
}

// ---------------------------------------------------------------------------
// The fake services.

#[derive(Clone, Copy)]
enum Endpoint {
    /// The caller's turn ends with this many bytes of audio.
    AfterBytes(usize),
    /// The caller's turn ends after this many bytes of quiet audio that
    /// follow speech.
    Silence(usize),
}

struct FakeState {
    endpoint: Endpoint,
    /// What the speech-to-text fakes hear (they do not recognise speech).
    transcript: Mutex<String>,
    /// Tool call sent → its result received, per API key.
    tool_trips: Mutex<HashMap<String, Vec<Duration>>>,
}

impl FakeState {
    fn transcript(&self) -> String {
        self.transcript.lock().unwrap().clone()
    }

    fn trip(&self, key: &str, d: Duration) {
        self.tool_trips.lock().unwrap().entry(key.to_string()).or_default().push(d);
    }
}

/// Every service on one port (routed by path), on a thread and runtime of
/// its own, as a service is another machine.
struct Fake {
    url: String,
    state: Arc<FakeState>,
}

impl Fake {
    fn start(endpoint: Endpoint) -> Fake {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let state =
            Arc::new(FakeState { endpoint, transcript: Mutex::new(HEARD.into()), tool_trips: Mutex::default() });
        let st = state.clone();
        std::thread::Builder::new()
            .name("fake-cloud".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    while let Ok((tcp, _)) = listener.accept().await {
                        tokio::spawn(serve(tcp, st.clone()));
                    }
                });
            })
            .unwrap();
        Fake { url, state }
    }

    fn set_transcript(&self, t: &str) {
        *self.state.transcript.lock().unwrap() = t.to_string();
    }

    fn take_trip(&self, key: &str) -> Option<Duration> {
        self.state.tool_trips.lock().unwrap().get_mut(key)?.pop()
    }

    fn trips(&self, key: &str) -> Vec<f64> {
        self.state.tool_trips.lock().unwrap().get(key).map(|v| v.iter().copied().map(ms).collect()).unwrap_or_default()
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;
type Tx = SplitSink<Ws, Message>;
type Rx = futures::stream::SplitStream<Ws>;
/// Messages to send, at their times (in time order).
type Outbox = VecDeque<(tokio::time::Instant, Message)>;

// The handshake callback's error type is tungstenite's.
#[allow(clippy::result_large_err)]
async fn serve(tcp: tokio::net::TcpStream, st: Arc<FakeState>) {
    // Services answer small messages at once.
    let _ = tcp.set_nodelay(true);
    let seen = Arc::new(Mutex::new((String::new(), String::new())));
    let s2 = seen.clone();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let key = h("authorization")
            .map(|a| a.trim_start_matches("Token ").to_string())
            .or_else(|| h("xi-api-key"))
            .or_else(|| h("x-goog-api-key"))
            .unwrap_or_default();
        *s2.lock().unwrap() = (req.uri().to_string(), key);
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else { return };
    let (uri, key) = seen.lock().unwrap().clone();
    let query = |name: &str| uri.split(['?', '&']).find_map(|kv| kv.strip_prefix(name)).and_then(|v| v.parse().ok());
    let path = uri.split('?').next().unwrap_or("");
    match path {
        "/v1/listen" => deepgram_listen(ws, &st).await,
        "/v1/speak" => aura_speak(ws, query("sample_rate=").unwrap_or(24_000)).await,
        "/v1/agent/converse" => deepgram_agent(ws, &st, &key).await,
        "/v1/speech-to-text/realtime" => elevenlabs_listen(ws, &st).await,
        GEMINI_PATH => gemini_live(ws, &st, &key).await,
        p if p.starts_with("/v1/text-to-speech/") => {
            elevenlabs_speak(ws, query("output_format=pcm_").unwrap_or(16_000)).await
        }
        _ => {}
    }
}

async fn sleep_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn next_due(out: &Outbox) -> Option<tokio::time::Instant> {
    out.front().map(|(t, _)| *t)
}

fn schedule(out: &mut Outbox, at: tokio::time::Instant, m: Message) {
    let i = out.partition_point(|(t, _)| *t <= at);
    out.insert(i, (at, m));
}

/// Sends what is due; false once a close went out or the client is gone.
async fn flush(tx: &mut Tx, out: &mut Outbox) -> bool {
    let now = tokio::time::Instant::now();
    while out.front().is_some_and(|(t, _)| *t <= now) {
        let (_, m) = out.pop_front().unwrap();
        let close = m.is_close();
        if tx.send(m).await.is_err() || close {
            return false;
        }
    }
    true
}

/// After the fake closed: the client's answer, briefly.
async fn linger(mut rx: Rx) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = rx.next().await {} }).await;
}

/// 1 s of a quiet 330 Hz tone at `rate`, in 100 ms chunks of 16-bit PCM.
fn speech_chunks(rate: u32) -> Vec<Vec<u8>> {
    let n = (rate as f64 * CHUNK_SECS) as usize;
    (0..CHUNKS as usize)
        .map(|c| {
            (0..n)
                .map(|i| {
                    let k = (c * n + i) as f64;
                    ((k * 330.0 * std::f64::consts::TAU / rate as f64).sin() * 6000.0) as i16
                })
                .flat_map(i16::to_le_bytes)
                .collect()
        })
        .collect()
}

/// Schedules 1 s of speech from `at`, each chunk wrapped by `wrap`; returns
/// when the last chunk goes.
fn schedule_speech(
    out: &mut Outbox,
    at: tokio::time::Instant,
    rate: u32,
    wrap: impl Fn(Vec<u8>) -> Message,
) -> tokio::time::Instant {
    let mut last = at;
    for (k, c) in speech_chunks(rate).into_iter().enumerate() {
        last = at + CHUNK_GAP * k as u32;
        schedule(out, last, wrap(c));
    }
    last
}

/// The first words of `t`, as an interim hypothesis after `n` interims.
fn words(t: &str, n: usize) -> String {
    t.split_whitespace().take(n).collect::<Vec<_>>().join(" ")
}

fn dg_results(t: &str, is_final: bool) -> Message {
    text(json!({
        "type": "Results", "is_final": is_final, "speech_final": is_final, "duration": 2.0, "start": 0.0,
        "channel": {"alternatives": [{"transcript": t, "confidence": 0.95, "words": []}]}
    }))
}

/// Deepgram `/v1/listen`: interim `Results` while audio comes; after
/// `CloseStream`, the final `Results`, `Metadata` and a close, 150 ms later.
async fn deepgram_listen(ws: Ws, st: &FakeState) {
    let (mut tx, mut rx) = ws.split();
    let transcript = st.transcript();
    let mut out = Outbox::new();
    let mut frames = 0usize;
    loop {
        tokio::select! {
            () = sleep_opt(next_due(&out)) => if !flush(&mut tx, &mut out).await { break },
            m = rx.next() => match m {
                Some(Ok(Message::Binary(_))) => {
                    frames += 1;
                    if frames.is_multiple_of(INTERIM_EVERY)
                        && tx.send(dg_results(&words(&transcript, frames / INTERIM_EVERY), false)).await.is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    if v["type"] == "CloseStream" {
                        let at = tokio::time::Instant::now() + STT_FINAL;
                        schedule(&mut out, at, dg_results(&transcript, true));
                        let meta = json!({"type": "Metadata", "request_id": "fake", "duration": 2.0, "channels": 1});
                        schedule(&mut out, at, text(meta));
                        schedule(&mut out, at, Message::Close(None));
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    linger(rx).await;
}

/// Deepgram Aura `/v1/speak`: `Speak`, `Flush` in; the audio 120 ms after
/// the text, then `Flushed`.
async fn aura_speak(ws: Ws, rate: u32) {
    let (mut tx, mut rx) = ws.split();
    let mut out = Outbox::new();
    let mut text_at = None;
    loop {
        tokio::select! {
            () = sleep_opt(next_due(&out)) => if !flush(&mut tx, &mut out).await { break },
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    let now = tokio::time::Instant::now();
                    match v["type"].as_str() {
                        Some("Speak") => {
                            text_at.get_or_insert(now);
                        }
                        Some("Flush") => {
                            let from = text_at.take().map_or(now, |t| t + TTS_FIRST);
                            let last = schedule_speech(&mut out, from, rate, |c| Message::Binary(c.into()));
                            schedule(&mut out, last, text(json!({"type": "Flushed", "sequence_id": 0})));
                        }
                        Some("Clear") => {
                            out.clear();
                            let _ = tx.send(text(json!({"type": "Cleared", "sequence_id": 0}))).await;
                        }
                        Some("Close") => {
                            let _ = tx.send(Message::Close(None)).await;
                            break;
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    linger(rx).await;
}

/// ElevenLabs `stream-input`: a space to open, the text, an empty text to
/// end; base64 audio 120 ms after the text, then `isFinal`.
async fn elevenlabs_speak(ws: Ws, rate: u32) {
    let (mut tx, mut rx) = ws.split();
    let mut out = Outbox::new();
    let mut text_at = None;
    loop {
        tokio::select! {
            () = sleep_opt(next_due(&out)) => if !flush(&mut tx, &mut out).await { return },
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    let said = v["text"].as_str().unwrap_or("");
                    let now = tokio::time::Instant::now();
                    if said.is_empty() {
                        let from = text_at.take().map_or(now, |t| t + TTS_FIRST);
                        let last = schedule_speech(&mut out, from, rate, |c| text(json!({"audio": b64(&c), "isFinal": null})));
                        schedule(&mut out, last, text(json!({"isFinal": true})));
                    } else if !said.trim().is_empty() {
                        text_at.get_or_insert(now);
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    let _ = tx.close().await;
                    return;
                }
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// ElevenLabs realtime speech-to-text: `session_started`, partials while
/// audio comes, the committed transcript 150 ms after `commit`.
async fn elevenlabs_listen(ws: Ws, st: &FakeState) {
    let (mut tx, mut rx) = ws.split();
    let transcript = st.transcript();
    let _ = tx.send(text(json!({"message_type": "session_started", "session_id": "fake", "config": {}}))).await;
    let mut out = Outbox::new();
    let mut chunks = 0usize;
    loop {
        tokio::select! {
            () = sleep_opt(next_due(&out)) => if !flush(&mut tx, &mut out).await { return },
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    match v["message_type"].as_str() {
                        Some("input_audio_chunk") => {
                            chunks += 1;
                            if chunks.is_multiple_of(INTERIM_EVERY) {
                                let p = json!({"message_type": "partial_transcript", "text": words(&transcript, chunks / INTERIM_EVERY)});
                                if tx.send(text(p)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Some("commit") => {
                            let at = tokio::time::Instant::now() + STT_FINAL;
                            schedule(&mut out, at, text(json!({"message_type": "committed_transcript", "text": transcript})));
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    let _ = tx.close().await;
                    return;
                }
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Where a voice agent's caller is in their turn.
struct Ear {
    endpoint: Endpoint,
    bytes: usize,
    loud: usize,
    quiet: usize,
    speaking: bool,
}

enum Heard {
    Nothing,
    Started,
    Ended,
}

impl Ear {
    fn new(endpoint: Endpoint) -> Ear {
        Ear { endpoint, bytes: 0, loud: 0, quiet: 0, speaking: false }
    }

    fn hear(&mut self, pcm: &[u8]) -> Heard {
        match self.endpoint {
            Endpoint::AfterBytes(n) => {
                let started = self.bytes == 0;
                self.bytes += pcm.len();
                if self.bytes >= n {
                    self.bytes = 0;
                    Heard::Ended
                } else if started {
                    Heard::Started
                } else {
                    Heard::Nothing
                }
            }
            Endpoint::Silence(n) => {
                let samples = (pcm.len() / 2).max(1) as u64;
                let level =
                    pcm.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]]).unsigned_abs() as u64).sum::<u64>()
                        / samples;
                // The caller's silence is digital silence: any level is speech.
                if level > 30 {
                    self.quiet = 0;
                    self.loud += pcm.len();
                    if !self.speaking {
                        self.speaking = true;
                        return Heard::Started;
                    }
                    Heard::Nothing
                } else if self.speaking {
                    self.quiet += pcm.len();
                    if self.quiet < n {
                        return Heard::Nothing;
                    }
                    // A quarter second of speech at least; less was noise.
                    let spoke = self.loud >= 8_000;
                    (self.speaking, self.loud, self.quiet) = (false, 0, 0);
                    if spoke { Heard::Ended } else { Heard::Nothing }
                } else {
                    Heard::Nothing
                }
            }
        }
    }
}

/// The answer a tool result tells the agent to say: a learned answer's
/// `say_as_is`, else a fixed sentence.
fn answer_in(result: &Value) -> String {
    let parsed: Value = match result {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    parsed["say_as_is"].as_str().map_or_else(|| "It is open from nine to five.".to_string(), str::to_string)
}

/// The Deepgram Voice Agent: `Welcome`, `SettingsApplied` (and the greeting
/// spoken); at the end of the caller's turn their words and a function call;
/// 200 ms after its result, the agent's words and 1 s of speech.
async fn deepgram_agent(ws: Ws, st: &FakeState, key: &str) {
    const OUT_RATE: u32 = 24_000;
    let (mut tx, mut rx) = ws.split();
    let _ = tx.send(text(json!({"type": "Welcome", "request_id": "fake-agent"}))).await;
    let mut out = Outbox::new();
    let mut ear = Ear::new(st.endpoint);
    let mut tool = "lookup".to_string();
    let mut asked: Option<Instant> = None;
    let mut n = 0;
    let say = |out: &mut Outbox, at: tokio::time::Instant, words: &str| {
        schedule(out, at, text(json!({"type": "ConversationText", "role": "assistant", "content": words})));
        schedule(out, at, text(json!({"type": "AgentStartedSpeaking", "total_latency": 0.3})));
        let last = schedule_speech(out, at, OUT_RATE, |c| Message::Binary(c.into()));
        schedule(out, last, text(json!({"type": "AgentAudioDone"})));
    };
    loop {
        tokio::select! {
            () = sleep_opt(next_due(&out)) => if !flush(&mut tx, &mut out).await { return },
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    let now = tokio::time::Instant::now();
                    match v["type"].as_str() {
                        Some("Settings") => {
                            let names: Vec<&str> = v["agent"]["think"]["functions"]
                                .as_array()
                                .map(|f| f.iter().filter_map(|f| f["name"].as_str()).collect())
                                .unwrap_or_default();
                            if let Some(name) = names.iter().find(|n| **n == "search_knowledge_base").or(names.first()) {
                                tool = name.to_string();
                            }
                            let _ = tx.send(text(json!({"type": "SettingsApplied"}))).await;
                            if let Some(g) = v["agent"]["greeting"].as_str() {
                                say(&mut out, now, g);
                            }
                        }
                        Some("FunctionCallResponse") => {
                            if let Some(t) = asked.take() {
                                st.trip(key, t.elapsed());
                            }
                            say(&mut out, now + AGENT_THINK, &answer_in(&v["content"]));
                        }
                        Some("InjectAgentMessage") => say(&mut out, now, v["message"].as_str().unwrap_or("")),
                        _ => {}
                    }
                }
                Some(Ok(Message::Binary(b))) => match ear.hear(&b) {
                    Heard::Started => {
                        let _ = tx.send(text(json!({"type": "UserStartedSpeaking"}))).await;
                    }
                    Heard::Ended => {
                        let heard = st.transcript();
                        let _ = tx.send(text(json!({"type": "ConversationText", "role": "user", "content": heard}))).await;
                        n += 1;
                        let call = json!({"type": "FunctionCallRequest", "functions": [{
                            "id": format!("fc-{n}"), "name": tool,
                            "arguments": json!({"query": heard}).to_string(), "client_side": true,
                        }]});
                        if tx.send(text(call)).await.is_err() {
                            return;
                        }
                        asked = Some(Instant::now());
                    }
                    Heard::Nothing => {}
                },
                Some(Ok(Message::Close(_))) => {
                    let _ = tx.close().await;
                    return;
                }
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

fn gemini_content(v: Value) -> Message {
    text(json!({"serverContent": v}))
}

/// Gemini Live: `setupComplete` (as JSON in a binary frame, as Gemini
/// does); at the end of the caller's turn their words and a tool call;
/// 200 ms after the tool response, the reply's words, 1 s of 24 kHz audio
/// and `turnComplete`.
async fn gemini_live(ws: Ws, st: &FakeState, key: &str) {
    let (mut tx, mut rx) = ws.split();
    let mut out = Outbox::new();
    let mut ear = Ear::new(st.endpoint);
    let mut tool = "lookup".to_string();
    let mut asked: Option<Instant> = None;
    let mut n = 0;
    let say = |out: &mut Outbox, at: tokio::time::Instant, words: &str| {
        schedule(out, at, gemini_content(json!({"outputTranscription": {"text": words}})));
        let last = schedule_speech(out, at, 24_000, |c| {
            gemini_content(
                json!({"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": b64(&c)}}]}}),
            )
        });
        schedule(out, last, gemini_content(json!({"generationComplete": true})));
        schedule(out, last, gemini_content(json!({"turnComplete": true})));
    };
    loop {
        tokio::select! {
            () = sleep_opt(next_due(&out)) => if !flush(&mut tx, &mut out).await { return },
            m = rx.next() => {
                let v: Value = match m {
                    Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap_or_default(),
                    Some(Ok(Message::Binary(b))) => serde_json::from_slice(&b).unwrap_or_default(),
                    Some(Ok(Message::Close(_))) => {
                        let _ = tx.close().await;
                        return;
                    }
                    None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let now = tokio::time::Instant::now();
                if let Some(setup) = v.get("setup") {
                    if let Some(name) = setup.pointer("/tools/0/functionDeclarations/0/name").and_then(Value::as_str) {
                        tool = name.to_string();
                    }
                    let _ = tx.send(Message::Binary(json!({"setupComplete": {}}).to_string().into_bytes().into())).await;
                } else if let Some(audio) = v.pointer("/realtimeInput/audio") {
                    let pcm = unb64(audio["data"].as_str().unwrap_or(""));
                    if let Heard::Ended = ear.hear(&pcm) {
                        let heard = st.transcript();
                        let _ = tx.send(gemini_content(json!({"inputTranscription": {"text": heard}}))).await;
                        n += 1;
                        let call = json!({"toolCall": {"functionCalls": [{"id": format!("call-{n}"), "name": tool, "args": {"query": heard}}]}});
                        if tx.send(text(call)).await.is_err() {
                            return;
                        }
                        asked = Some(Instant::now());
                    }
                } else if let Some(r) = v.get("toolResponse") {
                    if let Some(t) = asked.take() {
                        st.trip(key, t.elapsed());
                    }
                    say(&mut out, now + AGENT_THINK, &answer_in(&r["functionResponses"][0]["response"]));
                } else if v.get("clientContent").is_some() || v.pointer("/realtimeInput/text").is_some() {
                    say(&mut out, now + AGENT_THINK, "Okay.");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Part 1: Switchboard's engines against bare clients.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    DeepgramStt,
    ElevenLabsStt,
    Aura,
    ElevenLabsTts,
    DeepgramAgent,
    Gemini,
}

impl Engine {
    const ALL: [Engine; 6] = [
        Engine::DeepgramStt,
        Engine::ElevenLabsStt,
        Engine::Aura,
        Engine::ElevenLabsTts,
        Engine::DeepgramAgent,
        Engine::Gemini,
    ];

    fn name(self) -> &'static str {
        match self {
            Engine::DeepgramStt => "Deepgram STT",
            Engine::ElevenLabsStt => "ElevenLabs STT",
            Engine::Aura => "Deepgram Aura TTS",
            Engine::ElevenLabsTts => "ElevenLabs TTS",
            Engine::DeepgramAgent => "Deepgram Voice Agent",
            Engine::Gemini => "Gemini Live",
        }
    }

    /// What a turn measures, and the fake's delay inside each window (ms).
    fn measures(self) -> Vec<(&'static str, f64)> {
        let last = ms(TTS_FIRST + CHUNK_GAP * (CHUNKS - 1));
        match self {
            Engine::DeepgramStt | Engine::ElevenLabsStt => vec![("end of utterance → final transcript", ms(STT_FINAL))],
            Engine::Aura | Engine::ElevenLabsTts => {
                vec![("speak() → first audio (with connect)", ms(TTS_FIRST)), ("speak() → last audio", last)]
            }
            Engine::DeepgramAgent | Engine::Gemini => vec![
                ("last caller frame → first agent audio", ms(AGENT_THINK)),
                ("tool call sent → result at the service", 0.0),
            ],
        }
    }
}

/// One lane's engines (Switchboard's), keyed so the fake can tell whose
/// tool results it gets.
struct Lane {
    base: String,
    ours: String,
    raw: String,
    deepgram_stt: deepgram::DeepgramStt,
    elevenlabs_stt: elevenlabs::ElevenLabsStt,
    aura: aura::AuraTts,
    elevenlabs_tts: elevenlabs::ElevenLabsTts,
    deepgram_agent: deepgram_agent::DeepgramAgent,
    gemini: gemini::GeminiLive,
}

impl Lane {
    fn new(base: &str, n: usize) -> Lane {
        let ours = format!("ours-{n}");
        let key = || ApiKey::new(ours.clone()).unwrap();
        let url = || base.parse().unwrap();
        let mut dg = deepgram::DeepgramConfig::new(key());
        dg.base_url = url();
        let mut el_stt = elevenlabs::ElevenLabsSttConfig::new(key());
        el_stt.base_url = url();
        let mut au = aura::AuraConfig::new(key());
        au.base_url = url();
        let mut el = elevenlabs::ElevenLabsConfig::new(key(), VOICE_ID);
        el.base_url = url();
        let mut dga = deepgram_agent::DeepgramAgentConfig::new(key());
        dga.base_url = url();
        let mut ge = gemini::GeminiConfig::new(key());
        ge.base_url = url();
        Lane {
            base: base.to_string(),
            raw: format!("raw-{n}"),
            deepgram_stt: deepgram::DeepgramStt::new(dg, Usage::default()).unwrap(),
            elevenlabs_stt: elevenlabs::ElevenLabsStt::new(el_stt, Usage::default()).unwrap(),
            aura: aura::AuraTts::new(au, Usage::default()).unwrap(),
            elevenlabs_tts: elevenlabs::ElevenLabsTts::new(el, Usage::default()).unwrap(),
            deepgram_agent: deepgram_agent::DeepgramAgent::new(dga, Usage::default()).unwrap(),
            gemini: gemini::GeminiLive::new(ge, Usage::default()).unwrap(),
            ours,
        }
    }
}

/// `seconds` of a tone at 16 kHz, in 20 ms frames.
fn frames(seconds: f64) -> Vec<AudioFrame> {
    let n = (RATE as f64 * seconds) as usize;
    let samples: Vec<f32> =
        (0..n).map(|i| (i as f32 * 220.0 * std::f32::consts::TAU / RATE as f32).sin() * 0.3).collect();
    samples.chunks(FRAME).map(|c| AudioFrame::new(RATE, c.to_vec())).collect()
}

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The bare client's connection: the URL and the key's header, as the
/// engines open theirs; `nodelay` sets TCP_NODELAY.
async fn connect(url: &str, header: &'static str, value: &str, nodelay: bool) -> Client {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(header, HeaderValue::from_str(value).unwrap());
    // `connect_async` (which the engines use) leaves Nagle's algorithm on.
    tokio_tungstenite::connect_async_with_config(req, None, nodelay).await.expect("the bare client connects").0
}

/// The engine has taken every frame off its queue (in a call frames come
/// 20 ms apart: no backlog at the end), and `gap` went by.
async fn drained(tx: &mpsc::Sender<AudioFrame>, gap: Duration) {
    while tx.capacity() < tx.max_capacity() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(gap).await;
}

async fn stt_ours(stt: &dyn SpeechToText, audio: &[AudioFrame], gap: Duration) -> Vec<f64> {
    let options =
        SttOptions { language: Some("en".into()), languages: vec![], partial_every: Some(Duration::from_secs(1)) };
    let stream = stt.stream(options).await.expect("the stream opens");
    let (tx, mut events) = (stream.audio, stream.events);
    for f in audio {
        tx.send(f.clone()).await.expect("the engine takes audio");
    }
    drained(&tx, gap).await;
    let t0 = Instant::now();
    drop(tx);
    loop {
        match events.recv().await.expect("a final transcript") {
            SttEvent::Final(t) => {
                let d = t0.elapsed();
                assert_eq!(t.text, HEARD);
                return vec![ms(d)];
            }
            SttEvent::Partial(_) => {}
            SttEvent::Error(e) => panic!("transcription failed: {e}"),
        }
    }
}

async fn stt_raw_deepgram(base: &str, key: &str, audio: &[AudioFrame], gap: Duration, nodelay: bool) -> Vec<f64> {
    let url = format!(
        "{base}/v1/listen?model=nova-3&language=en&encoding=linear16&sample_rate=16000&channels=1&interim_results=true&punctuate=true"
    );
    let (mut tx, mut rx) = connect(&url, "Authorization", &format!("Token {key}"), nodelay).await.split();
    for f in audio {
        tx.send(Message::Binary(f.to_pcm16_le().into())).await.unwrap();
    }
    tokio::time::sleep(gap).await;
    let t0 = Instant::now();
    tx.send(Message::Text(r#"{"type":"CloseStream"}"#.into())).await.unwrap();
    let mut heard = String::new();
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "Results" && v["is_final"] == true {
                    heard = v["channel"]["alternatives"][0]["transcript"].as_str().unwrap().to_string();
                } else if v["type"] == "Metadata" {
                    break;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("Deepgram (bare) ended early: {other:?}"),
        }
    }
    let d = t0.elapsed();
    assert_eq!(heard, HEARD);
    vec![ms(d)]
}

async fn stt_raw_elevenlabs(base: &str, key: &str, audio: &[AudioFrame], gap: Duration, nodelay: bool) -> Vec<f64> {
    let url = format!(
        "{base}/v1/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=pcm_16000&commit_strategy=manual&language_code=en"
    );
    let (mut tx, mut rx) = connect(&url, "xi-api-key", key, nodelay).await.split();
    for f in audio {
        let m = json!({"message_type": "input_audio_chunk", "audio_base_64": b64(&f.to_pcm16_le()), "commit": false, "sample_rate": RATE});
        tx.send(text(m)).await.unwrap();
    }
    tokio::time::sleep(gap).await;
    let t0 = Instant::now();
    tx.send(text(json!({"message_type": "commit"}))).await.unwrap();
    let heard = loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["message_type"] == "committed_transcript" {
                    break v["text"].as_str().unwrap().to_string();
                }
            }
            Some(Ok(_)) => {}
            other => panic!("ElevenLabs STT (bare) ended early: {other:?}"),
        }
    };
    let d = t0.elapsed();
    assert_eq!(heard, HEARD);
    let _ = tx.send(Message::Close(None)).await;
    vec![ms(d)]
}

async fn tts_ours(tts: &dyn TextToSpeech) -> Vec<f64> {
    let t0 = Instant::now();
    let mut rx = tts.speak(REPLY, "en").await.expect("speak");
    let (mut first, mut last, mut samples) = (None, Duration::ZERO, 0);
    while let Some(item) = rx.recv().await {
        let f = item.expect("audio");
        let at = t0.elapsed();
        first.get_or_insert(at);
        last = at;
        samples += f.samples.len();
    }
    assert!(samples > 0, "audio came");
    vec![ms(first.unwrap()), ms(last)]
}

async fn tts_raw_aura(base: &str, key: &str, nodelay: bool) -> Vec<f64> {
    let t0 = Instant::now();
    let url = format!("{base}/v1/speak?model=aura-2-thalia-en&encoding=linear16&sample_rate=24000");
    let mut ws = connect(&url, "Authorization", &format!("Token {key}"), nodelay).await;
    ws.send(text(json!({"type": "Speak", "text": REPLY}))).await.unwrap();
    ws.send(Message::Text(r#"{"type":"Flush"}"#.into())).await.unwrap();
    let (mut first, mut last, mut bytes) = (None, Duration::ZERO, 0);
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                let at = t0.elapsed();
                first.get_or_insert(at);
                last = at;
                bytes += b.len();
            }
            Some(Ok(Message::Text(t))) => {
                if serde_json::from_str::<Value>(&t).unwrap()["type"] == "Flushed" {
                    break;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("Aura (bare) ended early: {other:?}"),
        }
    }
    assert!(bytes > 0);
    let _ = ws.send(Message::Text(r#"{"type":"Close"}"#.into())).await;
    vec![ms(first.unwrap()), ms(last)]
}

async fn tts_raw_elevenlabs(base: &str, key: &str, nodelay: bool) -> Vec<f64> {
    let t0 = Instant::now();
    let url =
        format!("{base}/v1/text-to-speech/{VOICE_ID}/stream-input?model_id=eleven_flash_v2_5&output_format=pcm_16000");
    let mut ws = connect(&url, "xi-api-key", key, nodelay).await;
    let open = json!({"text": " ", "voice_settings": {"stability": 0.5, "similarity_boost": 0.8}});
    for m in [open, json!({"text": format!("{REPLY} "), "flush": true}), json!({"text": ""})] {
        ws.send(text(m)).await.unwrap();
    }
    let (mut first, mut last, mut bytes) = (None, Duration::ZERO, 0);
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if let Some(a) = v["audio"].as_str().filter(|a| !a.is_empty()) {
                    bytes += unb64(a).len();
                    let at = t0.elapsed();
                    first.get_or_insert(at);
                    last = at;
                }
                if v["isFinal"] == true {
                    break;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("ElevenLabs TTS (bare) ended early: {other:?}"),
        }
    }
    assert!(bytes > 0);
    let _ = ws.close(None).await;
    vec![ms(first.unwrap()), ms(last)]
}

fn tool_spec() -> ToolSpec {
    ToolSpec {
        name: "lookup".into(),
        description: "Looks up the opening hours".into(),
        parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}}),
    }
}

async fn agent_ours(agent: &dyn VoiceAgent, audio: &[AudioFrame], gap: Duration, fake: &Fake, key: &str) -> Vec<f64> {
    let setup = AgentSetup {
        instructions: "Answer from the tool.".into(),
        greeting: None,
        tools: vec![tool_spec()],
        language: Some("en".into()),
    };
    let AgentLink { audio: tx, commands, mut events } = agent.connect(setup).await.expect("the conversation opens");
    let (last, rest) = audio.split_last().unwrap();
    for f in rest {
        tx.send(f.clone()).await.unwrap();
    }
    drained(&tx, gap).await;
    let t0 = Instant::now();
    tx.send(last.clone()).await.unwrap();
    let first = loop {
        match events.recv().await.expect("the conversation goes on") {
            AgentEvent::ToolCall { call_id, name, .. } => {
                let output = json!({"answer": TOOL_ANSWER});
                commands.send(AgentCommand::ToolResult { call_id, name, output }).await.unwrap();
            }
            AgentEvent::Audio(_) => break t0.elapsed(),
            AgentEvent::Failed(e) => panic!("{} failed: {e}", agent.service()),
            _ => {}
        }
    };
    loop {
        match events.recv().await {
            Some(AgentEvent::AgentDone) | None => break,
            Some(AgentEvent::Failed(e)) => panic!("{} failed: {e}", agent.service()),
            _ => {}
        }
    }
    drop(tx);
    drop(commands);
    let _ = tokio::time::timeout(Duration::from_secs(5), async { while events.recv().await.is_some() {} }).await;
    let trip = fake.take_trip(key).expect("the service got the tool result");
    vec![ms(first), ms(trip)]
}

async fn close_client(mut tx: SplitSink<Client, Message>, mut rx: futures::stream::SplitStream<Client>) {
    let _ = tx.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = rx.next().await {} }).await;
}

async fn agent_raw_deepgram(
    base: &str,
    key: &str,
    audio: &[AudioFrame],
    gap: Duration,
    fake: &Fake,
    nodelay: bool,
) -> Vec<f64> {
    let url = format!("{base}/v1/agent/converse");
    let (mut tx, mut rx) = connect(&url, "Authorization", &format!("Token {key}"), nodelay).await.split();
    let t = tool_spec();
    let settings = json!({
        "type": "Settings",
        "audio": {
            "input": {"encoding": "linear16", "sample_rate": 16000},
            "output": {"encoding": "linear16", "sample_rate": 24000, "container": "none"},
        },
        "agent": {
            "language": "en",
            "listen": {"provider": {"type": "deepgram", "model": "nova-3"}},
            "think": {
                "provider": {"type": "open_ai", "model": "gpt-4o-mini"},
                "prompt": "Answer from the tool.",
                "functions": [{"name": t.name, "description": t.description, "parameters": t.parameters}],
            },
            "speak": {"provider": {"type": "deepgram", "model": "aura-2-thalia-en"}},
        },
    });
    tx.send(text(settings)).await.unwrap();
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) if serde_json::from_str::<Value>(&t).unwrap()["type"] == "SettingsApplied" => {
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("Deepgram agent (bare) ended early: {other:?}"),
        }
    }
    let (last, rest) = audio.split_last().unwrap();
    for f in rest {
        tx.send(Message::Binary(f.to_pcm16_le().into())).await.unwrap();
    }
    tokio::time::sleep(gap).await;
    let t0 = Instant::now();
    tx.send(Message::Binary(last.to_pcm16_le().into())).await.unwrap();
    let mut first = None;
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str() {
                    Some("FunctionCallRequest") => {
                        for f in v["functions"].as_array().unwrap() {
                            let r = json!({"type": "FunctionCallResponse", "id": f["id"], "name": f["name"],
                                "content": json!({"answer": TOOL_ANSWER}).to_string()});
                            tx.send(text(r)).await.unwrap();
                        }
                    }
                    Some("AgentAudioDone") => break,
                    _ => {}
                }
            }
            Some(Ok(Message::Binary(_))) => {
                first.get_or_insert_with(|| t0.elapsed());
            }
            Some(Ok(_)) => {}
            other => panic!("Deepgram agent (bare) ended early: {other:?}"),
        }
    }
    close_client(tx, rx).await;
    let trip = fake.take_trip(key).expect("the service got the tool result");
    vec![ms(first.expect("agent audio")), ms(trip)]
}

async fn agent_raw_gemini(
    base: &str,
    key: &str,
    audio: &[AudioFrame],
    gap: Duration,
    fake: &Fake,
    nodelay: bool,
) -> Vec<f64> {
    let url = format!("{base}{GEMINI_PATH}");
    let (mut tx, mut rx) = connect(&url, "x-goog-api-key", key, nodelay).await.split();
    let t = tool_spec();
    let setup = json!({"setup": {
        "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
        "generationConfig": {"responseModalities": ["AUDIO"]},
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
        "systemInstruction": {"parts": [{"text": "Answer from the tool."}]},
        "tools": [{"functionDeclarations": [{"name": t.name, "description": t.description, "parameters": t.parameters}]}],
    }});
    tx.send(text(setup)).await.unwrap();
    let read = |m: Option<Result<Message, _>>| -> Option<Value> {
        match m {
            Some(Ok(Message::Text(t))) => Some(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Binary(b))) => Some(serde_json::from_slice(&b).unwrap()),
            Some(Ok(_)) => Some(Value::Null),
            other => panic!("Gemini (bare) ended early: {other:?}"),
        }
    };
    while read(rx.next().await).and_then(|v| v.get("setupComplete").cloned()).is_none() {}
    let message = |f: &AudioFrame| {
        text(json!({"realtimeInput": {"audio": {"data": b64(&f.to_pcm16_le()), "mimeType": "audio/pcm;rate=16000"}}}))
    };
    let (last, rest) = audio.split_last().unwrap();
    for f in rest {
        tx.send(message(f)).await.unwrap();
    }
    tokio::time::sleep(gap).await;
    let t0 = Instant::now();
    tx.send(message(last)).await.unwrap();
    let mut first = None;
    loop {
        let v = read(rx.next().await).unwrap();
        if let Some(calls) = v.pointer("/toolCall/functionCalls").and_then(Value::as_array) {
            for c in calls {
                let r = json!({"toolResponse": {"functionResponses": [
                    {"id": c["id"], "name": c["name"], "response": {"answer": TOOL_ANSWER}}]}});
                tx.send(text(r)).await.unwrap();
            }
        }
        if let Some(parts) = v.pointer("/serverContent/modelTurn/parts").and_then(Value::as_array) {
            for p in parts {
                if let Some(d) = p.pointer("/inlineData/data").and_then(Value::as_str) {
                    let pcm = unb64(d);
                    if !pcm.is_empty() {
                        first.get_or_insert_with(|| t0.elapsed());
                    }
                }
            }
        }
        if v.pointer("/serverContent/turnComplete") == Some(&Value::Bool(true)) {
            break;
        }
    }
    close_client(tx, rx).await;
    let trip = fake.take_trip(key).expect("the service got the tool result");
    vec![ms(first.expect("agent audio")), ms(trip)]
}

struct Audio {
    utterance: Vec<AudioFrame>,
    agent: Vec<AudioFrame>,
    /// Between the last audio frame and the end of the utterance (speech to
    /// text), or before the last frame (agents).
    gap: Duration,
}

/// Who runs a turn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Switchboard's engine, behind its port.
    Ours,
    /// The bare client, connected as the engines connect.
    Bare,
    /// The bare client with TCP_NODELAY.
    BareNoDelay,
}

async fn one_turn(engine: Engine, side: Side, lane: &Lane, fake: &Fake, audio: &Audio) -> Vec<f64> {
    let (base, raw, gap) = (lane.base.as_str(), lane.raw.as_str(), audio.gap);
    let nd = side == Side::BareNoDelay;
    let turn = async {
        match (engine, side == Side::Ours) {
            (Engine::DeepgramStt, true) => stt_ours(&lane.deepgram_stt, &audio.utterance, gap).await,
            (Engine::DeepgramStt, false) => stt_raw_deepgram(base, raw, &audio.utterance, gap, nd).await,
            (Engine::ElevenLabsStt, true) => stt_ours(&lane.elevenlabs_stt, &audio.utterance, gap).await,
            (Engine::ElevenLabsStt, false) => stt_raw_elevenlabs(base, raw, &audio.utterance, gap, nd).await,
            (Engine::Aura, true) => tts_ours(&lane.aura).await,
            (Engine::Aura, false) => tts_raw_aura(base, raw, nd).await,
            (Engine::ElevenLabsTts, true) => tts_ours(&lane.elevenlabs_tts).await,
            (Engine::ElevenLabsTts, false) => tts_raw_elevenlabs(base, raw, nd).await,
            (Engine::DeepgramAgent, true) => {
                agent_ours(&lane.deepgram_agent, &audio.agent, gap, fake, &lane.ours).await
            }
            (Engine::DeepgramAgent, false) => agent_raw_deepgram(base, raw, &audio.agent, gap, fake, nd).await,
            (Engine::Gemini, true) => agent_ours(&lane.gemini, &audio.agent, gap, fake, &lane.ours).await,
            (Engine::Gemini, false) => agent_raw_gemini(base, raw, &audio.agent, gap, fake, nd).await,
        }
    };
    tokio::time::timeout(Duration::from_secs(20), turn).await.expect("the exchange finishes")
}

struct Runs {
    /// (Switchboard, the other side), turn by turn.
    pairs: Vec<(Vec<f64>, Vec<f64>)>,
    /// Then the bare client with TCP_NODELAY, alone.
    nodelay: Vec<Vec<f64>>,
}

/// `pairs` pairs of turns (Switchboard's, `against`), spread over `lanes`
/// concurrent lanes, each lane alternating which goes first, after one
/// warm-up pair per lane; then `nodelay` turns of the bare client with
/// TCP_NODELAY.
async fn bench_engine(
    engine: Engine,
    against: Side,
    fake: &Arc<Fake>,
    audio: &Arc<Audio>,
    pairs: usize,
    nodelay: usize,
    lanes: usize,
) -> Runs {
    const WARM_UP: usize = 1;
    let (per_lane, nodelay_per_lane) = (pairs.div_ceil(lanes), nodelay.div_ceil(lanes));
    let mut tasks = Vec::new();
    for l in 0..lanes {
        let (fake, audio) = (fake.clone(), audio.clone());
        let lane = Lane::new(&fake.url, l);
        tasks.push(tokio::spawn(async move {
            // Lanes out of step, so their bursts do not line up.
            tokio::time::sleep(Duration::from_millis(37 * l as u64)).await;
            let mut pairs = Vec::new();
            for i in 0..WARM_UP + per_lane {
                let (o, r) = if i % 2 == 0 {
                    let o = one_turn(engine, Side::Ours, &lane, &fake, &audio).await;
                    (o, one_turn(engine, against, &lane, &fake, &audio).await)
                } else {
                    let r = one_turn(engine, against, &lane, &fake, &audio).await;
                    (one_turn(engine, Side::Ours, &lane, &fake, &audio).await, r)
                };
                if i >= WARM_UP {
                    pairs.push((o, r));
                }
            }
            let mut nodelay = Vec::new();
            for _ in 0..nodelay_per_lane {
                nodelay.push(one_turn(engine, Side::BareNoDelay, &lane, &fake, &audio).await);
            }
            (pairs, nodelay)
        }));
    }
    let mut runs = Runs { pairs: Vec::new(), nodelay: Vec::new() };
    for t in tasks {
        let (p, n) = t.await.expect("a lane finished");
        runs.pairs.extend(p);
        runs.nodelay.extend(n);
    }
    runs.pairs.truncate(pairs);
    runs.nodelay.truncate(nodelay);
    runs
}

/// The `q` quantile (nearest rank) of `v`.
fn pct(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Quiet before the end of an utterance (or the last frame) in the main
/// comparison: longer than the 40 ms a Linux receiver may hold back its
/// acknowledgement, so no earlier frame is still unacknowledged and Nagle's
/// algorithm holds nothing back, and the difference is the engines' own.
const QUIET_GAP: Duration = Duration::from_millis(60);

async fn overhead(pairs: usize, nodelay: usize, lanes: usize) {
    let fake = Arc::new(Fake::start(Endpoint::AfterBytes(32_000)));
    let audio = Arc::new(Audio { utterance: frames(2.0), agent: frames(1.0), gap: QUIET_GAP });
    println!(
        "Pipeline overhead per turn added by Switchboard (target ≤ 5 ms): {pairs} turns each through Switchboard's \
         engine and a bare tokio-tungstenite client doing the same wire exchange, interleaved, {lanes} lanes at once, \
         against local fakes with realistic delays. The utterance ends (the agent's last frame goes) {} ms after the \
         frame before.",
        QUIET_GAP.as_millis()
    );
    println!(
        "All times in ms. fake: the fake's own delay inside the window. ovh: Switchboard − bare client, turn by turn. \
         nodelay: the bare client with TCP_NODELAY ({nodelay} turns), which the engines and the bare client leave off."
    );
    println!(
        "{:<21} {:<39} {:>4} │ {:>8} {:>8} │ {:>8} {:>8} │ {:>7} {:>7} {:>8} │ {:>7} {:>11}",
        "engine",
        "measure",
        "fake",
        "ours p50",
        "ours p99",
        "bare p50",
        "bare p99",
        "ovh p50",
        "ovh p99",
        "ovh mean",
        "nodelay",
        "ours−nodelay"
    );
    let rule = "─".repeat(21 + 1 + 39 + 1 + 4 + 3 + 17 + 3 + 17 + 3 + 24 + 3 + 19);
    println!("{rule}");
    for engine in Engine::ALL {
        let runs = bench_engine(engine, Side::Bare, &fake, &audio, pairs, nodelay, lanes).await;
        for (i, (label, delay)) in engine.measures().into_iter().enumerate() {
            let ours: Vec<f64> = runs.pairs.iter().map(|(o, _)| o[i]).collect();
            let bare: Vec<f64> = runs.pairs.iter().map(|(_, r)| r[i]).collect();
            let diff: Vec<f64> = runs.pairs.iter().map(|(o, r)| o[i] - r[i]).collect();
            let nd: Vec<f64> = runs.nodelay.iter().map(|r| r[i]).collect();
            println!(
                "{:<21} {:<39} {:>4.0} │ {:>8.2} {:>8.2} │ {:>8.2} {:>8.2} │ {:>7.2} {:>7.2} {:>8.2} │ {:>7.2} {:>11.2}",
                if i == 0 { engine.name() } else { "" },
                label,
                delay,
                pct(&ours, 0.5),
                pct(&ours, 0.99),
                pct(&bare, 0.5),
                pct(&bare, 0.99),
                pct(&diff, 0.5),
                pct(&diff, 0.99),
                mean(&diff),
                pct(&nd, 0.5),
                pct(&ours, 0.5) - pct(&nd, 0.5),
            );
        }
    }

    // As in a call: the end (or the agent's last frame) 20 ms after the
    // frame before, against the bare client with TCP_NODELAY.
    let n = (pairs / 5).max(lanes);
    let audio = Arc::new(Audio { utterance: frames(2.0), agent: frames(1.0), gap: FRAME_PERIOD });
    println!();
    println!(
        "The same with call-like timing (the end {} ms after the frame before, as frames come in a call), Switchboard \
         against the bare client with TCP_NODELAY, {n} turns each: what leaving Nagle's algorithm on costs.",
        FRAME_PERIOD.as_millis()
    );
    println!(
        "{:<21} {:<39} {:>4} │ {:>8} {:>8} │ {:>8} {:>8} │ {:>7} {:>7} {:>8}",
        "engine", "measure", "fake", "ours p50", "ours p99", "nd p50", "nd p99", "Δ p50", "Δ p99", "Δ mean"
    );
    println!("{}", "─".repeat(21 + 1 + 39 + 1 + 4 + 3 + 17 + 3 + 17 + 3 + 24));
    for engine in [Engine::DeepgramStt, Engine::ElevenLabsStt, Engine::DeepgramAgent, Engine::Gemini] {
        let runs = bench_engine(engine, Side::BareNoDelay, &fake, &audio, n, 0, lanes).await;
        let (label, delay) = engine.measures()[0];
        let ours: Vec<f64> = runs.pairs.iter().map(|(o, _)| o[0]).collect();
        let nd: Vec<f64> = runs.pairs.iter().map(|(_, r)| r[0]).collect();
        let diff: Vec<f64> = runs.pairs.iter().map(|(o, r)| o[0] - r[0]).collect();
        println!(
            "{:<21} {:<39} {:>4.0} │ {:>8.2} {:>8.2} │ {:>8.2} {:>8.2} │ {:>7.2} {:>7.2} {:>8.2}",
            engine.name(),
            label,
            delay,
            pct(&ours, 0.5),
            pct(&ours, 0.99),
            pct(&nd, 0.5),
            pct(&nd, 0.99),
            pct(&diff, 0.5),
            pct(&diff, 0.99),
            mean(&diff),
        );
    }
}

// ---------------------------------------------------------------------------
// Part 2: the whole app.

/// Stored questions and answers, and how the caller says the question.
const LEARNED: [(&str, &str, &str); 4] = [
    (
        "What time do you open on Saturdays?",
        "On Saturdays we open at nine in the morning.",
        "What time do you open on Saturday?",
    ),
    ("Do you sell gift cards?", "Yes, we sell gift cards at the front desk.", "Do you sell gift cards?"),
    ("Where can I park?", "There is free parking behind the building.", "Where can I park?"),
    ("Do you take walk-ins?", "Yes, walk-ins are welcome when a chair is free.", "Do you take walk ins?"),
];

const KEY: &str = "dg-bench-key-0123";
const TIMINGS: [&str; 4] = ["end_of_turn_ms", "transcript_final_ms", "first_audio_ms", "playback_start_ms"];

struct AppRun {
    e2e: Vec<f64>,
    timings: Vec<Vec<f64>>,
    /// Each answered turn's stored timings.
    turns: Vec<Value>,
    tool_trips: Vec<f64>,
}

async fn app_setup(agent: bool, turns: usize) -> AppRun {
    // The fake voice agent ends the caller's turn on quiet 16 kHz audio.
    let fake = Fake::start(Endpoint::Silence(AGENT_ENDPOINT_MS as usize * 32));
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.cloud.deepgram_url = fake.url.parse().unwrap();
    c.cloud.deepgram_agent_url = fake.url.parse().unwrap();
    c.cloud.timeout_secs = 3.0;
    let s = TestServer::start(c).await;
    for (q, a, _) in LEARNED {
        s.post_json("/api/knowledge-base", &json!({"question": q, "answer": a}), 201).await;
    }
    let choice = if agent {
        json!({"stt": "offline", "tts": "offline", "voice_agent": "deepgram", "api_key": {"deepgram": KEY}})
    } else {
        json!({"stt": "deepgram", "tts": "deepgram", "api_key": {"deepgram": KEY}})
    };
    expect(s.put("/api/settings/speech", &choice).send().await.unwrap(), 200).await;

    // Each question at 16 kHz, 0.3 s of silence before it, padded to whole
    // 20 ms frames: its last frame is its last speech.
    let questions: Vec<AudioFrame> = LEARNED
        .iter()
        .map(|(_, _, q)| {
            let mut s = vec![0.0; RATE as usize * 3 / 10];
            s.extend(resample(&speak(q, "en-us", 165), RATE).samples);
            s.resize(s.len().div_ceil(FRAME) * FRAME, 0.0);
            AudioFrame::new(RATE, s)
        })
        .collect();
    let after = AudioFrame::silence(RATE, 1.5);

    let mut call = VoiceCall::connect(&s.base, TOKEN, RATE, RATE).await;
    call.wait_type(0, "audio_end", Duration::from_secs(30)).await;
    let mut e2e = Vec::new();
    for i in 0..turns {
        let (_, _, said) = LEARNED[i % LEARNED.len()];
        fake.set_transcript(said);
        let mark = call.events.len();
        assert!(call.send_audio(&questions[i % LEARNED.len()], 1.0).await, "the call is up");
        // send_audio returns one frame period after sending the last frame.
        let spoken = Instant::now() - FRAME_PERIOD;
        assert!(call.send_audio(&after, 1.0).await, "the call is up");
        let heard =
            call.wait_for(mark, Duration::from_secs(30), |v| v["type"] == "transcript" && v["is_final"] == true).await;
        assert_eq!(heard["text"], said, "{heard}");
        call.wait_type(mark, "audio_end", Duration::from_secs(30)).await;
        let first = call.audio.iter().find(|(at, _)| *at > spoken).expect("the reply was heard").0;
        e2e.push(ms(first - spoken));
    }
    let id = call.session_id.clone();
    call.hang_up().await;
    let view = s.get_json(&format!("/api/sessions/{id}"), 200).await;
    let agent_turns: Vec<&Value> =
        view["turns"].as_array().unwrap().iter().filter(|t| t["role"] == "agent" && t["timings"].is_object()).collect();
    let answered = agent_turns
        .iter()
        .filter(|t| LEARNED.iter().any(|(_, a, _)| t["text"].as_str().is_some_and(|x| x.contains(a))))
        .count();
    assert_eq!(answered, turns, "every question got its learned answer: {view}");
    let timings =
        TIMINGS.iter().map(|k| agent_turns.iter().filter_map(|t| t["timings"][*k].as_f64()).collect()).collect();
    let turns = agent_turns.iter().map(|t| t["timings"].clone()).collect();
    let tool_trips = fake.trips(KEY);
    s.stop().await;
    AppRun { e2e, timings, turns, tool_trips }
}

async fn through_the_app(turns: usize) {
    let silence = config(std::path::Path::new(".")).call;
    println!();
    println!(
        "End of speech → first reply audio through the whole app (browser call, espeak-ng questions at real time, \
         learned answers; {turns} turns per setup). Call loop: silence_ms {:.0}, preempt_after_ms {:.0}.",
        silence.silence_ms, silence.preempt_after_ms
    );
    println!(
        "All times in ms. e2e: the client's last speech frame sent → first reply audio received. \
         Stored timings: from the call's end of speech (its last voiced frame)."
    );
    let pipeline_delays = ms(STT_FINAL + TTS_FIRST);
    let agent_delays = AGENT_ENDPOINT_MS as f64 + ms(AGENT_THINK);
    for (agent, name, delays, what) in [
        (false, "Deepgram STT + Aura TTS", pipeline_delays, "final 150 + first audio 120"),
        (true, "Deepgram Voice Agent", agent_delays, "end of turn 300 quiet + reply 200"),
    ] {
        let run = app_setup(agent, turns).await;
        let minus: Vec<f64> = run.e2e.iter().map(|e| e - delays).collect();
        println!("{name}:");
        println!(
            "  e2e                          p50 {:>7.1}  p95 {:>7.1}  (n={})",
            pct(&run.e2e, 0.5),
            pct(&run.e2e, 0.95),
            run.e2e.len()
        );
        println!(
            "  e2e − fake delays ({delays:.0}: {what})  p50 {:>7.1}  p95 {:>7.1}",
            pct(&minus, 0.5),
            pct(&minus, 0.95)
        );
        let line: Vec<String> = TIMINGS
            .iter()
            .zip(&run.timings)
            .map(|(k, v)| format!("{}={:.1}", k.trim_end_matches("_ms"), pct(v, 0.5)))
            .collect();
        println!("  stored timings p50 (n={}): {}", run.timings[0].len(), line.join("  "));
        // Per turn: what follows the end of the caller's turn as the call
        // saw it (its own decision; on a service, the service's final words).
        let after: Vec<f64> = run
            .turns
            .iter()
            .filter_map(|t| {
                let end = if agent { t["transcript_final_ms"].as_f64() } else { t["end_of_turn_ms"].as_f64() };
                Some(t["playback_start_ms"].as_f64()? - end?)
            })
            .collect();
        println!(
            "  {}: p50 {:.1}  p95 {:.1}",
            if agent {
                "after the service's end of turn (playback_start − transcript_final)"
            } else {
                "after the end-of-turn decision (playback_start − end_of_turn)"
            },
            pct(&after, 0.5),
            pct(&after, 0.95)
        );
        if !run.tool_trips.is_empty() {
            println!(
                "  tool call sent → result at the service (search_knowledge_base in the app): p50 {:.1}  p95 {:.1}",
                pct(&run.tool_trips, 0.5),
                pct(&run.tool_trips, 0.95)
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let var = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let pairs = var("CLOUD_BENCH_PAIRS", 100);
    let lanes = var("CLOUD_BENCH_LANES", 6).max(1);
    let app_turns = var("CLOUD_BENCH_APP_TURNS", 10);
    let only = std::env::var("CLOUD_BENCH_ONLY").unwrap_or_default();
    let started = Instant::now();
    if only != "app" {
        overhead(pairs, var("CLOUD_BENCH_NODELAY", pairs / 4), lanes).await;
    }
    if only != "overhead" {
        through_the_app(app_turns).await;
    }
    eprintln!("(cloud bench: {:.0} s)", started.elapsed().as_secs_f64());
}
