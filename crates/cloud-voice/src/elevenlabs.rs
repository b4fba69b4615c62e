//! ElevenLabs over WebSocket: text-to-speech with input streaming
//! (`/v1/text-to-speech/{voice}/stream-input`) as a [`TextToSpeech`] engine,
//! and realtime speech-to-text (`/v1/speech-to-text/realtime`) as a
//! [`SpeechToText`] engine.
//!
//! Speech-to-text, as documented: the client sends
//! `{"message_type":"input_audio_chunk","audio_base_64":…,"commit":false,
//! "sample_rate":16000}` messages and `{"message_type":"commit"}` at the end
//! of an utterance; the server sends `session_started`,
//! `partial_transcript` and `committed_transcript` (each with `text`), and
//! errors as other message types (`auth_error`, `rate_limited`,
//! `quota_exceeded`, `input_error`, …) with an `error` text.
//!
//! Text-to-speech:
//! Wire format, as ElevenLabs documents it: the key travels in the
//! `xi-api-key` header; the client opens the stream with a message whose
//! text is a single space (with the voice settings), sends the text, and
//! ends the input with an empty text. The server answers with JSON messages
//! carrying base64 audio in `audio` (raw 16-bit PCM when `output_format` is
//! `pcm_<rate>`), and one with `isFinal: true` when all is spoken. Errors
//! come as messages with `error` or `message` and no audio.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use switchboard_core::speech::{
    AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, SpeechToText, SttEvent, SttOptions, SttStream,
    TextToSpeech, Transcript,
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use crate::usage::Usage;
use crate::ws::{self, Socket};
use crate::{ApiKey, CloudError};

const SERVICE: &str = "ElevenLabs";

/// The PCM rates ElevenLabs offers as `pcm_<rate>`.
pub const RATES: [u32; 5] = [8_000, 16_000, 22_050, 24_000, 44_100];

#[derive(Debug, Clone)]
pub struct ElevenLabsConfig {
    pub api_key: ApiKey,
    /// `wss://api.elevenlabs.io` (tests: a local fake).
    pub base_url: Url,
    pub voice_id: String,
    /// `eleven_flash_v2_5` speaks 32 languages with the lowest latency.
    pub model: String,
    /// One of [`RATES`].
    pub rate: u32,
    /// Languages the model speaks (ISO 639-1).
    pub languages: Vec<String>,
    pub connect_timeout: Duration,
    /// Longest silence of the service while audio is due.
    pub reply_timeout: Duration,
}

