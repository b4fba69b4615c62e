//! A local stand-in for Deepgram's speech endpoints, for tests of the app
//! with cloud engines chosen: `/v1/listen` (live transcription: binary PCM
//! in, interim and final `Results` out, `Metadata` and a normal close after
//! `CloseStream`) and `/v1/speak` (Aura: `Speak` and `Flush` in, binary PCM
//! and `Flushed` out), behind `Authorization: Token <key>`. The transcript
//! it returns is scripted (it does not recognise speech); the audio it
//! speaks is a tone as long as the text would take to say.

use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How the fake answers.
#[derive(Debug, Clone)]
pub struct Script {
    /// What `/v1/listen` hears in every utterance.
    pub transcript: String,
    /// `/v1/listen` closes the socket (code 1011) after this many audio
    /// frames of a stream, as a service failing mid-utterance.
    pub listen_fails_after: Option<usize>,
    /// `/v1/speak` answers every `Speak` with a `Warning` and closes.
    pub speak_fails: bool,
    /// The Voice Agent closes the socket (1011) after this many bytes of
    /// caller audio.
    pub agent_fails_after_bytes: Option<usize>,
    /// Seconds of agent speech per character of a reply (longer replies
    /// leave room to cut in).
    pub agent_secs_per_char: f64,
}

impl Script {
    pub fn new(transcript: &str) -> Script {
        Script {
            transcript: transcript.into(),
            listen_fails_after: None,
            speak_fails: false,
            agent_fails_after_bytes: None,
            agent_secs_per_char: 0.06,
        }
    }
}

#[derive(Debug, Default)]
pub struct Seen {
    pub connections: usize,
    pub authorization: Vec<String>,
    pub listen_streams: usize,
    pub audio_bytes: usize,
    pub spoken: Vec<String>,
    /// The Voice Agent: the `Settings` messages, tool results and injected
    /// messages it received.
    pub agent_settings: Vec<Value>,
    pub tool_results: Vec<Value>,
    pub injected: Vec<String>,
}

pub struct FakeDeepgram {
    pub url: String,
    pub key: String,
    pub seen: Arc<Mutex<Seen>>,
    pub script: Arc<Mutex<Script>>,
}

impl FakeDeepgram {
    pub async fn start(key: &str, script: Script) -> FakeDeepgram {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let script = Arc::new(Mutex::new(script));
        let (s, sc, k) = (seen.clone(), script.clone(), key.to_string());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (s, sc, k) = (s.clone(), sc.clone(), k.clone());
                tokio::spawn(async move { serve(tcp, k, s, sc).await });
            }
        });
        FakeDeepgram { url, key: key.into(), seen, script }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

async fn serve(tcp: tokio::net::TcpStream, key: String, seen: Arc<Mutex<Seen>>, script: Arc<Mutex<Script>>) {
    let path = Arc::new(Mutex::new(String::new()));
    let (p, s2) = (path.clone(), seen.clone());
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        // Deepgram takes `Authorization: Token <key>`, Gemini `x-goog-api-key`.
        let auth = match req.headers().get("x-goog-api-key").and_then(|v| v.to_str().ok()) {
            Some(k) => format!("Token {k}"),
            None => req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
        };
        let mut s = s2.lock().unwrap();
        s.connections += 1;
        s.authorization.push(auth.clone());
        *p.lock().unwrap() = req.uri().to_string();
        if auth != format!("Token {key}") {
            let mut r = ErrorResponse::new(Some(r#"{"err_code":"INVALID_AUTH"}"#.into()));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return Err(r);
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else { return };
    let path = path.lock().unwrap().clone();
    let script = script.lock().unwrap().clone();
    if path.starts_with("/ws/google.ai.generativelanguage") {
        gemini(ws, script, seen).await
    } else if path.starts_with("/v1/agent/converse") {
        agent(ws, script, seen).await
    } else if path.starts_with("/v1/listen") {
        listen(ws, script, seen).await
    } else if path.starts_with("/v1/speak") {
        let rate = path
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("sample_rate="))
            .and_then(|r| r.parse().ok())
            .unwrap_or(24_000u32);
        speak(ws, script, seen, rate).await
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

fn results(text: &str, is_final: bool) -> Message {
    let v = json!({
        "type": "Results", "is_final": is_final, "speech_final": is_final, "duration": 1.0, "start": 0.0,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.93, "words": []}]}
    });
    Message::Text(v.to_string().into())
}

async fn listen(mut ws: Ws, script: Script, seen: Arc<Mutex<Seen>>) {
    seen.lock().unwrap().listen_streams += 1;
    let mut frames = 0;
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Binary(b) => {
                frames += 1;
                seen.lock().unwrap().audio_bytes += b.len();
                if script.listen_fails_after.is_some_and(|n| frames >= n) {
                    let _ =
                        ws.close(Some(CloseFrame { code: CloseCode::Error, reason: "internal error".into() })).await;
                    return;
                }
                if frames == 1 {
                    let first = script.transcript.split_whitespace().next().unwrap_or("").to_string();
                    let _ = ws.send(results(&first, false)).await;
                }
            }
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                if v["type"] == "CloseStream" {
                    let _ = ws.send(results(&script.transcript, true)).await;
                    let meta = json!({"type": "Metadata", "request_id": "fake", "duration": 1.0, "channels": 1});
                    let _ = ws.send(Message::Text(meta.to_string().into())).await;
                    let _ = ws.close(None).await;
                    return;
                }
            }
            _ => {}
        }
    }
}

