//! The speech ports: speech-to-text, text-to-speech and voice activity, and
//! the audio they pass around. Engines (Whisper, espeak-ng, earshot, cloud
//! services) live in `switchboard-voice`; the call loop (`switchboard-call`)
//! sees only these traits, so tests can plug small real engines or fakes in.
//!
//! Audio is mono `f32` in [-1, 1] and every frame carries its sample rate:
//! nothing downstream may assume one. Each engine says the rate it wants and
//! the caller resamples.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::error::{Coded, ErrorCode};

/// Lowest and highest sample rates accepted from any client or device.
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 96_000;

/// Mono audio at a stated rate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AudioFrame {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl AudioFrame {
    pub fn new(rate: u32, samples: Vec<f32>) -> Self {
        Self { rate, samples }
    }

    pub fn silence(rate: u32, seconds: f64) -> Self {
        Self { rate, samples: vec![0.0; (rate as f64 * seconds).round() as usize] }
    }

    pub fn seconds(&self) -> f64 {
        if self.rate == 0 { 0.0 } else { self.samples.len() as f64 / self.rate as f64 }
    }

    /// Little-endian signed 16-bit PCM, the wire format of the browser call.
    pub fn from_pcm16_le(rate: u32, bytes: &[u8]) -> Result<Self, SpeechError> {
        check_rate(rate)?;
        if bytes.len() % 2 != 0 {
            return Err(SpeechError::BadAudio("PCM16 audio must have an even number of bytes".into()));
        }
        let samples = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect();
        Ok(Self { rate, samples })
    }

    pub fn to_pcm16_le(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.samples.len() * 2);
        for s in &self.samples {
            out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
        }
        out
    }

    /// Root-mean-square level, 0..1.
    pub fn rms(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        (self.samples.iter().map(|s| s * s).sum::<f32>() / self.samples.len() as f32).sqrt()
    }
}

pub fn check_rate(rate: u32) -> Result<(), SpeechError> {
    if (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(SpeechError::BadAudio(format!("sample rate {rate} Hz is outside {MIN_RATE}..={MAX_RATE} Hz")))
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum SpeechError {
    /// The engine's model is not installed; `hint` says how to install it.
    #[error("{what} is not installed: {hint}")]
    ModelMissing { what: String, hint: String },
    /// The model file exists but does not load.
    #[error("{0}")]
    ModelCorrupt(String),
    /// The audio given is unusable (wrong format or rate, too long).
    #[error("{0}")]
    BadAudio(String),
    /// The language has no voice or model here.
    #[error("language `{0}` is not supported by this engine")]
    Unsupported(String),
    /// The engine failed while running (process died, service error).
    #[error("speech engine failed: {0}")]
    Engine(String),
}

impl Coded for SpeechError {
    fn code(&self) -> ErrorCode {
        match self {
            SpeechError::ModelMissing { .. } => ErrorCode::Unavailable,
            SpeechError::ModelCorrupt(_) => ErrorCode::Unavailable,
            SpeechError::BadAudio(_) | SpeechError::Unsupported(_) => ErrorCode::ValidationFailed,
            SpeechError::Engine(_) => ErrorCode::Internal,
        }
    }

    /// A missing model is the user's to fix, so say what to install even
    /// though the code is `unavailable`.
    fn public_message(&self) -> String {
        match self {
            SpeechError::ModelMissing { .. } | SpeechError::BadAudio(_) | SpeechError::Unsupported(_) => {
                self.to_string()
            }
            SpeechError::ModelCorrupt(_) => "a speech model failed to load; run `switchboard models verify`".into(),
            SpeechError::Engine(_) => "the speech engine failed; see the server log".into(),
        }
    }
}

/// What an engine is and whether it can run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpeechEngineInfo {
    /// `whisper`, `espeak-ng`, `earshot`, `none`...
    pub engine: String,
    /// The model or voice in use, when there is one.
    pub model: Option<String>,
    pub ready: bool,
    /// When not ready: what is missing and how to install it.
    pub missing: Option<String>,
    /// ISO 639-1 codes the engine handles; empty when not ready.
    pub languages: Vec<String>,
}

/// A recognised utterance, or the part of it heard so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Transcript {
    pub text: String,
    /// False for a partial transcript, which later audio may change.
    pub is_final: bool,
    /// 0..1 when the engine gives one.
    pub confidence: Option<f32>,
    /// The language heard (ISO 639-1).
    pub language: Option<String>,
    /// Engine time spent on this transcript.
    pub compute_ms: f64,
}

