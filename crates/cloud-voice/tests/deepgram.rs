//! The Deepgram engine against a local fake of Deepgram's live
//! transcription endpoint, which speaks the documented wire format (binary
//! PCM in; `Results` with interim and final hypotheses, `Metadata`, close
//! after `CloseStream` out) and fails in each way the real service can.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use switchboard_cloud_voice::deepgram::{DeepgramConfig, DeepgramStt};
use switchboard_cloud_voice::fallback::FallbackStt;
use switchboard_cloud_voice::usage::Usage;
use switchboard_cloud_voice::{ApiKey, CloudError};
use switchboard_core::speech::{
    AudioFrame, SpeechEngineInfo, SpeechError, SpeechToText, SttEvent, SttOptions, SttStream, Transcript,
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use url::Url;

mod common;

const KEY: &str = "dg-test-key-0123";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Behaviour {
    /// Interim results as audio arrives; two final segments after CloseStream.
    Transcribe,
    /// HTTP 429 at the handshake.
    RateLimit,
    /// Closes the socket (1011) after the second audio frame.
    CloseMidUtterance,
    /// Answers the first audio frame with text that is not JSON.
    Malformed,
    /// Takes the audio and the CloseStream, and never answers.
    Silent,
}

#[derive(Default, Debug)]
struct Log {
    connections: usize,
    authorization: Vec<String>,
    queries: Vec<String>,
    audio_bytes: usize,
    keepalives: usize,
    close_streams: usize,
}

struct FakeDeepgram {
    url: Url,
    log: Arc<Mutex<Log>>,
}

impl FakeDeepgram {
    async fn start(behaviour: Behaviour) -> FakeDeepgram {
        let (url, log) = common::listen(move |tcp, log| serve(tcp, behaviour, log)).await;
        FakeDeepgram { url, log }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

fn results(text: &str, is_final: bool) -> Message {
    Message::Text(
        json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": 1.0,
            "start": 0.0,
            "is_final": is_final,
            "speech_final": is_final,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.9, "words": []}]},
            "metadata": {"request_id": "fake", "model_info": {"name": "nova-3"}}
        })
        .to_string()
        .into(),
    )
}

async fn serve(tcp: tokio::net::TcpStream, behaviour: Behaviour, log: Arc<Mutex<Log>>) {
    let hs_log = log.clone();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let mut l = hs_log.lock().unwrap();
        l.connections += 1;
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        l.authorization.push(auth.clone());
        l.queries.push(req.uri().to_string());
        let status = if auth != format!("Token {KEY}") {
            Some(StatusCode::UNAUTHORIZED)
        } else if behaviour == Behaviour::RateLimit {
            Some(StatusCode::TOO_MANY_REQUESTS)
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
    let mut frames = 0;
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Binary(b) => {
                log.lock().unwrap().audio_bytes += b.len();
                frames += 1;
                match behaviour {
                    Behaviour::CloseMidUtterance if frames == 2 => {
                        let _ = ws
                            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                                code: 1011u16.into(),
                                reason: "NET-0001".into(),
                            }))
                            .await;
                        return;
                    }
                    Behaviour::Malformed => {
                        let _ = ws.send(Message::Text("{\"type\": \"Results\", \"channel\": ".into())).await;
                    }
                    Behaviour::Transcribe if frames == 1 => {
                        let _ = ws.send(results("hello", false)).await;
                    }
                    _ => {}
                }
            }
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                match v["type"].as_str() {
                    Some("KeepAlive") => log.lock().unwrap().keepalives += 1,
                    Some("CloseStream") => {
                        log.lock().unwrap().close_streams += 1;
                        if behaviour == Behaviour::Silent {
                            continue;
                        }
                        let _ = ws.send(results("hello there", true)).await;
                        let _ = ws.send(results("I would like a table for two", true)).await;
                        let _ = ws
                            .send(Message::Text(
                                json!({"type": "Metadata", "request_id": "fake", "duration": 1.0, "channels": 1})
                                    .to_string()
                                    .into(),
                            ))
                            .await;
                        let _ = ws.close(None).await;
                        return;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

fn engine(url: &Url, key: &str, usage: Usage) -> DeepgramStt {
    let mut cfg = DeepgramConfig::new(ApiKey::new(key).unwrap());
    cfg.base_url = url.clone();
    cfg.final_timeout = Duration::from_millis(500);
    cfg.keepalive = Duration::from_millis(200);
    DeepgramStt::new(cfg, usage).unwrap()
}

/// 0.1 s of a 440 Hz tone at 16 kHz.
fn frame() -> AudioFrame {
    AudioFrame::new(
        16_000,
        (0..1600).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 0.3).collect(),
    )
}

async fn send_utterance(s: &SttStream, frames: usize) {
    for _ in 0..frames {
        if s.audio.send(frame()).await.is_err() {
            break;
        }
    }
}

/// Ends the utterance (drops its sender) and reads the stream to its end.
async fn finish(s: SttStream) -> (Vec<Transcript>, Result<Transcript, SpeechError>) {
    let SttStream { audio, mut events } = s;
    drop(audio);
    let mut partials = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(SttEvent::Partial(t)) => partials.push(t),
                Some(SttEvent::Final(t)) => return Ok(t),
                Some(SttEvent::Error(e)) => return Err(e),
                None => return Err(SpeechError::Engine("events ended".into())),
            }
        }
    })
    .await
    .expect("the stream ends with a final transcript or an error, never hangs");
    (partials, end)
}

