//! ElevenLabs text-to-speech with input streaming
//! (`/v1/text-to-speech/{voice}/stream-input` over WebSocket) as a
//! [`TextToSpeech`] engine.
//!
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
use switchboard_core::speech::{AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, TextToSpeech};
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
    let mut carry: Option<u8> = None;
    loop {
        let msg = match tokio::time::timeout(timeout, ws.next()).await {
            Err(_) => return Err(CloudError::Timeout { service: SERVICE, after: timeout }),
            Ok(None) => return Err(closed("the connection ended before the speech did".into())),
            Ok(Some(Err(e))) => return Err(closed(e.to_string())),
            Ok(Some(Ok(m))) => m,
        };
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
            let mut pcm: Vec<u8> = carry.take().into_iter().chain(bytes).collect();
            if pcm.len() % 2 == 1 {
                carry = pcm.pop();
            }
            if !pcm.is_empty() {
                let frame = AudioFrame::from_pcm16_le(rate, &pcm).map_err(|e| protocol(e.to_string()))?;
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