impl Transcript {
    /// Whether any word was recognised (a cough or breath gives none).
    pub fn has_words(&self) -> bool {
        self.text.chars().any(|c| c.is_alphanumeric())
    }
}

#[derive(Debug, Clone, Default)]
pub struct SttOptions {
    /// The expected language; `None` lets a multilingual engine detect it.
    pub language: Option<String>,
    /// When detecting: the languages the caller may speak (ISO 639-1); the
    /// most likely of these is taken. Empty: any the engine knows.
    pub languages: Vec<String>,
    /// How often to send partial transcripts while audio arrives; `None` for
    /// none.
    pub partial_every: Option<std::time::Duration>,
}

/// What a recognition stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SttEvent {
    Partial(Transcript),
    /// The whole utterance; the stream closes after it.
    Final(Transcript),
    Error(SpeechError),
}

/// One utterance being recognised: send its audio, then drop (or close) the
/// sender to say it ended; the final transcript follows on `events`.
pub struct SttStream {
    pub audio: mpsc::Sender<AudioFrame>,
    pub events: mpsc::Receiver<SttEvent>,
}

#[async_trait]
pub trait SpeechToText: Send + Sync {
    fn info(&self) -> SpeechEngineInfo;
    /// The sample rate the engine wants its audio at.
    fn rate(&self) -> u32;
    /// Opens a stream for one utterance.
    async fn stream(&self, options: SttOptions) -> Result<SttStream, SpeechError>;

    /// Transcribes a whole utterance: a stream with everything sent at once.
    async fn transcribe(&self, audio: AudioFrame, options: SttOptions) -> Result<Transcript, SpeechError> {
        let options = SttOptions { partial_every: None, ..options };
        let mut stream = self.stream(options).await?;
        stream.audio.send(audio).await.map_err(|_| SpeechError::Engine("the recogniser closed early".into()))?;
        drop(stream.audio);
        while let Some(e) = stream.events.recv().await {
            match e {
                SttEvent::Final(t) => return Ok(t),
                SttEvent::Error(e) => return Err(e),
                SttEvent::Partial(_) => {}
            }
        }
        Err(SpeechError::Engine("the recogniser ended without a transcript".into()))
    }
}

/// Synthesised speech as it is produced. Dropping the receiver stops the
/// synthesis.
pub type AudioStream = mpsc::Receiver<Result<AudioFrame, SpeechError>>;

#[async_trait]
pub trait TextToSpeech: Send + Sync {
    fn info(&self) -> SpeechEngineInfo;
    fn supports(&self, language: &str) -> bool;
    /// Speaks `text` in `language` (ISO 639-1).
    async fn speak(&self, text: &str, language: &str) -> Result<AudioStream, SpeechError>;
}

/// A voice-activity detector for one audio stream (it keeps state between
/// frames). Cheap enough to run inline on the audio thread.
pub trait VoiceActivity: Send {
    fn rate(&self) -> u32;
    /// The frame length it takes, in samples.
    fn frame_len(&self) -> usize;
    /// Probability that the frame holds speech, 0..1.
    fn probability(&mut self, frame: &[f32]) -> f32;
    fn reset(&mut self);
}