impl ElevenLabsConfig {
    pub fn new(api_key: ApiKey, voice_id: impl Into<String>) -> ElevenLabsConfig {
        ElevenLabsConfig {
            api_key,
            base_url: Url::parse("wss://api.elevenlabs.io").expect("a valid URL"),
            voice_id: voice_id.into(),
            model: "eleven_flash_v2_5".into(),
            rate: 16_000,
            languages: ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "hi"].map(String::from).to_vec(),
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

pub struct ElevenLabsTts {
    cfg: ElevenLabsConfig,
    usage: Usage,
}

impl ElevenLabsTts {
    pub fn new(cfg: ElevenLabsConfig, usage: Usage) -> Result<ElevenLabsTts, CloudError> {
        ws::check_url(SERVICE, &cfg.base_url)?;
        if !RATES.contains(&cfg.rate) {
            return Err(CloudError::Config { service: SERVICE, why: format!("no PCM output at {} Hz", cfg.rate) });
        }
        let id_ok = !cfg.voice_id.is_empty() && cfg.voice_id.chars().all(|c| c.is_ascii_alphanumeric());
        if !id_ok {
            return Err(CloudError::Config { service: SERVICE, why: "the voice id must be letters and digits".into() });
        }
        Ok(ElevenLabsTts { cfg, usage })
    }

    /// Opens and closes a stream: a refused key shows when the engine is
    /// chosen.
    pub async fn check(&self) -> Result<(), CloudError> {
        let mut ws = self.connect().await?;
        let _ = ws.close(None).await;
        Ok(())
    }

    fn stream_url(&self) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_path(&format!("/v1/text-to-speech/{}/stream-input", self.cfg.voice_id));
        url.query_pairs_mut()
            .clear()
            .append_pair("model_id", &self.cfg.model)
            .append_pair("output_format", &format!("pcm_{}", self.cfg.rate));
        url
    }

    async fn connect(&self) -> Result<Socket, CloudError> {
        ws::connect(SERVICE, &self.stream_url(), "xi-api-key", self.cfg.api_key.expose(), self.cfg.connect_timeout)
            .await
    }
}

/// A server message: audio, the end, or an error.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerMessage {
    #[serde(default)]
    audio: Option<String>,
    #[serde(default)]
    is_final: Option<bool>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[async_trait]
impl TextToSpeech for ElevenLabsTts {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "elevenlabs".into(),
            model: Some(self.cfg.model.clone()),
            ready: true,
            missing: None,
            languages: self.cfg.languages.clone(),
        }
    }

    fn supports(&self, language: &str) -> bool {
        self.cfg.languages.iter().any(|l| l.eq_ignore_ascii_case(language))
    }

    async fn speak(&self, text: &str, language: &str) -> Result<AudioStream, SpeechError> {
        if !self.supports(language) {
            return Err(SpeechError::Unsupported(language.to_string()));
        }
        let mut ws = self.connect().await?;
        let open = serde_json::json!({"text": " ", "voice_settings": {"stability": 0.5, "similarity_boost": 0.8}});
        // A trailing space tells the service the text is whole words.
        let body = serde_json::json!({"text": format!("{} ", text.trim()), "flush": true});
        let end = serde_json::json!({"text": ""});
        let sent = async {
            for m in [open, body, end] {
                ws.send(Message::Text(m.to_string().into())).await?;
            }
            Ok::<(), tokio_tungstenite::tungstenite::Error>(())
        };
        sent.await.map_err(|e| CloudError::Closed { service: SERVICE, why: e.to_string() })?;
        let (tx, rx) = mpsc::channel(32);
        let (rate, timeout, usage) = (self.cfg.rate, self.cfg.reply_timeout, self.usage.clone());
        tokio::spawn(async move {
            if let Err(e) = relay(ws, &tx, rate, timeout, &usage).await {
                tracing::warn!(code = e.code(), error = %e, "ElevenLabs synthesis failed");
                let _ = tx.send(Err(e.into())).await;
            }
        });
        Ok(rx)
    }
}

async fn relay(
    mut ws: Socket,
    tx: &mpsc::Sender<Result<AudioFrame, SpeechError>>,
    rate: u32,
    timeout: Duration,
    usage: &Usage,
) -> Result<(), CloudError> {
    let closed = |why: String| CloudError::Closed { service: SERVICE, why };
    let protocol = |why: String| CloudError::Protocol { service: SERVICE, why };
    let mut pcm = ws::Pcm16::default();
    loop {
        let msg = ws::next_within(SERVICE, &mut ws, timeout).await?;
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(frame) => {
                return Err(closed(frame.map_or_else(|| "no reason given".into(), |f| f.reason.to_string())));
            }
            Message::Binary(_) => return Err(protocol("a binary message".into())),
            _ => continue,
        };
        let m: ServerMessage = serde_json::from_str(&text).map_err(|e| protocol(e.to_string()))?;
        if let Some(why) = m.error.or(m.message.filter(|_| m.audio.is_none() && m.is_final.is_none())) {
            return Err(protocol(why));
        }
        if let Some(b64) = m.audio.filter(|a| !a.is_empty()) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| protocol(e.to_string()))?;
            if let Some(frame) = pcm.frame(SERVICE, rate, &bytes)? {
                usage.received("elevenlabs", frame.seconds());
                if tx.send(Ok(frame)).await.is_err() {
                    // Nobody listens any more (barge-in): stop the synthesis.
                    let _ = ws.close(None).await;
                    return Ok(());
                }
            }
        }
        if m.is_final == Some(true) {
            let _ = ws.close(None).await;
            return Ok(());
        }
    }
}

