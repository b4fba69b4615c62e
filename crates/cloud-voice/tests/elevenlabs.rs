//! ElevenLabs input-streaming text-to-speech against a local fake of its
//! `/v1/text-to-speech/{voice}/stream-input` WebSocket: JSON text messages
//! in (a space to open, the text, an empty text to end), JSON messages with
//! base64 PCM out, then `isFinal`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use switchboard_cloud_voice::elevenlabs::{ElevenLabsConfig, ElevenLabsTts};
use switchboard_cloud_voice::usage::Usage;
use switchboard_cloud_voice::{ApiKey, CloudError};
use switchboard_core::speech::{AudioFrame, SpeechError, TextToSpeech};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use url::Url;

mod common;
use common::drain;

const KEY: &str = "xi-test-key-77";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Behaviour {
    /// 0.25 s of audio in two messages (the first ends mid-sample), then isFinal.
    Speak,
    /// An error message instead of audio.
    Quota,
    /// Audio that is not base64.
    Garbled,
    /// One audio message, then the socket closes with an error code.
    CloseMidSpeech,
    /// Audio every 20 ms until the client goes.
    Endless,
}

#[derive(Default, Debug)]
struct Log {
    paths: Vec<String>,
    texts: Vec<String>,
    closed_by_client: bool,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn pcm(seconds: f64) -> Vec<u8> {
    let n = (16_000.0 * seconds) as usize;
    AudioFrame::new(16_000, (0..n).map(|i| (i as f32 * 0.07).sin() * 0.3).collect()).to_pcm16_le()
}

async fn fake(behaviour: Behaviour) -> (Url, Arc<Mutex<Log>>) {
    common::listen(move |tcp, log| serve(tcp, behaviour, log)).await
}

async fn serve(tcp: tokio::net::TcpStream, behaviour: Behaviour, log: Arc<Mutex<Log>>) {
    let hs = log.clone();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        hs.lock().unwrap().paths.push(req.uri().to_string());
        if req.headers().get("xi-api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
            let mut r = ErrorResponse::new(Some("invalid_api_key".into()));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return Err(r);
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else { return };
    // Read the input to its end (an empty text).
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
            let text = v["text"].as_str().unwrap_or("").to_string();
            let end = text.is_empty();
            log.lock().unwrap().texts.push(text);
            if end {
                break;
            }
        }
    }
    let send = |v: serde_json::Value| Message::Text(v.to_string().into());
    match behaviour {
        Behaviour::Speak => {
            let audio = pcm(0.25);
            let _ = ws.send(send(json!({"audio": b64(&audio[..3001]), "isFinal": null}))).await;
            let _ = ws.send(send(json!({"audio": b64(&audio[3001..]), "isFinal": null}))).await;
            let _ = ws.send(send(json!({"isFinal": true}))).await;
        }
        Behaviour::Quota => {
            let _ = ws.send(send(json!({"message": "quota exceeded", "error": "quota_exceeded", "code": 1008}))).await;
        }
        Behaviour::Garbled => {
            let _ = ws.send(send(json!({"audio": "***not base64***"}))).await;
        }
        Behaviour::CloseMidSpeech => {
            let _ = ws.send(send(json!({"audio": b64(&pcm(0.1))}))).await;
            let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: 1011u16.into(),
                reason: "internal".into(),
            };
            let _ = ws.close(Some(frame)).await;
            return;
        }
        Behaviour::Endless => loop {
            tokio::select! {
                m = ws.next() => {
                    if matches!(m, None | Some(Ok(Message::Close(_))) | Some(Err(_))) {
                        log.lock().unwrap().closed_by_client = true;
                        return;
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(20)) => {
                    if ws.send(send(json!({"audio": b64(&pcm(0.02))}))).await.is_err() {
                        return;
                    }
                }
            }
        },
    }
    // Wait for the client's close.
    while let Some(Ok(m)) = ws.next().await {
        if matches!(m, Message::Close(_)) {
            log.lock().unwrap().closed_by_client = true;
            break;
        }
    }
}

fn engine(url: &Url, key: &str, usage: Usage) -> ElevenLabsTts {
    let mut cfg = ElevenLabsConfig::new(ApiKey::new(key).unwrap(), "TestVoice1");
    cfg.base_url = url.clone();
    cfg.reply_timeout = Duration::from_millis(400);
    ElevenLabsTts::new(cfg, usage).unwrap()
}

