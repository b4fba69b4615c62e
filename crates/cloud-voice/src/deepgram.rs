//! Deepgram live transcription (`/v1/listen` over WebSocket) as a
//! [`SpeechToText`] engine.
//!
//! Wire format, as Deepgram documents it: the client sends 16-bit
//! little-endian PCM as binary frames (the format named in the query string),
//! `{"type":"KeepAlive"}` text frames while it has nothing to send, and
//! `{"type":"CloseStream"}` when the utterance ends. The server sends
//! `Results` messages (`is_final` false for interim hypotheses, true for a
//! finished segment; `channel.alternatives[0].transcript`), and also
//! `Metadata`, `SpeechStarted` and `UtteranceEnd`; after `CloseStream` it
//! flushes its last results, sends `Metadata` and closes. The key travels in
//! `Authorization: Token <key>`.

use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use switchboard_core::speech::{
    AudioFrame, SpeechEngineInfo, SpeechError, SpeechToText, SttEvent, SttOptions, SttStream, Transcript,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use url::Url;

use crate::usage::Usage;
use crate::ws::{self, Socket};
use crate::{ApiKey, CloudError};

const SERVICE: &str = "Deepgram";
/// The rate we send at (Deepgram takes any; the call loop resamples to
/// [`SpeechToText::rate`]).
pub const RATE: u32 = 16_000;

#[derive(Debug, Clone)]
pub struct DeepgramConfig {
    pub api_key: ApiKey,
    /// `wss://api.deepgram.com` (tests: a local fake on `ws://127.0.0.1`).
    pub base_url: Url,
    /// `nova-3`, …
    pub model: String,
    /// Used when the call names no language.
    pub language: String,
    /// Longest wait for the handshake.
    pub connect_timeout: Duration,
    /// Longest wait, once the utterance ended, for its final transcript.
    pub final_timeout: Duration,
    /// A keep-alive is sent when no audio went out for this long (Deepgram
    /// closes an idle stream after 10 s).
    pub keepalive: Duration,
}

impl DeepgramConfig {
    pub fn new(api_key: ApiKey) -> DeepgramConfig {
        DeepgramConfig {
            api_key,
            base_url: Url::parse("wss://api.deepgram.com").expect("a valid URL"),
            model: "nova-3".into(),
            language: "en".into(),
            connect_timeout: Duration::from_secs(5),
            final_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(4),
        }
    }
}

/// Deepgram's streaming speech-to-text.
pub struct DeepgramStt {
    cfg: DeepgramConfig,
    usage: Usage,
}

impl DeepgramStt {
    /// Checks the URL (`wss`, or `ws` on loopback only: the key never
    /// crosses a network in clear).
    pub fn new(cfg: DeepgramConfig, usage: Usage) -> Result<DeepgramStt, CloudError> {
        ws::check_url(SERVICE, &cfg.base_url)?;
        Ok(DeepgramStt { cfg, usage })
    }

    /// Opens and closes a stream: a refused key or an unreachable service
    /// shows when the engine is chosen, not at the first call.
    pub async fn check(&self) -> Result<(), CloudError> {
        let mut ws = self.connect(&self.cfg.language).await?;
        let _ = ws.send(Message::Text(CLOSE_STREAM.into())).await;
        let _ = tokio::time::timeout(self.cfg.final_timeout, async { while ws.next().await.is_some() {} }).await;
        Ok(())
    }

    fn listen_url(&self, language: &str) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_path("/v1/listen");
        url.query_pairs_mut()
            .clear()
            .append_pair("model", &self.cfg.model)
            .append_pair("language", language)
            .append_pair("encoding", "linear16")
            .append_pair("sample_rate", &RATE.to_string())
            .append_pair("channels", "1")
            .append_pair("interim_results", "true")
            .append_pair("punctuate", "true");
        url
    }

    async fn connect(&self, language: &str) -> Result<Socket, CloudError> {
        let auth = format!("Token {}", self.cfg.api_key.expose());
        ws::connect(SERVICE, &self.listen_url(language), "Authorization", &auth, self.cfg.connect_timeout).await
    }
}