/// The rate the speech-to-text stream takes.
pub const STT_RATE: u32 = 16_000;

#[derive(Debug, Clone)]
pub struct ElevenLabsSttConfig {
    pub api_key: ApiKey,
    pub base_url: Url,
    /// `scribe_v2_realtime`.
    pub model: String,
    /// Used when the call names no language.
    pub language: String,
    pub connect_timeout: Duration,
    /// Longest wait, once the utterance ended, for its committed transcript.
    pub final_timeout: Duration,
}

impl ElevenLabsSttConfig {
    pub fn new(api_key: ApiKey) -> ElevenLabsSttConfig {
        ElevenLabsSttConfig {
            api_key,
            base_url: Url::parse("wss://api.elevenlabs.io").expect("a valid URL"),
            model: "scribe_v2_realtime".into(),
            language: "en".into(),
            connect_timeout: Duration::from_secs(5),
            final_timeout: Duration::from_secs(5),
        }
    }
}

/// ElevenLabs realtime speech-to-text (Scribe).
pub struct ElevenLabsStt {
    cfg: ElevenLabsSttConfig,
    usage: Usage,
}

impl ElevenLabsStt {
    pub fn new(cfg: ElevenLabsSttConfig, usage: Usage) -> Result<ElevenLabsStt, CloudError> {
        ws::check_url(SERVICE, &cfg.base_url)?;
        Ok(ElevenLabsStt { cfg, usage })
    }

    /// Opens and closes a session: a refused key shows when the engine is
    /// chosen.
    pub async fn check(&self) -> Result<(), CloudError> {
        let mut ws = self.connect(&self.cfg.language).await?;
        let _ = ws.close(None).await;
        Ok(())
    }

    fn realtime_url(&self, language: &str) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_path("/v1/speech-to-text/realtime");
        url.query_pairs_mut()
            .clear()
            .append_pair("model_id", &self.cfg.model)
            .append_pair("audio_format", &format!("pcm_{STT_RATE}"))
            .append_pair("commit_strategy", "manual")
            .append_pair("language_code", language);
        url
    }

    async fn connect(&self, language: &str) -> Result<Socket, CloudError> {
        let url = self.realtime_url(language);
        ws::connect(SERVICE, &url, "xi-api-key", self.cfg.api_key.expose(), self.cfg.connect_timeout).await
    }
}

#[derive(Deserialize)]
struct SttMessage {
    message_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[async_trait]
impl SpeechToText for ElevenLabsStt {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "elevenlabs".into(),
            model: Some(self.cfg.model.clone()),
            ready: true,
            missing: None,
            languages: vec![self.cfg.language.clone()],
        }
    }

    fn rate(&self) -> u32 {
        STT_RATE
    }

    async fn stream(&self, options: SttOptions) -> Result<SttStream, SpeechError> {
        let language = options.language.clone().unwrap_or_else(|| self.cfg.language.clone());
        let ws = self.connect(&language).await?;
        let (audio, audio_rx) = mpsc::channel(64);
        let (events_tx, events) = mpsc::channel(64);
        let (partials, final_timeout, usage) =
            (options.partial_every.is_some(), self.cfg.final_timeout, self.usage.clone());
        tokio::spawn(async move {
            if let Err(e) = transcribe(ws, audio_rx, &events_tx, language, partials, final_timeout, usage).await {
                tracing::warn!(code = e.code(), error = %e, "ElevenLabs transcription failed");
                let _ = events_tx.send(SttEvent::Error(e.into())).await;
            }
        });
        Ok(SttStream { audio, events })
    }
}

