//! Streaming Silero VAD v6 at 16 kHz, matching `silero_vad.utils_vad.OnnxWrapper`.
//!
//! Model contract (silero_vad.onnx, 16 kHz use):
//! - input `input`: f32 `[1, 64 + 512]` — previous 64 samples of context, then the new frame
//! - input `state`: f32 `[2, 1, 128]` — recurrent state, zeros after a reset
//! - input `sr`:    i64 scalar (shape `[]`) = 16000
//! - output `output`: f32 `[1, 1]` speech probability; `stateN`: f32 `[2, 1, 128]`

use std::path::Path;
use std::sync::{Arc, Mutex};

use switchboard_core::speech::{SpeechEngineInfo, VadEngine, VoiceActivity};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

const FRAME: usize = 512;
const CONTEXT: usize = 64;
const STATE_LEN: usize = 2 * 128;
static SAMPLE_RATE: [i64; 1] = [16_000];

/// The loaded model, shared by every call's detector (each keeps its own
/// state; a frame's inference holds the lock for a few hundred µs).
pub struct SileroVad {
    session: Arc<Mutex<Session>>,
    model: String,
}

impl SileroVad {
    pub fn load(model: &Path) -> Result<Self, String> {
        let session = build_session(model).map_err(|e| format!("silero session {}: {e}", model.display()))?;
        for name in ["input", "state", "sr"] {
            if !session.inputs().iter().any(|i| i.name() == name) {
                return Err(format!("silero model has no input `{name}`"));
            }
        }
        let name = model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { session: Arc::new(Mutex::new(session)), model: name })
    }
}

impl VadEngine for SileroVad {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "silero".into(),
            model: Some(self.model.clone()),
            ready: true,
            missing: None,
            languages: vec![],
        }
    }

    fn detector(&self) -> Box<dyn VoiceActivity> {
        Box::new(Silero {
            session: self.session.clone(),
            input: vec![0.0; CONTEXT + FRAME],
            state: vec![0.0; STATE_LEN],
        })
    }
}

impl VoiceActivity for Silero {
    fn rate(&self) -> u32 {
        16_000
    }
    fn frame_len(&self) -> usize {
        FRAME
    }
    fn probability(&mut self, frame: &[f32]) -> f32 {
        match self.try_probability(frame) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "silero frame failed; heard as silence");
                0.0
            }
        }
    }
    fn reset(&mut self) {
        self.input.fill(0.0);
        self.state.fill(0.0);
    }
}

/// One stream's detector.
pub struct Silero {
    session: Arc<Mutex<Session>>,
    /// Model input row: `[context | frame]`. The context is the tail of the previous
    /// input row, i.e. the last 64 samples of the previous frame (zeros after reset).
    input: Vec<f32>,
    state: Vec<f32>,
}

impl Silero {
    pub fn try_probability(&mut self, frame: &[f32]) -> Result<f32, String> {
        if frame.len() != FRAME {
            return Err(format!("silero frame must be {FRAME} samples, got {}", frame.len()));
        }
        self.input[CONTEXT..].copy_from_slice(frame);

        let ort_err = |e: ort::Error| format!("silero inference: {e}");
        let input = TensorRef::from_array_view(([1usize, CONTEXT + FRAME], &self.input[..])).map_err(ort_err)?;
        let state = TensorRef::from_array_view(([2usize, 1, 128], &self.state[..])).map_err(ort_err)?;
        let sr = TensorRef::from_array_view(((), &SAMPLE_RATE[..])).map_err(ort_err)?;
        let mut session = self.session.lock().map_err(|_| "silero session poisoned".to_string())?;
        let outputs = session.run(ort::inputs!["input" => input, "state" => state, "sr" => sr]).map_err(ort_err)?;

        let (_, prob) = outputs["output"].try_extract_tensor::<f32>().map_err(ort_err)?;
        let (_, new_state) = outputs["stateN"].try_extract_tensor::<f32>().map_err(ort_err)?;
        if new_state.len() != STATE_LEN || prob.is_empty() {
            return Err(format!("silero output sizes: state {}, prob {}", new_state.len(), prob.len()));
        }
        let prob = prob[0];
        self.state.copy_from_slice(new_state);

        // Next call's context = last 64 samples of this call's whole input row.
        self.input.copy_within(FRAME.., 0);
        Ok(prob)
    }
}

fn build_session(model: &Path) -> ort::Result<Session> {
    Session::builder()?
        .with_optimization_level(GraphOptimizationLevel::All)?
        .with_intra_threads(1)?
        .with_inter_threads(1)?
        .commit_from_file(model)
}