async fn speak(mut ws: Ws, script: Script, seen: Arc<Mutex<Seen>>, rate: u32) {
    let mut pending = String::new();
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        match v["type"].as_str() {
            Some("Speak") => {
                let text = v["text"].as_str().unwrap_or("").to_string();
                seen.lock().unwrap().spoken.push(text.clone());
                if script.speak_fails {
                    let w = json!({"type": "Warning", "description": "the voice failed", "code": "INTERNAL"});
                    let _ = ws.send(Message::Text(w.to_string().into())).await;
                    let _ = ws.close(None).await;
                    return;
                }
                pending.push_str(&text);
            }
            Some("Flush") => {
                // About 60 ms a character, in 100 ms chunks of a quiet tone.
                let samples = (pending.chars().count() as f64 * 0.06 * rate as f64) as usize;
                let tone: Vec<u8> = (0..samples)
                    .flat_map(|i| {
                        let x = (i as f64 * 440.0 * std::f64::consts::TAU / rate as f64).sin() * 6000.0;
                        (x as i16).to_le_bytes()
                    })
                    .collect();
                for chunk in tone.chunks(rate as usize / 10 * 2) {
                    if ws.send(Message::Binary(chunk.to_vec().into())).await.is_err() {
                        return;
                    }
                }
                pending.clear();
                let _ = ws.send(Message::Text(json!({"type": "Flushed", "sequence_id": 0}).to_string().into())).await;
            }
            Some("Clear") => pending.clear(),
            Some("Close") => {
                let _ = ws.close(None).await;
                return;
            }
            _ => {}
        }
    }
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

fn tone(secs: f64, rate: u32) -> Vec<u8> {
    let samples = (secs * rate as f64) as usize;
    (0..samples)
        .flat_map(|i| (((i as f64 * 330.0 * std::f64::consts::TAU / rate as f64).sin() * 6000.0) as i16).to_le_bytes())
        .collect()
}