fn partials_on() -> SttOptions {
    SttOptions { partial_every: Some(Duration::from_millis(100)), ..Default::default() }
}

#[tokio::test]
async fn an_utterance_is_sent_as_pcm_and_its_final_segments_come_back_joined() {
    let fake = FakeDeepgram::start(Behaviour::Transcribe).await;
    let usage = Usage::default();
    let stt = engine(&fake.url, KEY, usage.clone());
    let s = stt.stream(partials_on()).await.unwrap();
    send_utterance(&s, 5).await;
    let (partials, end) = finish(s).await;
    let t = end.unwrap();
    assert_eq!(t.text, "hello there I would like a table for two");
    assert!(t.is_final);
    assert_eq!(t.confidence, Some(0.9));
    assert_eq!(partials.first().map(|p| p.text.as_str()), Some("hello"), "the interim hypothesis arrives as a partial");
    let log = fake.log();
    assert_eq!(log.authorization, [format!("Token {KEY}")]);
    let q = &log.queries[0];
    for part in ["/v1/listen?", "encoding=linear16", "sample_rate=16000", "channels=1", "interim_results=true"] {
        assert!(q.contains(part), "{q} names {part}");
    }
    assert!(!q.contains(KEY), "the key is not in the URL");
    assert_eq!(log.audio_bytes, 5 * 1600 * 2, "16-bit PCM, every sample");
    assert_eq!(log.close_streams, 1, "the end of the utterance is a CloseStream");
    assert!((usage.snapshot()["deepgram"].sent_seconds - 0.5).abs() < 1e-9);
}

#[tokio::test]
async fn a_quiet_stream_sends_keepalives() {
    let fake = FakeDeepgram::start(Behaviour::Transcribe).await;
    let stt = engine(&fake.url, KEY, Usage::default());
    let s = stt.stream(SttOptions::default()).await.unwrap();
    send_utterance(&s, 1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    send_utterance(&s, 1).await;
    let (_, end) = finish(s).await;
    assert_eq!(end.unwrap().text, "hello there I would like a table for two");
    assert!(fake.log().keepalives >= 1, "{:?}", fake.log());
}

#[tokio::test]
async fn a_refused_key_shows_when_the_engine_is_chosen() {
    let fake = FakeDeepgram::start(Behaviour::Transcribe).await;
    let stt = engine(&fake.url, "wrong-key", Usage::default());
    assert_eq!(stt.check().await.unwrap_err(), CloudError::BadKey { service: "Deepgram" });
    engine(&fake.url, KEY, Usage::default()).check().await.expect("the right key passes the check");
    let e = stt.stream(SttOptions::default()).await.err().unwrap();
    assert!(e.to_string().contains("refused the API key"), "{e}");
    assert!(!e.to_string().contains("wrong-key"));
}

#[tokio::test]
async fn each_failure_of_the_service_ends_the_stream_with_a_clear_error() {
    for (behaviour, expect) in [
        (Behaviour::CloseMidUtterance, "closed the connection mid-utterance"),
        (Behaviour::Malformed, "sent a message it does not document"),
        (Behaviour::Silent, "did not answer within 0.5 s"),
    ] {
        let fake = FakeDeepgram::start(behaviour).await;
        let stt = engine(&fake.url, KEY, Usage::default());
        let s = stt.stream(SttOptions::default()).await.unwrap();
        send_utterance(&s, 4).await;
        let (_, end) = finish(s).await;
        let e = end.expect_err("a failure, not a transcript");
        assert!(e.to_string().contains(expect), "{behaviour:?}: {e}");
    }
    let fake = FakeDeepgram::start(Behaviour::RateLimit).await;
    let e = engine(&fake.url, KEY, Usage::default()).check().await.unwrap_err();
    assert_eq!(e, CloudError::RateLimited { service: "Deepgram" });
    // Nobody listening at all.
    let gone = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Url::parse(&format!("ws://{}", l.local_addr().unwrap())).unwrap()
    };
    assert_eq!(engine(&gone, KEY, Usage::default()).check().await.unwrap_err().code(), "cloud_unreachable");
}

