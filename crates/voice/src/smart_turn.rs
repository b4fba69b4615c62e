//! Smart Turn v3.x end-of-turn classifier, matching Pipecat's `LocalSmartTurnAnalyzerV3`.
//!
//! Model contract (smart-turn-v3.2-cpu.onnx):
//! - input  `input_features`: f32 `[batch, 80, 800]` (Whisper log-mel, mel-major)
//! - output `logits`: f32 `[batch, 1]` — despite the name, already a sigmoid probability.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use realfft::{RealFftPlanner, RealToComplex};
use switchboard_core::speech::{SpeechEngineInfo, SpeechError, TurnDetector};

const SAMPLE_RATE: usize = 16_000;
/// The model sees exactly the last 8 s of audio.
pub const WINDOW_SAMPLES: usize = 8 * SAMPLE_RATE;
const N_FFT: usize = 400;
const HOP: usize = 160;
const N_BINS: usize = N_FFT / 2 + 1;
pub const N_MELS: usize = 80;
/// 128000 / 160 + 1 = 801 centred frames; the reference drops the last one.
pub const N_FRAMES: usize = 800;
const MEL_FLOOR: f64 = 1e-10;
const NORM_EPS: f32 = 1e-7;

const INPUT_NAME: &str = "input_features";
const OUTPUT_NAME: &str = "logits";

pub struct SmartTurn {
    model: String,
    // `Session::run` takes `&mut self` in ort 2.0.0-rc.12.
    session: Mutex<Session>,
    mel: LogMel,
}

impl SmartTurn {
    /// Loads the model with Pipecat's default session options (1 intra-op thread).
    pub fn load(model: &Path) -> Result<Self, String> {
        Self::load_with_threads(model, 1)
    }

    /// Like [`SmartTurn::load`] but with `intra_threads` intra-op threads. The encoder is
    /// ~95% of a call; extra threads only pay off when cores are actually idle.
    pub fn load_with_threads(model: &Path, intra_threads: usize) -> Result<Self, String> {
        let session =
            build_session(model, intra_threads).map_err(|e| format!("smart-turn session {}: {e}", model.display()))?;

        // Fail at load time, not on the first turn, if a different model is dropped in.
        if !session.inputs().iter().any(|i| i.name() == INPUT_NAME) {
            return Err(format!("smart-turn model has no input `{INPUT_NAME}`"));
        }
        if !session.outputs().iter().any(|o| o.name() == OUTPUT_NAME) {
            return Err(format!("smart-turn model has no output `{OUTPUT_NAME}`"));
        }
        let name = model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { model: name, session: Mutex::new(session), mel: LogMel::new() })
    }

    /// Probability (0..1) that the speaker has finished their turn, from 16 kHz mono audio
    /// in [-1, 1]. Only the last 8 s are used; shorter audio is zero-padded at the front.
    pub fn probability(&self, audio_16k: &[f32]) -> Result<f32, String> {
        let features = self.features(audio_16k);
        self.run_features(&features)
    }

    /// The model input for `audio_16k`: 80×800 log-mel values, mel-major (`[m * 800 + t]`).
    pub fn features(&self, audio_16k: &[f32]) -> Vec<f32> {
        self.mel.compute(audio_16k)
    }

    /// Runs the model on precomputed [`SmartTurn::features`] output.
    pub fn run_features(&self, features: &[f32]) -> Result<f32, String> {
        if features.len() != N_MELS * N_FRAMES {
            return Err(format!("expected {} feature values, got {}", N_MELS * N_FRAMES, features.len()));
        }
        let input = TensorRef::from_array_view(([1usize, N_MELS, N_FRAMES], features)).map_err(|e| e.to_string())?;
        let mut session = self.session.lock().map_err(|_| "smart-turn session mutex poisoned".to_string())?;
        let outputs =
            session.run(ort::inputs![INPUT_NAME => input]).map_err(|e| format!("smart-turn inference: {e}"))?;
        let (_, probs) = outputs[OUTPUT_NAME].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        probs.first().copied().ok_or_else(|| "smart-turn returned an empty output".to_string())
    }
}

fn build_session(model: &Path, intra_threads: usize) -> ort::Result<Session> {
    Session::builder()?
        // `All` is ORT_ENABLE_ALL as Pipecat uses; `Level3` in rc.12 is ORT_ENABLE_LAYOUT.
        .with_optimization_level(GraphOptimizationLevel::All)?
        .with_parallel_execution(false)?
        .with_inter_threads(1)?
        .with_intra_threads(intra_threads)?
        .commit_from_file(model)
}

/// Whisper-style log-mel front end (`WhisperFeatureExtractor`, chunk_length = 8 s,
/// do_normalize = true) with everything that does not depend on the audio precomputed.
struct LogMel {
    /// Periodic Hann window (torch.hann_window / np.hanning(N+1)[:-1]).
    window: Vec<f64>,
    /// Slaney mel filters, stored sparsely: each triangle touches only a few FFT bins.
    filters: Vec<MelFilter>,
    fft: Arc<dyn RealToComplex<f64>>,
}

struct MelFilter {
    first_bin: usize,
    weights: Vec<f64>,
}