/// The Deepgram Voice Agent (`/v1/agent/converse`): `Welcome`, then
/// `SettingsApplied` for the client's `Settings`; the greeting spoken; each
/// second of caller audio taken as an utterance of the scripted transcript,
/// looked up with the client's `search_knowledge_base` function, answered
/// with its `say_as_is` answer or handed on with `request_help`;
/// `InjectAgentMessage` spoken as it is; caller audio while the agent speaks
/// is a barge-in (`UserStartedSpeaking`).
async fn agent(ws: Ws, script: Script, seen: Arc<Mutex<Seen>>) {
    const RATE: u32 = 24_000;
    let (mut tx, mut rx) = ws.split();
    let _ = tx.send(text(json!({"type": "Welcome", "request_id": "fake-agent"}))).await;
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    // Speech goes out in 100 ms chunks at about 4× real time, so a caller can
    // cut in while it plays.
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let pause = matches!(m, Message::Binary(_));
            if tx.send(m).await.is_err() {
                return;
            }
            if pause {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
        }
        let _ = tx.close().await;
    });
    let say = |reply: &str| {
        let _ = out_tx.send(text(json!({"type": "ConversationText", "role": "assistant", "content": reply})));
        let _ = out_tx.send(text(
            json!({"type": "AgentStartedSpeaking", "total_latency": 0.3, "tts_latency": 0.1, "ttt_latency": 0.2}),
        ));
        for chunk in
            tone(reply.chars().count() as f64 * script.agent_secs_per_char, RATE).chunks(RATE as usize / 10 * 2)
        {
            let _ = out_tx.send(Message::Binary(chunk.to_vec().into()));
        }
        let _ = out_tx.send(text(json!({"type": "AgentAudioDone"})));
    };
    let mut bytes = 0usize;
    let mut utterance = 0usize;
    let mut pending_call: Option<String> = None;
    let mut asked = false;
    let mut n = 0;
    while let Some(Ok(m)) = rx.next().await {
        match m {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("Settings") => {
                        seen.lock().unwrap().agent_settings.push(v.clone());
                        let _ = out_tx.send(text(json!({"type": "SettingsApplied"})));
                        if let Some(g) = v["agent"]["greeting"].as_str() {
                            say(g);
                        }
                    }
                    Some("FunctionCallResponse") => {
                        seen.lock().unwrap().tool_results.push(v.clone());
                        let content: Value =
                            serde_json::from_str(v["content"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
                        match v["name"].as_str() {
                            Some("search_knowledge_base") => {
                                if let Some(answer) = content["say_as_is"].as_str() {
                                    say(answer);
                                } else {
                                    n += 1;
                                    let args = json!({"question": script.transcript}).to_string();
                                    let call = json!({"type": "FunctionCallRequest", "functions": [
                                        {"id": format!("fc-{n}"), "name": "request_help", "arguments": args, "client_side": true}]});
                                    let _ = out_tx.send(text(call));
                                }
                            }
                            _ => say("Let me check with a colleague and get back to you."),
                        }
                        pending_call = None;
                    }
                    Some("InjectAgentMessage") => {
                        let m = v["message"].as_str().unwrap_or("").to_string();
                        seen.lock().unwrap().injected.push(m.clone());
                        say(&m);
                    }
                    _ => {}
                }
            }
            Message::Binary(b) => {
                bytes += b.len();
                if script.agent_fails_after_bytes.is_some_and(|n| bytes >= n) {
                    let (out, w) = (out_tx, writer);
                    let _ = out.send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Error,
                        reason: "internal error".into(),
                    })));
                    drop(out);
                    let _ = w.await;
                    return;
                }
                // Speech, not silence, counts: a second of it (16 kHz PCM16)
                // makes an utterance.
                let loud =
                    b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]]).unsigned_abs() as u64).sum::<u64>()
                        > 300 * (b.len() as u64 / 2);
                if !loud {
                    continue;
                }
                utterance += b.len();
                if utterance >= 32_000 && pending_call.is_none() && !asked {
                    asked = true;
                    utterance = 0;
                    let _ = out_tx.send(text(json!({"type": "UserStartedSpeaking"})));
                    let _ = out_tx
                        .send(text(json!({"type": "ConversationText", "role": "user", "content": script.transcript})));
                    n += 1;
                    let id = format!("fc-{n}");
                    let args = json!({"query": script.transcript}).to_string();
                    let call = json!({"type": "FunctionCallRequest", "functions": [
                        {"id": id, "name": "search_knowledge_base", "arguments": args, "client_side": true}]});
                    pending_call = Some(id);
                    let _ = out_tx.send(text(call));
                } else if asked && utterance >= 32_000 {
                    // More speech after the answer: the caller cuts in.
                    utterance = 0;
                    let _ = out_tx.send(text(json!({"type": "UserStartedSpeaking"})));
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    drop(out_tx);
    let _ = writer.await;
}

