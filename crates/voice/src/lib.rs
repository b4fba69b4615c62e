//! `switchboard-voice` owns the offline speech engines behind the speech
//! ports of `switchboard-core`: Whisper speech-to-text (whisper.cpp in the
//! `switchboard-whisper` worker process), Piper text-to-speech (espeak-ng
//! for phonemes, and as the voice for other languages and the fallback),
//! Silero voice activity (earshot without it), the Smart Turn end-of-turn
//! model, all on ONNX Runtime loaded at run time; plus WAV coding and the
//! computer's audio devices.
//!
//! Invariants: no engine fetches anything at run time (models are files the
//! setup script or `switchboard models install` put in the models folder); a
//! missing model is reported by `info()` with how to install it, never a
//! panic; engine compute never runs on the async runtime's threads (worker
//! processes, subprocesses, or the call's own audio thread).

pub mod device;
pub mod espeak;
pub mod neural;
pub mod onnx;
pub mod phonemize;
pub mod piper;
pub mod silero;
pub mod smart_turn;
pub mod vad;
pub mod wav;
pub mod whisper;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use switchboard_core::speech::{SpeechEngines, TextToSpeech, TurnDetector, VadEngine};

pub use espeak::Espeak;
pub use vad::Earshot;
pub use whisper::Whisper;

pub use switchboard_core::models_dir;

/// The Whisper models the setup script installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum WhisperModel {
    /// English only; the fastest.
    #[default]
    #[serde(rename = "tiny.en")]
    TinyEn,
    /// Multilingual (English, Hindi, Bengali, Marathi...); slower.
    #[serde(rename = "base")]
    Base,
}

impl WhisperModel {
    pub fn label(self) -> &'static str {
        match self {
            WhisperModel::TinyEn => "tiny.en",
            WhisperModel::Base => "base",
        }
    }
    pub fn path(self) -> PathBuf {
        models_dir().join("whisper").join(format!("ggml-{}.bin", self.label()))
    }
}

/// The `[voice]` section of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    pub stt_model: WhisperModel,
    /// A model file to use instead of the installed one.
    pub stt_model_path: Option<PathBuf>,
    /// Threads for Whisper (the worker's own).
    pub stt_threads: u32,
    /// espeak-ng words per minute.
    pub tts_speed: u32,
    /// `piper` (English; espeak-ng for other languages) or `espeak`.
    pub tts_engine: TtsEngine,
    /// `silero` or `earshot`.
    pub vad_engine: VadChoice,
    /// Run the end-of-turn model (Smart Turn) when the caller pauses. Off
    /// by default: on the synthetic speech this project can test with, its
    /// verdicts do not follow whether a sentence is finished (the closing
    /// note of the voice issue has the figures); try it with real callers.
    pub turn_model: bool,
    /// The ONNX Runtime library to load instead of the installed one.
    pub onnxruntime_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtsEngine {
    #[default]
    Piper,
    Espeak,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VadChoice {
    #[default]
    Silero,
    Earshot,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            stt_model: WhisperModel::default(),
            stt_model_path: None,
            stt_threads: 2,
            tts_speed: 175,
            tts_engine: TtsEngine::default(),
            vad_engine: VadChoice::default(),
            turn_model: false,
            onnxruntime_path: None,
        }
    }
}

/// The offline engines a call runs on. Nothing loads until first use, and a
/// missing model shows in each engine's `info()`. A neural engine whose
/// files are not installed is replaced by its fallback (earshot, espeak-ng,
/// no end-of-turn model) so a call still runs.
pub fn offline_engines(config: &VoiceConfig) -> SpeechEngines {
    let path = config.stt_model_path.clone().unwrap_or_else(|| config.stt_model.path());
    let runtime = config.onnxruntime_path.clone().unwrap_or_else(onnx::default_library);
    let has_runtime = runtime.is_file();
    let dir = models_dir();
    let espeak = Arc::new(Espeak::new(config.tts_speed));
    let piper = dir.join("piper/en_US-joe-medium.onnx");
    let tts: Arc<dyn TextToSpeech> = if config.tts_engine == TtsEngine::Piper && has_runtime && piper.is_file() {
        Arc::new(neural::PiperTts::new(runtime.clone(), piper, espeak))
    } else {
        espeak
    };
    let silero = dir.join("silero-vad/silero_vad.onnx");
    let vad: Arc<dyn VadEngine> = if config.vad_engine == VadChoice::Silero && has_runtime && silero.is_file() {
        Arc::new(neural::LazySilero::new(runtime.clone(), silero))
    } else {
        Arc::new(Earshot)
    };
    let smart_turn = dir.join("smart-turn/smart-turn-v3.2-cpu.onnx");
    let turn: Option<Arc<dyn TurnDetector>> = (config.turn_model && has_runtime && smart_turn.is_file())
        .then(|| Arc::new(neural::LazySmartTurn::new(runtime, smart_turn)) as Arc<dyn TurnDetector>);
    SpeechEngines { stt: Arc::new(Whisper::new(path, config.stt_model.label(), config.stt_threads)), tts, vad, turn }
}