async fn transcribe(
    ws: Socket,
    mut audio: mpsc::Receiver<AudioFrame>,
    events: &mpsc::Sender<SttEvent>,
    language: String,
    partials: bool,
    final_timeout: Duration,
    usage: Usage,
) -> Result<(), CloudError> {
    let started = tokio::time::Instant::now();
    let (mut sink, mut source) = ws.split();
    let closed = |why: String| CloudError::Closed { service: SERVICE, why };
    let protocol = |why: String| CloudError::Protocol { service: SERVICE, why };
    let transcript = |text: String, is_final: bool| Transcript {
        text,
        is_final,
        confidence: None,
        language: Some(language.clone()),
        compute_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    let mut audio_open = true;
    let mut committed: Vec<String> = Vec::new();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            frame = audio.recv(), if audio_open => {
                let msg = match frame {
                    Some(f) if f.rate != STT_RATE => {
                        return Err(CloudError::Config { service: SERVICE, why: format!("audio at {} Hz, the stream takes {STT_RATE} Hz", f.rate) });
                    }
                    Some(f) => {
                        usage.sent("elevenlabs", f.seconds());
                        let b64 = base64::engine::general_purpose::STANDARD.encode(f.to_pcm16_le());
                        serde_json::json!({"message_type": "input_audio_chunk", "audio_base_64": b64, "commit": false, "sample_rate": STT_RATE})
                    }
                    None => {
                        audio_open = false;
                        due = Some(tokio::time::Instant::now() + final_timeout);
                        serde_json::json!({"message_type": "commit"})
                    }
                };
                sink.send(Message::Text(msg.to_string().into())).await.map_err(|e| closed(e.to_string()))?;
            }
            () = ws::sleep_until(due) => {
                return Err(CloudError::Timeout { service: SERVICE, after: final_timeout });
            }
            msg = source.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        return Err(closed(frame.map_or_else(|| "no reason given".into(), |f| f.reason.to_string())));
                    }
                    None => return Err(closed("the connection ended".into())),
                    Some(Err(e)) => return Err(closed(e.to_string())),
                    Some(Ok(Message::Binary(_))) => return Err(protocol("a binary message".into())),
                    Some(Ok(_)) => continue,
                };
                let m: SttMessage = serde_json::from_str(&text).map_err(|e| protocol(e.to_string()))?;
                match m.message_type.as_str() {
                    "session_started" => {}
                    "partial_transcript" => {
                        if partials {
                            let _ = events.send(SttEvent::Partial(transcript(m.text.unwrap_or_default(), false))).await;
                        }
                    }
                    "committed_transcript" | "committed_transcript_with_timestamps" => {
                        let part = m.text.unwrap_or_default().trim().to_string();
                        if !part.is_empty() {
                            committed.push(part);
                        }
                        if audio_open {
                            // A commit we did not ask for: part of the utterance.
                            if partials {
                                let _ = events.send(SttEvent::Partial(transcript(committed.join(" "), false))).await;
                            }
                            continue;
                        }
                        let _ = events.send(SttEvent::Final(transcript(committed.join(" "), true))).await;
                        let _ = sink.send(Message::Close(None)).await;
                        return Ok(());
                    }
                    "auth_error" => return Err(CloudError::BadKey { service: SERVICE }),
                    "rate_limited" | "quota_exceeded" | "commit_throttled" => return Err(CloudError::RateLimited { service: SERVICE }),
                    other => {
                        let why = m.error.unwrap_or_else(|| format!("an unknown message `{other}`"));
                        return Err(protocol(why));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_url_names_voice_model_and_pcm_rate() {
        let tts =
            ElevenLabsTts::new(ElevenLabsConfig::new(ApiKey::new("xi-secret").unwrap(), "Voice01"), Usage::default())
                .unwrap();
        let url = tts.stream_url();
        assert_eq!(url.path(), "/v1/text-to-speech/Voice01/stream-input");
        assert!(
            url.as_str().contains("output_format=pcm_16000") && url.as_str().contains("model_id=eleven_flash_v2_5")
        );
        assert!(!url.as_str().contains("secret"));
        let key = || ApiKey::new("k").unwrap();
        let mut bad = ElevenLabsConfig::new(key(), "v");
        bad.rate = 48_000;
        assert_eq!(ElevenLabsTts::new(bad, Usage::default()).err().unwrap().code(), "cloud_not_configured");
        let sneaky = ElevenLabsConfig::new(key(), "../../v1/user");
        assert_eq!(ElevenLabsTts::new(sneaky, Usage::default()).err().unwrap().code(), "cloud_not_configured");
    }
}