impl LogMel {
    fn new() -> Self {
        // np.hanning(N + 1)[:-1], evaluated with numpy's own formula.
        let window = (0..N_FFT)
            .map(|k| {
                let n = 2.0 * k as f64 - N_FFT as f64;
                0.5 + 0.5 * (std::f64::consts::PI * n / N_FFT as f64).cos()
            })
            .collect();
        let filters = slaney_mel_filters()
            .into_iter()
            .map(|row| {
                let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w > 0.0).map_or(first, |i| i + 1);
                MelFilter { first_bin: first, weights: row[first..last].to_vec() }
            })
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        Self { window, filters, fft }
    }

    fn compute(&self, audio: &[f32]) -> Vec<f32> {
        // Last 8 s, zero-padded at the front (Pipecat's truncate_audio_to_last_n_seconds).
        let mut x = vec![0.0f32; WINDOW_SAMPLES];
        let tail = &audio[audio.len().saturating_sub(WINDOW_SAMPLES)..];
        x[WINDOW_SAMPLES - tail.len()..].copy_from_slice(tail);

        // Zero-mean/unit-variance over the whole window, applied in f32 like the reference;
        // the statistics themselves are accumulated in f64 (numpy uses pairwise f32 sums, so
        // this differs from it only in the last bits).
        let n = WINDOW_SAMPLES as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let (mean, std) = (mean as f32, (var as f32 + NORM_EPS).sqrt());
        let norm = |v: f32| ((v - mean) / std) as f64;

        // Centre the frames with reflect padding (no edge repeat), then work in f64 as the
        // reference spectrogram does.
        let pad = N_FFT / 2;
        let mut padded = Vec::with_capacity(WINDOW_SAMPLES + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| norm(x[i])));
        padded.extend(x.iter().map(|&v| norm(v)));
        padded.extend((0..pad).map(|j| norm(x[WINDOW_SAMPLES - 2 - j])));

        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f64; N_BINS];
        let mut log_mel = vec![0.0f64; N_MELS * N_FRAMES];
        let mut max = f64::NEG_INFINITY;

        for t in 0..N_FRAMES {
            let start = t * HOP;
            for ((dst, &s), &w) in frame.iter_mut().zip(&padded[start..start + N_FFT]).zip(&self.window) {
                *dst = s * w;
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffer sizes come from the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, f) in self.filters.iter().enumerate() {
                let e: f64 = f.weights.iter().zip(&power[f.first_bin..]).map(|(w, p)| w * p).sum();
                let v = e.max(MEL_FLOOR).log10();
                max = max.max(v);
                log_mel[m * N_FRAMES + t] = v;
            }
        }

        // Dynamic range clamp to 8 decades below the peak, then scale to roughly [-1, 1].
        let floor = max - 8.0;
        log_mel.iter().map(|&v| ((v.max(floor) + 4.0) / 4.0) as f32).collect()
    }
}

/// Slaney-scale, Slaney-normalised triangular filters (librosa/transformers `mel_filter_bank`
/// with norm="slaney", mel_scale="slaney"), 0..8 kHz, one row of N_BINS weights per mel.
fn slaney_mel_filters() -> Vec<Vec<f64>> {
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = 15.0;
    // Both directions written as the reference does, so constants round identically.
    let hz_to_mel = |f: f64| {
        if f >= MIN_LOG_HZ { MIN_LOG_MEL + (f / MIN_LOG_HZ).ln() * (27.0 / 6.4f64.ln()) } else { 3.0 * f / 200.0 }
    };
    let mel_to_hz = |m: f64| {
        if m >= MIN_LOG_MEL { MIN_LOG_HZ * ((6.4f64.ln() / 27.0) * (m - MIN_LOG_MEL)).exp() } else { 200.0 * m / 3.0 }
    };

    // N_MELS + 2 band edges evenly spaced in mel (np.linspace semantics: exact endpoint).
    let (mel_lo, mel_hi) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE as f64 / 2.0));
    let step = (mel_hi - mel_lo) / (N_MELS + 1) as f64;
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| if i == N_MELS + 1 { mel_hi } else { mel_lo + i as f64 * step })
        .map(mel_to_hz)
        .collect();
    let bin_hz = |k: usize| k as f64 * (SAMPLE_RATE / 2) as f64 / (N_BINS - 1) as f64;

    (0..N_MELS)
        .map(|m| {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let enorm = 2.0 / (hi - lo);
            (0..N_BINS)
                .map(|k| {
                    let f = bin_hz(k);
                    let down = (f - lo) / (mid - lo);
                    let up = (hi - f) / (hi - mid);
                    down.min(up).max(0.0) * enorm
                })
                .collect()
        })
        .collect()
}

impl TurnDetector for SmartTurn {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "smart-turn".into(),
            model: Some(self.model.clone()),
            ready: true,
            missing: None,
            languages: vec![],
        }
    }

    fn complete_probability(&self, audio: &[f32]) -> Result<f32, SpeechError> {
        self.probability(audio).map_err(SpeechError::Engine)
    }

    fn rate(&self) -> u32 {
        SAMPLE_RATE as u32
    }
}
