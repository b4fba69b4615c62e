//! The neural engines on ONNX Runtime (Silero voice activity, Smart Turn end
//! of turn, Piper speech), each loaded on first use: Piper takes seconds to
//! load, and an app that never takes a call should not pay for it. A model
//! that fails to load is reported in `info()` and the call falls back
//! (earshot, the silence timeout, espeak-ng) instead of failing.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use switchboard_core::speech::{
    AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, TextToSpeech, TurnDetector, VadEngine, VoiceActivity,
};
use tokio::sync::{OnceCell, mpsc};

use crate::piper::Piper;
use crate::silero::SileroVad;
use crate::smart_turn::SmartTurn;
use crate::{Earshot, Espeak, onnx};

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn missing_hint(what: &str, path: &std::path::Path) -> String {
    format!("{what}: no file at {} (run `switchboard models install`)", path.display())
}

/// Silero VAD; earshot for any call made while it cannot load.
pub struct LazySilero {
    runtime: PathBuf,
    model: PathBuf,
    loaded: OnceLock<Result<SileroVad, String>>,
}

impl LazySilero {
    pub fn new(runtime: PathBuf, model: PathBuf) -> Self {
        Self { runtime, model, loaded: OnceLock::new() }
    }

    fn get(&self) -> &Result<SileroVad, String> {
        self.loaded.get_or_init(|| {
            onnx::runtime(&self.runtime)?;
            SileroVad::load(&self.model)
        })
    }
}

impl VadEngine for LazySilero {
    fn info(&self) -> SpeechEngineInfo {
        let failed = self.loaded.get().and_then(|r| r.as_ref().err().cloned());
        let missing = if !self.model.is_file() {
            Some(missing_hint("Silero VAD", &self.model))
        } else {
            failed.map(|e| format!("Silero VAD did not load ({e}); earshot is used instead"))
        };
        SpeechEngineInfo {
            engine: "silero".into(),
            model: Some(file_name(&self.model)),
            ready: missing.is_none(),
            missing,
            languages: vec![],
        }
    }

    fn detector(&self) -> Box<dyn VoiceActivity> {
        match self.get() {
            Ok(s) => s.detector(),
            Err(e) => {
                tracing::warn!(error = %e, "Silero VAD did not load; using earshot");
                Earshot.detector()
            }
        }
    }
}

/// Smart Turn v3; without it a pause ends the turn after the silence
/// timeout alone.
pub struct LazySmartTurn {
    runtime: PathBuf,
    model: PathBuf,
    loaded: OnceLock<Result<SmartTurn, String>>,
}

impl LazySmartTurn {
    pub fn new(runtime: PathBuf, model: PathBuf) -> Self {
        Self { runtime, model, loaded: OnceLock::new() }
    }
}

impl TurnDetector for LazySmartTurn {
    fn info(&self) -> SpeechEngineInfo {
        let failed = self.loaded.get().and_then(|r| r.as_ref().err().cloned());
        let missing = if !self.model.is_file() { Some(missing_hint("Smart Turn", &self.model)) } else { failed };
        SpeechEngineInfo {
            engine: "smart-turn".into(),
            model: Some(file_name(&self.model)),
            ready: missing.is_none(),
            missing,
            languages: vec![],
        }
    }

    fn complete_probability(&self, audio: &[f32]) -> Result<f32, SpeechError> {
        let loaded = self.loaded.get_or_init(|| {
            onnx::runtime(&self.runtime)?;
            SmartTurn::load(&self.model)
        });
        match loaded {
            Ok(m) => m.probability(audio).map_err(SpeechError::Engine),
            Err(e) => Err(SpeechError::ModelCorrupt(format!("Smart Turn did not load: {e}"))),
        }
    }

    fn rate(&self) -> u32 {
        16_000
    }
}

/// Piper's voice for English, espeak-ng for the other languages and
/// whenever Piper cannot load.
pub struct PiperTts {
    runtime: PathBuf,
    model: PathBuf,
    config: PathBuf,
    loaded: OnceCell<Result<Arc<Piper>, String>>,
    fallback: Arc<Espeak>,
}

impl PiperTts {
    pub fn new(runtime: PathBuf, model: PathBuf, fallback: Arc<Espeak>) -> Self {
        let config = PathBuf::from(format!("{}.json", model.display()));
        Self { runtime, model, config, loaded: OnceCell::new(), fallback }
    }

    /// Loads the voice now (a call about to start should not wait for it
    /// on its first sentence).
    pub async fn warm(&self) -> Result<(), String> {
        self.piper().await.map(|_| ())
    }

    async fn piper(&self) -> Result<Arc<Piper>, String> {
        let (runtime, model, config) = (self.runtime.clone(), self.model.clone(), self.config.clone());
        self.loaded
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    onnx::runtime(&runtime)?;
                    Piper::load(&model, &config).map(Arc::new)
                })
                .await
                .unwrap_or_else(|e| Err(format!("loading Piper panicked: {e}")))
            })
            .await
            .clone()
    }
}

#[async_trait]
impl TextToSpeech for PiperTts {
    fn info(&self) -> SpeechEngineInfo {
        let failed = self.loaded.get().and_then(|r| r.as_ref().err().cloned());
        let missing = if !self.model.is_file() || !self.config.is_file() {
            Some(missing_hint("the Piper voice", &self.model))
        } else {
            failed.map(|e| format!("the Piper voice did not load ({e}); espeak-ng speaks instead"))
        };
        let mut languages = vec!["en".to_string()];
        languages.extend(self.fallback.info().languages.into_iter().filter(|l| l != "en"));
        SpeechEngineInfo {
            engine: "piper".into(),
            model: Some(file_name(&self.model)),
            // Speech works whenever espeak-ng does; `missing` says what is
            // not at its best.
            ready: self.fallback.info().ready || missing.is_none(),
            missing,
            languages,
        }
    }

    fn supports(&self, language: &str) -> bool {
        language.starts_with("en") || self.fallback.supports(language)
    }

    async fn speak(&self, text: &str, language: &str) -> Result<AudioStream, SpeechError> {
        if !language.starts_with("en") || !self.model.is_file() {
            return self.fallback.speak(text, language).await;
        }
        let piper = match self.piper().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "the Piper voice did not load; espeak-ng speaks");
                return self.fallback.speak(text, language).await;
            }
        };
        let (tx, rx) = mpsc::channel(8);
        let text = text.to_string();
        tokio::task::spawn_blocking(move || {
            let rate = piper.sample_rate();
            // 100 ms frames, so a caller who cuts in stops the rest at once.
            let step = (rate / 10) as usize;
            let result = piper.synthesize_streaming(&text, |audio| {
                for chunk in audio.chunks(step) {
                    if tx.blocking_send(Ok(AudioFrame::new(rate, chunk.to_vec()))).is_err() {
                        // Nobody listens any more: stop synthesising.
                        return false;
                    }
                }
                true
            });
            if let Err(e) = result {
                let _ = tx.blocking_send(Err(SpeechError::Engine(format!("Piper: {e}"))));
            }
        });
        Ok(rx)
    }
}