const CLOSE_STREAM: &str = r#"{"type":"CloseStream"}"#;
const KEEP_ALIVE: &str = r#"{"type":"KeepAlive"}"#;

/// The server messages we read; others are ignored by type.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum ServerMessage {
    Results {
        #[serde(default)]
        is_final: bool,
        channel: Channel,
    },
    Metadata {},
    SpeechStarted {},
    UtteranceEnd {},
    /// Deepgram's error message (sent before it closes).
    #[serde(alias = "Error")]
    Warning {
        #[serde(default)]
        description: String,
    },
}

#[derive(Deserialize)]
struct Channel {
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    transcript: String,
    #[serde(default)]
    confidence: Option<f32>,
}

#[async_trait]
impl SpeechToText for DeepgramStt {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "deepgram".into(),
            model: Some(self.cfg.model.clone()),
            ready: true,
            missing: None,
            languages: vec![self.cfg.language.clone()],
        }
    }

    fn rate(&self) -> u32 {
        RATE
    }

    async fn stream(&self, options: SttOptions) -> Result<SttStream, SpeechError> {
        let language = options.language.clone().unwrap_or_else(|| self.cfg.language.clone());
        let ws = self.connect(&language).await?;
        let (audio, audio_rx) = mpsc::channel(64);
        let (events_tx, events) = mpsc::channel(64);
        let run = Run {
            language,
            partials: options.partial_every.is_some(),
            final_timeout: self.cfg.final_timeout,
            keepalive: self.cfg.keepalive,
            usage: self.usage.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = run.run(ws, audio_rx, &events_tx).await {
                tracing::warn!(code = e.code(), error = %e, "Deepgram stream failed");
                let _ = events_tx.send(SttEvent::Error(e.into())).await;
            }
        });
        Ok(SttStream { audio, events })
    }
}

struct Run {
    language: String,
    partials: bool,
    final_timeout: Duration,
    keepalive: Duration,
    usage: Usage,
}

