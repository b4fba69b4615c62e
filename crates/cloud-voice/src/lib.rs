//! `switchboard-cloud-voice` owns the cloud speech engines, which plug into
//! the same speech ports of `switchboard-core` as the offline engines, so
//! the call loop (barge-in, fillers, relay, transcripts, the latency
//! waterfall) does not know which one runs:
//! - [`deepgram::DeepgramStt`] and [`elevenlabs::ElevenLabsStt`]: Deepgram
//!   live transcription and ElevenLabs realtime speech-to-text over their
//!   WebSocket APIs (partial and final transcripts, clean close);
//! - [`aura::AuraTts`] and [`elevenlabs::ElevenLabsTts`]: Deepgram Aura and
//!   ElevenLabs text-to-speech over their WebSocket APIs (audio as it is
//!   made; a listener who goes away stops the service);
//! - [`fallback::FallbackStt`]: a cloud engine with an offline one behind it,
//!   which takes over mid-utterance when the service fails (the audio heard
//!   so far is replayed), and says so once; [`fallback::FallbackTts`] the
//!   same for voices;
//! - [`gemini::GeminiLive`] and [`deepgram_agent::DeepgramAgent`]: services
//!   that listen, think and speak themselves, behind the voice-to-voice port
//!   [`agent::VoiceAgent`]; their function calls come back to run the
//!   agent's own tools, their transcripts become the session's turns;
//! - [`usage::Usage`]: the audio seconds sent to and received from each
//!   service, per call.
//!
//! Invariants: an API key is sent only to the host of the engine's
//! configured URL, in the header the service documents, and appears in no
//! error, log line or `Debug` output; every way a service can fail (refused
//! key, rate limit, silence, a socket closed mid-utterance, a malformed
//! message) ends the stream with one clear [`CloudError`], never a hang.

pub mod agent;
pub mod aura;
pub mod deepgram;
pub mod deepgram_agent;
pub mod elevenlabs;
pub mod fallback;
pub mod gemini;
pub mod select;
pub mod usage;
mod ws;

use std::time::Duration;

use switchboard_core::speech::SpeechError;
use thiserror::Error;

/// What went wrong with a cloud service. The text names the service and
/// the failure, never the key.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CloudError {
    /// The service refused the key (HTTP 401/403 at the handshake).
    #[error("{service} refused the API key")]
    BadKey { service: &'static str },
    /// The service is rate limiting (HTTP 429).
    #[error("{service} is rate limiting requests")]
    RateLimited { service: &'static str },
    /// No answer within the configured time.
    #[error("{service} did not answer within {} s", .after.as_secs_f32())]
    Timeout { service: &'static str, after: Duration },
    /// The connection closed before the utterance was finished.
    #[error("{service} closed the connection mid-utterance ({why})")]
    Closed { service: &'static str, why: String },
    /// A message that is not what the service documents.
    #[error("{service} sent a message it does not document ({why})")]
    Protocol { service: &'static str, why: String },
    /// The service could not be reached, or answered the handshake with
    /// another error status.
    #[error("{service} could not be reached ({why})")]
    Connect { service: &'static str, why: String },
    /// The engine is not set up (no key, bad URL).
    #[error("{service} is not configured: {why}")]
    Config { service: &'static str, why: String },
}

impl CloudError {
    /// Stable code, for logs, events and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            CloudError::BadKey { .. } => "cloud_bad_key",
            CloudError::RateLimited { .. } => "cloud_rate_limited",
            CloudError::Timeout { .. } => "cloud_timeout",
            CloudError::Closed { .. } => "cloud_closed",
            CloudError::Protocol { .. } => "cloud_protocol",
            CloudError::Connect { .. } => "cloud_unreachable",
            CloudError::Config { .. } => "cloud_not_configured",
        }
    }
}

impl From<CloudError> for SpeechError {
    fn from(e: CloudError) -> Self {
        SpeechError::Engine(e.to_string())
    }
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Result<ApiKey, String> {
        let key = key.into().trim().to_string();
        if key.is_empty() {
            return Err("the API key is empty".into());
        }
        if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("the API key holds spaces or control characters".into());
        }
        Ok(ApiKey(key))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_print_and_blank_keys_are_refused() {
        let k = ApiKey::new(" secret-123 ").unwrap();
        assert_eq!(k.expose(), "secret-123");
        assert!(!format!("{k:?}").contains("secret"));
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("a b").is_err());
        let e = CloudError::BadKey { service: "Deepgram" };
        assert_eq!(e.code(), "cloud_bad_key");
        assert_eq!(e.to_string(), "Deepgram refused the API key");
    }
}