/// The engines a call runs on, one per role: the offline ones
/// (`switchboard_voice::offline_engines`) or any others (tests, cloud).
#[derive(Clone)]
pub struct SpeechEngines {
    pub stt: std::sync::Arc<dyn SpeechToText>,
    pub tts: std::sync::Arc<dyn TextToSpeech>,
    pub vad: std::sync::Arc<dyn VadEngine>,
    /// The end-of-turn model, when one is used.
    pub turn: Option<std::sync::Arc<dyn TurnDetector>>,
}

/// Makes a detector per call.
pub trait VadEngine: Send + Sync {
    fn info(&self) -> SpeechEngineInfo;
    fn detector(&self) -> Box<dyn VoiceActivity>;
}

/// Decides, when the caller falls silent, whether their turn is complete
/// (an end-of-turn model), so a pause mid-thought is not taken as the end.
pub trait TurnDetector: Send + Sync {
    fn info(&self) -> SpeechEngineInfo;
    /// Probability the turn is complete, given the turn's audio so far at
    /// [`TurnDetector::rate`].
    fn complete_probability(&self, audio: &[f32]) -> Result<f32, SpeechError>;
    fn rate(&self) -> u32;
}

/// One cloud service's audio in a call, in seconds: what the call costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceUsage {
    /// The caller's audio sent to the service.
    pub sent_seconds: f64,
    /// Speech the service made.
    pub received_seconds: f64,
}

/// Audio seconds per service, shared by the engines of one call (cheap to
/// clone). The offline engines record nothing: they cost nothing per call.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    inner: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, ServiceUsage>>>,
}

impl Usage {
    pub fn sent(&self, service: &str, seconds: f64) {
        self.entry(service, |u| u.sent_seconds += seconds);
    }

    pub fn received(&self, service: &str, seconds: f64) {
        self.entry(service, |u| u.received_seconds += seconds);
    }

    fn entry(&self, service: &str, f: impl FnOnce(&mut ServiceUsage)) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(service.to_string()).or_default());
    }

    /// Per service, in name order.
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, ServiceUsage> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up_per_service() {
        let u = Usage::default();
        let c = u.clone();
        u.sent("deepgram", 1.5);
        c.sent("deepgram", 0.5);
        u.received("elevenlabs", 2.0);
        let s = u.snapshot();
        assert_eq!(s["deepgram"], ServiceUsage { sent_seconds: 2.0, received_seconds: 0.0 });
        assert_eq!(s["elevenlabs"].received_seconds, 2.0);
    }

    #[test]
    fn pcm16_round_trips_and_rejects_odd_bytes_and_bad_rates() {
        let f = AudioFrame::new(16_000, vec![0.0, 0.5, -0.5, 1.0, -1.0]);
        let back = AudioFrame::from_pcm16_le(16_000, &f.to_pcm16_le()).unwrap();
        for (a, b) in f.samples.iter().zip(&back.samples) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert!(matches!(AudioFrame::from_pcm16_le(16_000, &[1, 2, 3]), Err(SpeechError::BadAudio(_))));
        assert!(matches!(AudioFrame::from_pcm16_le(4_000, &[1, 2]), Err(SpeechError::BadAudio(_))));
        assert!(matches!(AudioFrame::from_pcm16_le(192_000, &[1, 2]), Err(SpeechError::BadAudio(_))));
    }

    #[test]
    fn a_missing_model_says_how_to_install_it_but_engine_failures_stay_in_the_log() {
        let e = SpeechError::ModelMissing {
            what: "Whisper tiny.en".into(),
            hint: "run `switchboard models install`".into(),
        };
        assert!(e.public_message().contains("switchboard models install"));
        let e = SpeechError::Engine("/home/x/.cache: segfault".into());
        assert!(!e.public_message().contains("/home"));
        assert!(
            Transcript { text: "  ...".into(), is_final: true, confidence: None, language: None, compute_ms: 0.0 }
                .has_words()
                == false
        );
    }
}