async fn client_closed(log: &Mutex<Log>) -> bool {
    for _ in 0..100 {
        if log.lock().unwrap().closed_by_client {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn text_goes_in_as_the_service_documents_and_all_the_audio_comes_out() {
    let (url, log) = fake(Behaviour::Speak).await;
    let usage = Usage::default();
    let (samples, err) =
        drain(engine(&url, KEY, usage.clone()).speak("  We close at six today.", "en").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(samples, 4000, "0.25 s at 16 kHz, the split sample joined");
    assert!(client_closed(&log).await);
    let log = log.lock().unwrap();
    assert_eq!(log.texts, [" ", "We close at six today. ", ""], "open, text, end");
    assert!(log.paths[0].starts_with("/v1/text-to-speech/TestVoice1/stream-input?"), "{}", log.paths[0]);
    assert!(log.paths[0].contains("output_format=pcm_16000"));
    assert!(!log.paths[0].contains(KEY));
    assert!((usage.snapshot()["elevenlabs"].received_seconds - 0.25).abs() < 1e-6);
}

#[tokio::test]
async fn a_listener_who_goes_away_closes_the_stream() {
    let (url, log) = fake(Behaviour::Endless).await;
    let mut s = engine(&url, KEY, Usage::default()).speak("A long answer.", "en").await.unwrap();
    assert!(s.recv().await.unwrap().is_ok());
    drop(s);
    assert!(client_closed(&log).await, "barge-in closes the service's stream");
}

#[tokio::test]
async fn each_failure_ends_the_speech_with_a_clear_error() {
    for (behaviour, expect) in [
        (Behaviour::Quota, "quota_exceeded"),
        (Behaviour::Garbled, "sent a message it does not document"),
        (Behaviour::CloseMidSpeech, "closed the connection mid-utterance"),
    ] {
        let (url, _) = fake(behaviour).await;
        let (_, err) = drain(engine(&url, KEY, Usage::default()).speak("Hello.", "en").await.unwrap()).await;
        let e = err.unwrap_or_else(|| panic!("{behaviour:?}: an error"));
        assert!(e.to_string().contains(expect), "{behaviour:?}: {e}");
    }
    let (url, _) = fake(Behaviour::Speak).await;
    assert_eq!(
        engine(&url, "wrong", Usage::default()).check().await.unwrap_err(),
        CloudError::BadKey { service: "ElevenLabs" }
    );
    assert!(matches!(
        engine(&url, KEY, Usage::default()).speak("Salut.", "xx").await,
        Err(SpeechError::Unsupported(_))
    ));
}

// ---- realtime speech-to-text ----

mod realtime {
    use super::*;
    use switchboard_cloud_voice::elevenlabs::{ElevenLabsStt, ElevenLabsSttConfig};
    use switchboard_core::speech::{SpeechToText, SttEvent, SttOptions, SttStream};

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Stt {
        /// A partial per chunk; the committed transcript after `commit`.
        Transcribe,
        /// `rate_limited` after the first chunk.
        RateLimited,
        /// Takes the commit and never answers.
        Silent,
        /// An unknown message type with an error.
        Fails,
    }

    #[derive(Default, Debug)]
    struct SttLog {
        query: String,
        audio_bytes: usize,
        rates: Vec<u64>,
        commits: usize,
    }

    async fn fake(behaviour: Stt) -> (Url, Arc<Mutex<SttLog>>) {
        super::common::listen(move |tcp, log| serve(tcp, behaviour, log)).await
    }

    async fn serve(tcp: tokio::net::TcpStream, behaviour: Stt, log: Arc<Mutex<SttLog>>) {
        let hs = log.clone();
        let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            hs.lock().unwrap().query = req.uri().to_string();
            if req.headers().get("xi-api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
                let mut r = ErrorResponse::new(None);
                *r.status_mut() = StatusCode::FORBIDDEN;
                return Err(r);
            }
            Ok(resp)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else { return };
        let send = |v: serde_json::Value| Message::Text(v.to_string().into());
        let _ = ws.send(send(json!({"message_type": "session_started", "session_id": "fake"}))).await;
        let mut chunks = 0;
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(t) = msg else { continue };
            let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
            match v["message_type"].as_str() {
                Some("input_audio_chunk") => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v["audio_base_64"].as_str().unwrap_or(""))
                        .unwrap();
                    {
                        let mut l = log.lock().unwrap();
                        l.audio_bytes += bytes.len();
                        l.rates.push(v["sample_rate"].as_u64().unwrap_or(0));
                    }
                    chunks += 1;
                    match behaviour {
                        Stt::Transcribe => {
                            let _ =
                                ws.send(send(json!({"message_type": "partial_transcript", "text": "what time"}))).await;
                        }
                        Stt::RateLimited => {
                            let _ = ws.send(send(json!({"message_type": "rate_limited", "error": "slow down"}))).await;
                        }
                        Stt::Fails if chunks == 1 => {
                            let _ = ws
                                .send(send(
                                    json!({"message_type": "transcriber_error", "error": "the transcriber failed"}),
                                ))
                                .await;
                        }
                        _ => {}
                    }
                }
                Some("commit") => {
                    log.lock().unwrap().commits += 1;
                    if behaviour == Stt::Transcribe {
                        let _ = ws
                            .send(send(
                                json!({"message_type": "committed_transcript", "text": " What time do you open? "}),
                            ))
                            .await;
                    }
                }
                _ => {}
            }
        }
    }

    fn engine(url: &Url, key: &str) -> ElevenLabsStt {
        let mut cfg = ElevenLabsSttConfig::new(ApiKey::new(key).unwrap());
        cfg.base_url = url.clone();
        cfg.final_timeout = Duration::from_millis(400);
        ElevenLabsStt::new(cfg, Usage::default()).unwrap()
    }

    async fn utterance(stt: &ElevenLabsStt, frames: usize) -> (usize, Result<String, SpeechError>) {
        let s = stt
            .stream(SttOptions { partial_every: Some(Duration::from_millis(100)), ..Default::default() })
            .await
            .unwrap();
        let SttStream { audio, mut events } = s;
        for _ in 0..frames {
            let _ = audio.send(AudioFrame::new(16_000, vec![0.1; 1600])).await;
        }
        drop(audio);
        tokio::time::timeout(Duration::from_secs(10), async move {
            let mut partials = 0;
            loop {
                match events.recv().await {
                    Some(SttEvent::Partial(_)) => partials += 1,
                    Some(SttEvent::Final(t)) => return (partials, Ok(t.text)),
                    Some(SttEvent::Error(e)) => return (partials, Err(e)),
                    None => return (partials, Err(SpeechError::Engine("ended".into()))),
                }
            }
        })
        .await
        .expect("never hangs")
    }

    #[tokio::test]
    async fn audio_goes_as_base64_chunks_and_the_commit_brings_the_transcript() {
        let (url, log) = fake(Stt::Transcribe).await;
        let (partials, text) = utterance(&engine(&url, KEY), 3).await;
        assert_eq!(text.unwrap(), "What time do you open?");
        assert!(partials >= 1, "partial transcripts arrive while the caller speaks");
        let log = log.lock().unwrap();
        assert_eq!(log.audio_bytes, 3 * 1600 * 2);
        assert_eq!(log.rates, [16_000, 16_000, 16_000]);
        assert_eq!(log.commits, 1);
        for part in
            ["/v1/speech-to-text/realtime?", "audio_format=pcm_16000", "commit_strategy=manual", "language_code=en"]
        {
            assert!(log.query.contains(part), "{} names {part}", log.query);
        }
    }

    #[tokio::test]
    async fn each_failure_ends_the_utterance_with_a_clear_error() {
        for (behaviour, expect) in [
            (Stt::RateLimited, "ElevenLabs is rate limiting requests"),
            (Stt::Silent, "did not answer within 0.4 s"),
            (Stt::Fails, "the transcriber failed"),
        ] {
            let (url, _) = fake(behaviour).await;
            let (_, text) = utterance(&engine(&url, KEY), 2).await;
            let e = text.expect_err("an error");
            assert!(e.to_string().contains(expect), "{behaviour:?}: {e}");
        }
        let (url, _) = fake(Stt::Transcribe).await;
        assert_eq!(engine(&url, "nope").check().await.unwrap_err(), CloudError::BadKey { service: "ElevenLabs" });
    }
}
