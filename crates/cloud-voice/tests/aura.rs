//! Deepgram Aura text-to-speech against a local fake of its `/v1/speak`
//! WebSocket (JSON `Speak`/`Flush`/`Clear`/`Close` in; binary 16-bit PCM and
//! `Flushed` out), and the offline fallback behind it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use switchboard_cloud_voice::aura::{AuraConfig, AuraTts};
use switchboard_cloud_voice::fallback::FallbackTts;
use switchboard_cloud_voice::usage::Usage;
use switchboard_cloud_voice::{ApiKey, CloudError};
use switchboard_core::speech::{AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, TextToSpeech};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use url::Url;

mod common;
use common::drain;

const KEY: &str = "aura-test-key-42";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Behaviour {
    /// 0.3 s of audio in three frames (one splitting a sample), then Flushed.
    Speak,
    /// Streams audio slowly until told to Clear.
    Endless,
    /// One frame, then a close with an error code.
    CloseMidSpeech,
    /// A `Warning` instead of audio.
    Warn,
    /// Takes the text and never answers.
    Silent,
}

#[derive(Default, Debug)]
struct Log {
    authorization: Vec<String>,
    texts: Vec<String>,
    flushes: usize,
    clears: usize,
    closes: usize,
}

async fn fake(behaviour: Behaviour) -> (Url, Arc<Mutex<Log>>) {
    common::listen(move |tcp, log| serve(tcp, behaviour, log)).await
}

/// `seconds` of a tone at 24 kHz as 16-bit PCM.
fn pcm(seconds: f64) -> Vec<u8> {
    let n = (24_000.0 * seconds) as usize;
    AudioFrame::new(24_000, (0..n).map(|i| (i as f32 * 0.05).sin() * 0.4).collect()).to_pcm16_le()
}

async fn serve(tcp: tokio::net::TcpStream, behaviour: Behaviour, log: Arc<Mutex<Log>>) {
    let hs = log.clone();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        hs.lock().unwrap().authorization.push(auth.clone());
        if auth != format!("Token {KEY}") || !req.uri().to_string().contains("sample_rate=24000") {
            let mut r = ErrorResponse::new(None);
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return Err(r);
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else { return };
    let mut streaming = false;
    loop {
        let next = if streaming {
            match tokio::time::timeout(Duration::from_millis(20), ws.next()).await {
                Err(_) => {
                    // Endless: another 20 ms of audio.
                    if ws.send(Message::Binary(pcm(0.02).into())).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(m) => m,
            }
        } else {
            ws.next().await
        };
        let Some(Ok(msg)) = next else { return };
        let Message::Text(t) = msg else { continue };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
        match v["type"].as_str() {
            Some("Speak") => log.lock().unwrap().texts.push(v["text"].as_str().unwrap_or("").to_string()),
            Some("Flush") => {
                log.lock().unwrap().flushes += 1;
                match behaviour {
                    Behaviour::Speak => {
                        let audio = pcm(0.3);
                        // Three frames, the first two split mid-sample.
                        for part in [&audio[..4801], &audio[4801..9600], &audio[9600..]] {
                            let _ = ws.send(Message::Binary(part.to_vec().into())).await;
                        }
                        let _ = ws
                            .send(Message::Text(json!({"type": "Flushed", "sequence_id": 0}).to_string().into()))
                            .await;
                    }
                    Behaviour::Endless => streaming = true,
                    Behaviour::CloseMidSpeech => {
                        let _ = ws.send(Message::Binary(pcm(0.1).into())).await;
                        let _ = ws
                            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                                code: 1011u16.into(),
                                reason: "internal".into(),
                            }))
                            .await;
                        return;
                    }
                    Behaviour::Warn => {
                        let w = json!({"type": "Warning", "description": "Text too long", "code": "TEXT_LENGTH"});
                        let _ = ws.send(Message::Text(w.to_string().into())).await;
                    }
                    Behaviour::Silent => {}
                }
            }
            Some("Clear") => {
                log.lock().unwrap().clears += 1;
                streaming = false;
                let _ = ws.send(Message::Text(json!({"type": "Cleared", "sequence_id": 0}).to_string().into())).await;
            }
            Some("Close") => {
                log.lock().unwrap().closes += 1;
                let _ = ws.close(None).await;
                return;
            }
            _ => {}
        }
    }
}