/// An offline engine for the fallback: it says how much audio it got.
struct CountingStt;

#[async_trait::async_trait]
impl SpeechToText for CountingStt {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "offline".into(),
            model: None,
            ready: true,
            missing: None,
            languages: vec!["en".into()],
        }
    }

    fn rate(&self) -> u32 {
        16_000
    }

    async fn stream(&self, _options: SttOptions) -> Result<SttStream, SpeechError> {
        let (audio, mut rx) = mpsc::channel::<AudioFrame>(8);
        let (tx, events) = mpsc::channel(8);
        tokio::spawn(async move {
            let mut samples = 0;
            while let Some(f) = rx.recv().await {
                samples += f.samples.len();
            }
            let t = Transcript {
                text: format!("offline heard {samples} samples"),
                is_final: true,
                confidence: None,
                language: Some("en".into()),
                compute_ms: 0.0,
            };
            let _ = tx.send(SttEvent::Final(t)).await;
        });
        Ok(SttStream { audio, events })
    }
}

#[tokio::test]
async fn when_the_service_fails_mid_utterance_the_offline_engine_hears_all_of_it_and_it_is_said_once() {
    let fake = FakeDeepgram::start(Behaviour::CloseMidUtterance).await;
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let notes = said.clone();
    let stt = FallbackStt::new(
        Arc::new(engine(&fake.url, KEY, Usage::default())),
        Arc::new(CountingStt),
        Arc::new(move |why| notes.lock().unwrap().push(why)),
    )
    .unwrap();
    for round in 0..2 {
        let s = stt.stream(SttOptions::default()).await.unwrap();
        send_utterance(&s, 6).await;
        let (_, end) = finish(s).await;
        assert_eq!(end.unwrap().text, "offline heard 9600 samples", "round {round}: nothing is lost in the switch");
    }
    let said = said.lock().unwrap();
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(
        said[0].contains("Deepgram closed the connection mid-utterance") && said[0].contains("offline takes over"),
        "{}",
        said[0]
    );
    assert!(stt.switched());
    assert_eq!(stt.info().engine, "offline");
    assert_eq!(fake.log().connections, 1, "after the switch the call stays offline");
}

#[tokio::test]
async fn a_refused_service_at_the_start_of_an_utterance_falls_back_too() {
    let fake = FakeDeepgram::start(Behaviour::RateLimit).await;
    let said = Arc::new(Mutex::new(0));
    let count = said.clone();
    let stt = FallbackStt::new(
        Arc::new(engine(&fake.url, KEY, Usage::default())),
        Arc::new(CountingStt),
        Arc::new(move |_| *count.lock().unwrap() += 1),
    )
    .unwrap();
    let s = stt.stream(SttOptions::default()).await.unwrap();
    send_utterance(&s, 2).await;
    let (_, end) = finish(s).await;
    assert_eq!(end.unwrap().text, "offline heard 3200 samples");
    assert_eq!(*said.lock().unwrap(), 1);
}
