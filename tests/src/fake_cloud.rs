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
}

#[derive(Debug, Default)]
pub struct Seen {
    pub connections: usize,
    pub authorization: Vec<String>,
    pub listen_streams: usize,
    pub audio_bytes: usize,
    pub spoken: Vec<String>,
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
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
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
    if path.starts_with("/v1/listen") {
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