impl Run {
    async fn run(
        self,
        ws: Socket,
        mut audio: mpsc::Receiver<AudioFrame>,
        events: &mpsc::Sender<SttEvent>,
    ) -> Result<(), CloudError> {
        let started = Instant::now();
        let (mut sink, mut source) = ws.split();
        let closed = |why: String| CloudError::Closed { service: SERVICE, why };
        let mut finals: Vec<String> = Vec::new();
        let mut confidence: Vec<f32> = Vec::new();
        let mut audio_open = true;
        let mut flushed = false;
        // Set when the utterance has ended: the final transcript is due.
        let mut due: Option<Instant> = None;
        let mut last_sent = Instant::now();
        let mut tick = tokio::time::interval(self.keepalive / 2);
        loop {
            tokio::select! {
                frame = audio.recv(), if audio_open => match frame {
                    Some(f) => {
                        if f.rate != RATE {
                            let _ = sink.send(Message::Text(CLOSE_STREAM.into())).await;
                            return Err(CloudError::Config {
                                service: SERVICE,
                                why: format!("audio at {} Hz, the stream takes {RATE} Hz", f.rate),
                            });
                        }
                        self.usage.sent("deepgram", f.seconds());
                        sink.send(Message::Binary(f.to_pcm16_le().into())).await.map_err(|e| closed(e.to_string()))?;
                        last_sent = Instant::now();
                    }
                    None => {
                        audio_open = false;
                        sink.send(Message::Text(CLOSE_STREAM.into())).await.map_err(|e| closed(e.to_string()))?;
                        due = Some(Instant::now() + self.final_timeout);
                    }
                },
                _ = tick.tick(), if audio_open => {
                    if last_sent.elapsed() >= self.keepalive {
                        sink.send(Message::Text(KEEP_ALIVE.into())).await.map_err(|e| closed(e.to_string()))?;
                        last_sent = Instant::now();
                    }
                },
                () = ws::sleep_until(due) => {
                    return Err(CloudError::Timeout { service: SERVICE, after: self.final_timeout });
                },
                msg = source.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        let parsed: ServerMessage = serde_json::from_str(&text).map_err(|e| CloudError::Protocol {
                            service: SERVICE,
                            why: e.to_string(),
                        })?;
                        match parsed {
                            ServerMessage::Results { is_final, channel } => {
                                let Some(best) = channel.alternatives.into_iter().next() else {
                                    return Err(CloudError::Protocol { service: SERVICE, why: "a result with no alternative".into() });
                                };
                                let text = best.transcript.trim().to_string();
                                let heard = if is_final {
                                    if !text.is_empty() {
                                        finals.push(text);
                                        confidence.extend(best.confidence);
                                    }
                                    finals.join(" ")
                                } else {
                                    finals.iter().cloned().chain((!text.is_empty()).then_some(text)).collect::<Vec<_>>().join(" ")
                                };
                                if self.partials {
                                    let t = self.transcript(heard, false, &confidence, started);
                                    let _ = events.send(SttEvent::Partial(t)).await;
                                }
                            }
                            // After CloseStream, Metadata says all results were sent.
                            ServerMessage::Metadata {} => flushed = !audio_open,
                            ServerMessage::SpeechStarted {} | ServerMessage::UtteranceEnd {} => {}
                            ServerMessage::Warning { description } => {
                                return Err(CloudError::Protocol { service: SERVICE, why: description });
                            }
                        }
                    }
                    // The end is normal only after our CloseStream, and only
                    // with a normal close (or none given): an error code means
                    // the last results may be missing.
                    Some(Ok(Message::Close(frame))) => match frame {
                        Some(f) if f.code != CloseCode::Normal => {
                            return Err(closed(format!("code {}: {}", u16::from(f.code), f.reason)));
                        }
                        _ if audio_open => return Err(closed("closed before the utterance ended".into())),
                        _ => break,
                    },
                    None => {
                        if audio_open || !flushed {
                            return Err(closed("the connection ended".into()));
                        }
                        break;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        return Err(CloudError::Protocol { service: SERVICE, why: "a binary message".into() });
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(closed(e.to_string())),
                },
            }
        }
        let t = self.transcript(finals.join(" "), true, &confidence, started);
        let _ = events.send(SttEvent::Final(t)).await;
        Ok(())
    }

    fn transcript(&self, text: String, is_final: bool, confidence: &[f32], started: Instant) -> Transcript {
        Transcript {
            text,
            is_final,
            confidence: (!confidence.is_empty()).then(|| confidence.iter().sum::<f32>() / confidence.len() as f32),
            language: Some(self.language.clone()),
            compute_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_only_over_tls_or_to_this_computer() {
        for ok in ["wss://api.deepgram.com", "ws://127.0.0.1:9", "ws://localhost:9", "ws://[::1]:9"] {
            assert!(ws::check_url(SERVICE, &Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in ["ws://api.deepgram.com", "http://127.0.0.1", "ws://10.0.0.2:80"] {
            let e = ws::check_url(SERVICE, &Url::parse(bad).unwrap()).unwrap_err();
            assert_eq!(e.code(), "cloud_not_configured", "{bad}");
        }
    }

    #[test]
    fn the_listen_url_names_the_audio_format() {
        let stt =
            DeepgramStt::new(DeepgramConfig::new(ApiKey::new("secret-key-123").unwrap()), Usage::default()).unwrap();
        let url = stt.listen_url("de");
        assert_eq!(url.path(), "/v1/listen");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["encoding"], "linear16");
        assert_eq!(q["sample_rate"], "16000");
        assert_eq!(q["channels"], "1");
        assert_eq!(q["language"], "de");
        assert_eq!(q["interim_results"], "true");
        assert!(!url.as_str().contains("secret"), "the key travels in a header, not the URL");
    }
}