/// Gemini Live (`BidiGenerateContent`): `setupComplete` for the client's
/// `setup`; a `clientContent` turn (the greeting, a relayed answer) spoken
/// back; each second of caller speech taken as the scripted question, heard
/// in `inputTranscription` pieces and looked up with the client's
/// `search_knowledge_base`; its `say_as_is` answer spoken, else
/// `request_help` called. Speech is `inlineData` PCM at 24 kHz with
/// `outputTranscription`, then `turnComplete`.
async fn gemini(ws: Ws, script: Script, seen: Arc<Mutex<Seen>>) {
    use base64::Engine as _;
    const RATE: u32 = 24_000;
    let (mut tx, mut rx) = ws.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if tx.send(m).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let _ = tx.close().await;
    });
    let say = |reply: &str| {
        let _ = out_tx.send(text(json!({"serverContent": {"outputTranscription": {"text": reply}}})));
        for chunk in
            tone(reply.chars().count() as f64 * script.agent_secs_per_char, RATE).chunks(RATE as usize / 10 * 2)
        {
            let data = base64::engine::general_purpose::STANDARD.encode(chunk);
            let part = json!({"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}});
            let _ = out_tx.send(text(json!({"serverContent": {"modelTurn": {"parts": [part]}}})));
        }
        let _ = out_tx.send(text(json!({"serverContent": {"generationComplete": true}})));
        let _ = out_tx.send(text(json!({"serverContent": {"turnComplete": true}})));
    };
    let mut utterance = 0usize;
    let mut asked = false;
    let mut n = 0;
    while let Some(Ok(m)) = rx.next().await {
        let Message::Text(t) = m else {
            if let Message::Close(_) = m {
                break;
            }
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        if v.get("setup").is_some() {
            seen.lock().unwrap().agent_settings.push(v.clone());
            let _ = out_tx.send(text(json!({"setupComplete": {}})));
        } else if let Some(turns) = v.pointer("/clientContent/turns") {
            let said = turns[0]["parts"][0]["text"].as_str().unwrap_or("").to_string();
            seen.lock().unwrap().injected.push(said.clone());
            // The text to say ends the instruction, after its colon.
            let quoted = said.split_once("after it: ").map(|(_, q)| q.to_string()).unwrap_or(said);
            say(&quoted);
        } else if let Some(responses) = v.pointer("/toolResponse/functionResponses") {
            let r = responses[0].clone();
            seen.lock().unwrap().tool_results.push(r.clone());
            match r["name"].as_str() {
                Some("search_knowledge_base") => {
                    if let Some(answer) = r["response"]["say_as_is"].as_str() {
                        say(answer);
                    } else {
                        n += 1;
                        let call = json!({"id": format!("gc-{n}"), "name": "request_help", "args": {"question": script.transcript}});
                        let _ = out_tx.send(text(json!({"toolCall": {"functionCalls": [call]}})));
                    }
                }
                _ => say("Let me check with a colleague and get back to you."),
            }
        } else if let Some(data) = v.pointer("/realtimeInput/audio/data").and_then(Value::as_str) {
            let b = base64::engine::general_purpose::STANDARD.decode(data).unwrap_or_default();
            let loud = b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]]).unsigned_abs() as u64).sum::<u64>()
                > 300 * (b.len() as u64 / 2);
            if !loud {
                continue;
            }
            utterance += b.len();
            if utterance >= 32_000 && !asked {
                asked = true;
                let words: Vec<&str> = script.transcript.split_whitespace().collect();
                let (a, b) = words.split_at(words.len() / 2);
                for piece in [a.join(" "), format!(" {}", b.join(" "))] {
                    let _ = out_tx.send(text(json!({"serverContent": {"inputTranscription": {"text": piece}}})));
                }
                n += 1;
                let call = json!({"id": format!("gc-{n}"), "name": "search_knowledge_base", "args": {"query": script.transcript}});
                let _ = out_tx.send(text(json!({"toolCall": {"functionCalls": [call]}})));
            }
        }
    }
    drop(out_tx);
    let _ = writer.await;
}
