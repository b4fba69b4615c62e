//! Deepgram Aura text-to-speech (`/v1/speak` over WebSocket) as a
//! [`TextToSpeech`] engine.
//!
//! Wire format, as Deepgram documents it: the client sends
//! `{"type":"Speak","text":…}`, then `{"type":"Flush"}` to have everything
//! spoken; the server streams the audio as binary frames of 16-bit PCM at the
//! rate the query string asked for, then `{"type":"Flushed"}`. `Clear` drops
//! what is not yet spoken (barge-in: the listener went away), `Close` ends
//! the connection. Errors and warnings come as `Warning` messages.

use std::time::Duration;

use async_trait::async_trait;
use futures::SinkExt;
use serde::Deserialize;
use switchboard_core::speech::{AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, TextToSpeech};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use crate::usage::Usage;
use crate::ws::{self, Socket};
use crate::{ApiKey, CloudError};

const SERVICE: &str = "Deepgram Aura";

#[derive(Debug, Clone)]
pub struct AuraConfig {
    pub api_key: ApiKey,
    /// `wss://api.deepgram.com` (tests: a local fake).
    pub base_url: Url,
    /// The voice, e.g. `aura-2-thalia-en`; its last part is its language.
    pub model: String,
    /// The rate asked for; the call loop resamples to its transport's.
    pub rate: u32,
    pub connect_timeout: Duration,
    /// Longest silence of the service while audio is due.
    pub reply_timeout: Duration,
}

impl AuraConfig {
    pub fn new(api_key: ApiKey) -> AuraConfig {
        AuraConfig {
            api_key,
            base_url: Url::parse("wss://api.deepgram.com").expect("a valid URL"),
            model: "aura-2-thalia-en".into(),
            rate: 24_000,
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

pub struct AuraTts {
    cfg: AuraConfig,
    usage: Usage,
}

impl AuraTts {
    pub fn new(cfg: AuraConfig, usage: Usage) -> Result<AuraTts, CloudError> {
        ws::check_url(SERVICE, &cfg.base_url)?;
        switchboard_core::speech::check_rate(cfg.rate)
            .map_err(|e| CloudError::Config { service: SERVICE, why: e.to_string() })?;
        Ok(AuraTts { cfg, usage })
    }

    /// Opens and closes a connection: a refused key shows when the engine
    /// is chosen.
    pub async fn check(&self) -> Result<(), CloudError> {
        let mut ws = self.connect().await?;
        let _ = ws.send(Message::Text(CLOSE.into())).await;
        Ok(())
    }

    fn language(&self) -> &str {
        self.cfg.model.rsplit('-').next().unwrap_or("en")
    }

    fn speak_url(&self) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_path("/v1/speak");
        url.query_pairs_mut()
            .clear()
            .append_pair("model", &self.cfg.model)
            .append_pair("encoding", "linear16")
            .append_pair("sample_rate", &self.cfg.rate.to_string());
        url
    }

    async fn connect(&self) -> Result<Socket, CloudError> {
        let auth = format!("Token {}", self.cfg.api_key.expose());
        ws::connect(SERVICE, &self.speak_url(), "Authorization", &auth, self.cfg.connect_timeout).await
    }
}

const FLUSH: &str = r#"{"type":"Flush"}"#;
const CLEAR: &str = r#"{"type":"Clear"}"#;
const CLOSE: &str = r#"{"type":"Close"}"#;

#[derive(Deserialize)]
#[serde(tag = "type")]
enum ServerMessage {
    Flushed {},
    Cleared {},
    Metadata {},
    Warning {
        #[serde(default)]
        description: String,
    },
}

#[async_trait]
impl TextToSpeech for AuraTts {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "deepgram-aura".into(),
            model: Some(self.cfg.model.clone()),
            ready: true,
            missing: None,
            languages: vec![self.language().to_string()],
        }
    }

    fn supports(&self, language: &str) -> bool {
        language.eq_ignore_ascii_case(self.language())
    }

    async fn speak(&self, text: &str, language: &str) -> Result<AudioStream, SpeechError> {
        if !self.supports(language) {
            return Err(SpeechError::Unsupported(language.to_string()));
        }
        let mut ws = self.connect().await?;
        let speak = serde_json::json!({"type": "Speak", "text": text}).to_string();
        let sent = async {
            ws.send(Message::Text(speak.into())).await?;
            ws.send(Message::Text(FLUSH.into())).await
        };
        sent.await.map_err(|e| CloudError::Closed { service: SERVICE, why: e.to_string() })?;
        let (tx, rx) = mpsc::channel(32);
        let (rate, timeout, usage) = (self.cfg.rate, self.cfg.reply_timeout, self.usage.clone());
        tokio::spawn(async move {
            if let Err(e) = relay(ws, &tx, rate, timeout, &usage).await {
                tracing::warn!(code = e.code(), error = %e, "Deepgram Aura synthesis failed");
                let _ = tx.send(Err(e.into())).await;
            }
        });
        Ok(rx)
    }
}

/// Audio frames to the listener until `Flushed`; a listener gone (barge-in)
/// clears the service's buffer and closes.
async fn relay(
    mut ws: Socket,
    tx: &mpsc::Sender<Result<AudioFrame, SpeechError>>,
    rate: u32,
    timeout: Duration,
    usage: &Usage,
) -> Result<(), CloudError> {
    let mut pcm = ws::Pcm16::default();
    loop {
        let msg = ws::next_within(SERVICE, &mut ws, timeout).await?;
        match msg {
            Message::Binary(bytes) => {
                let Some(frame) = pcm.frame(SERVICE, rate, &bytes)? else { continue };
                usage.received("deepgram", frame.seconds());
                if tx.send(Ok(frame)).await.is_err() {
                    // Nobody listens any more: stop the service speaking.
                    let _ = ws.send(Message::Text(CLEAR.into())).await;
                    let _ = ws.send(Message::Text(CLOSE.into())).await;
                    return Ok(());
                }
            }
            Message::Text(text) => {
                let parsed: ServerMessage = serde_json::from_str(&text)
                    .map_err(|e| CloudError::Protocol { service: SERVICE, why: e.to_string() })?;
                match parsed {
                    ServerMessage::Flushed {} => {
                        let _ = ws.send(Message::Text(CLOSE.into())).await;
                        return Ok(());
                    }
                    ServerMessage::Cleared {} | ServerMessage::Metadata {} => {}
                    ServerMessage::Warning { description } => {
                        return Err(CloudError::Protocol { service: SERVICE, why: description });
                    }
                }
            }
            Message::Close(frame) => {
                let why = frame.map_or_else(|| "no reason given".into(), |f| f.reason.to_string());
                return Err(CloudError::Closed { service: SERVICE, why });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_speak_url_names_voice_format_and_rate() {
        let tts = AuraTts::new(AuraConfig::new(ApiKey::new("secret-key-1").unwrap()), Usage::default()).unwrap();
        let url = tts.speak_url();
        assert_eq!(url.path(), "/v1/speak");
        assert!(url.as_str().contains("encoding=linear16") && url.as_str().contains("sample_rate=24000"));
        assert!(!url.as_str().contains("secret"));
        assert!(tts.supports("en") && !tts.supports("de"));
        let mut bad = AuraConfig::new(ApiKey::new("k").unwrap());
        bad.rate = 7;
        assert_eq!(AuraTts::new(bad, Usage::default()).err().unwrap().code(), "cloud_not_configured");
    }
}