/// Waits (up to 2 s) until the fake saw the client's `Close`.
async fn closed(log: &Mutex<Log>) {
    for _ in 0..100 {
        if log.lock().unwrap().closes > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn engine(url: &Url, key: &str, usage: Usage) -> AuraTts {
    let mut cfg = AuraConfig::new(ApiKey::new(key).unwrap());
    cfg.base_url = url.clone();
    cfg.reply_timeout = Duration::from_millis(400);
    AuraTts::new(cfg, usage).unwrap()
}

#[tokio::test]
async fn text_is_spoken_and_every_sample_arrives() {
    let (url, log) = fake(Behaviour::Speak).await;
    let usage = Usage::default();
    let tts = engine(&url, KEY, usage.clone());
    let (samples, err) = drain(tts.speak("Your table is booked for eight.", "en").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(samples, 7200, "0.3 s at 24 kHz, the split sample joined");
    closed(&log).await;
    let log = log.lock().unwrap();
    assert_eq!(log.texts, ["Your table is booked for eight."]);
    assert_eq!((log.flushes, log.closes), (1, 1));
    assert!((usage.snapshot()["deepgram"].received_seconds - 0.3).abs() < 1e-6);
}

#[tokio::test]
async fn a_listener_who_stops_listening_clears_the_service() {
    let (url, log) = fake(Behaviour::Endless).await;
    let tts = engine(&url, KEY, Usage::default());
    let mut s = tts.speak("A very long answer.", "en").await.unwrap();
    assert!(s.recv().await.unwrap().is_ok());
    drop(s);
    closed(&log).await;
    let log = log.lock().unwrap();
    assert_eq!((log.clears, log.closes), (1, 1), "barge-in: Clear, then Close");
}

#[tokio::test]
async fn each_failure_ends_the_speech_with_a_clear_error() {
    for (behaviour, expect) in [
        (Behaviour::CloseMidSpeech, "closed the connection mid-utterance"),
        (Behaviour::Warn, "Text too long"),
        (Behaviour::Silent, "did not answer within 0.4 s"),
    ] {
        let (url, _) = fake(behaviour).await;
        let (_, err) = drain(engine(&url, KEY, Usage::default()).speak("Hello.", "en").await.unwrap()).await;
        let e = err.unwrap_or_else(|| panic!("{behaviour:?}: an error"));
        assert!(e.to_string().contains(expect), "{behaviour:?}: {e}");
    }
    let (url, _) = fake(Behaviour::Speak).await;
    assert_eq!(
        engine(&url, "wrong", Usage::default()).check().await.unwrap_err(),
        CloudError::BadKey { service: "Deepgram Aura" }
    );
    let e = engine(&url, KEY, Usage::default()).speak("Hallo.", "de").await.err().unwrap();
    assert!(matches!(e, SpeechError::Unsupported(_)), "{e}");
}

/// An offline voice that speaks 0.1 s per word at 16 kHz.
struct WordsTts;

#[async_trait::async_trait]
impl TextToSpeech for WordsTts {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo { engine: "offline".into(), model: None, ready: true, missing: None, languages: vec![] }
    }

    fn supports(&self, _language: &str) -> bool {
        true
    }

    async fn speak(&self, text: &str, _language: &str) -> Result<AudioStream, SpeechError> {
        let (tx, rx) = mpsc::channel(4);
        let words = text.split_whitespace().count();
        tokio::spawn(async move {
            let _ = tx.send(Ok(AudioFrame::silence(16_000, 0.1 * words as f64))).await;
        });
        Ok(rx)
    }
}

#[tokio::test]
async fn the_offline_voice_takes_over_a_failed_clause_and_the_rest_of_the_call() {
    let (url, _) = fake(Behaviour::CloseMidSpeech).await;
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let notes = said.clone();
    let tts = FallbackTts::new(
        Arc::new(engine(&url, KEY, Usage::default())),
        Arc::new(WordsTts),
        Arc::new(move |why| notes.lock().unwrap().push(why)),
    );
    // The cloud's 0.1 s at 24 kHz, then the whole clause offline.
    let (samples, err) = drain(tts.speak("We open at nine.", "en").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(samples, 2400 + 6400);
    let (samples, _) = drain(tts.speak("See you then.", "en").await.unwrap()).await;
    assert_eq!(samples, 4800, "the next clause is offline from the start");
    assert_eq!(said.lock().unwrap().len(), 1);
    assert!(said.lock().unwrap()[0].contains("offline takes over"));
    // A language the cloud voice lacks is no failure.
    let (fresh_url, _) = fake(Behaviour::Speak).await;
    let tts =
        FallbackTts::new(Arc::new(engine(&fresh_url, KEY, Usage::default())), Arc::new(WordsTts), Arc::new(|_| {}));
    drain(tts.speak("Guten Tag.", "de").await.unwrap()).await;
    assert!(!tts.switched());
}
