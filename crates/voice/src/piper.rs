//! Piper (VITS) voice: phonemes via the espeak-ng program, ids via the voice JSON, audio via
//! ONNX Runtime loaded at run time (`ort` with `load-dynamic`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use ort::session::{Session, builder::GraphOptimizationLevel};
use ort::value::Tensor;
use unicode_normalization::UnicodeNormalization;

use crate::phonemize::Phonemizer;

const PAD: &str = "_";
const BOS: &str = "^";
const EOS: &str = "$";

/// The parts of `<voice>.onnx.json` that synthesis needs.
pub struct VoiceConfig {
    pub id_map: HashMap<String, Vec<i64>>,
    pub sample_rate: u32,
    pub espeak_voice: String,
    /// noise_scale, length_scale, noise_w in model input order.
    pub scales: [f32; 3],
}

fn f32_field(v: &serde_json::Value, k: &str, default: f32) -> f32 {
    v.get(k).and_then(|x| x.as_f64()).map_or(default, |x| x as f32)
}

impl VoiceConfig {
    pub fn load(config: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
        let cfg: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", config.display()))?;
        if let Some(t) = cfg.get("phoneme_type").and_then(|t| t.as_str()) {
            if t != "espeak" {
                return Err(format!("unsupported phoneme_type {t}"));
            }
        }
        let mut id_map = HashMap::new();
        for (k, v) in cfg["phoneme_id_map"].as_object().ok_or("config has no phoneme_id_map")? {
            let ids = v
                .as_array()
                .ok_or("bad phoneme_id_map entry")?
                .iter()
                .map(|x| x.as_i64().ok_or("bad phoneme id"))
                .collect::<Result<Vec<_>, _>>()?;
            id_map.insert(k.clone(), ids);
        }
        for k in [PAD, BOS, EOS] {
            if !id_map.contains_key(k) {
                return Err(format!("phoneme_id_map lacks {k:?}"));
            }
        }
        let inf = &cfg["inference"];
        Ok(VoiceConfig {
            id_map,
            sample_rate: cfg["audio"]["sample_rate"].as_u64().unwrap_or(22050) as u32,
            espeak_voice: cfg["espeak"]["voice"].as_str().unwrap_or("en-us").to_string(),
            scales: [
                f32_field(inf, "noise_scale", 0.667),
                f32_field(inf, "length_scale", 1.0),
                f32_field(inf, "noise_w", 0.8),
            ],
        })
    }

    /// ^ _ p1 _ p2 _ ... pn _ $ after NFD decomposition (diacritics become their own symbols).
    /// Symbols missing from the map are skipped, as piper-tts does.
    pub fn phonemes_to_ids(&self, phonemes: &str) -> Vec<i64> {
        let m = &self.id_map;
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 3);
        ids.extend(&m[BOS]);
        ids.extend(&m[PAD]);
        let mut buf = [0u8; 4];
        for c in phonemes.nfd() {
            match m.get(&*c.encode_utf8(&mut buf)) {
                Some(v) => {
                    ids.extend(v);
                    ids.extend(&m[PAD]);
                }
                None => tracing::debug!(phoneme = ?c, "not in the voice's id map; skipped"),
            }
        }
        ids.extend(&m[EOS]);
        ids
    }
}

pub struct Piper {
    session: Mutex<Session>,
    pub config: VoiceConfig,
    /// noise_scale, length_scale, noise_w (defaults from the JSON; may be changed).
    pub scales: [f32; 3],
    /// Peak-normalise each sentence like piper-tts (SynthesisConfig.normalize_audio).
    pub normalize: bool,
    pub espeak: Phonemizer,
    speaker_input: bool,
}

impl Piper {
    pub fn load(model: &Path, config: &Path) -> Result<Self, String> {
        Self::load_with_threads(model, config, 1)
    }

    pub fn load_with_threads(model: &Path, config: &Path, threads: usize) -> Result<Self, String> {
        let config = VoiceConfig::load(config)?;
        let e = |e: ort::Error<_>| e.to_string();
        let session = Session::builder()
            .map_err(|e| e.to_string())?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(e)?
            .with_intra_threads(threads)
            .map_err(e)?
            .commit_from_file(model)
            .map_err(|e| format!("{}: {e}", model.display()))?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for need in ["input", "input_lengths", "scales"] {
            if !names.contains(&need) {
                return Err(format!("model lacks input {need:?} (has {names:?})"));
            }
        }
        let speaker_input = names.contains(&"sid");
        Ok(Piper {
            session: Mutex::new(session),
            scales: config.scales,
            config,
            normalize: true,
            espeak: Phonemizer::default(),
            speaker_input,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    pub fn espeak_voice(&self) -> &str {
        &self.config.espeak_voice
    }

    /// Phoneme string per sentence, in Piper's form (clause punctuation kept).
    pub fn phonemize(&self, text: &str, voice: &str) -> Result<Vec<String>, String> {
        self.espeak.phonemize(text, voice)
    }

    pub fn phonemes_to_ids(&self, phonemes: &str) -> Vec<i64> {
        self.config.phonemes_to_ids(phonemes)
    }

    /// Run the model on one id sequence. Returns mono f32 samples at `sample_rate()`.
    pub fn synthesize_ids(&self, ids: &[i64]) -> Result<Vec<f32>, String> {
        let n = ids.len();
        let input = Tensor::from_array(([1usize, n], ids.to_vec())).map_err(|e| e.to_string())?;
        let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(|e| e.to_string())?;
        let scales = Tensor::from_array(([3usize], self.scales.to_vec())).map_err(|e| e.to_string())?;
        let mut session = self.session.lock().map_err(|_| "session poisoned")?;
        let mut audio = {
            let outputs = if self.speaker_input {
                let sid = Tensor::from_array(([1usize], vec![0i64])).map_err(|e| e.to_string())?;
                session.run(ort::inputs![
                    "input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid
                ])
            } else {
                session.run(ort::inputs![
                    "input" => input, "input_lengths" => lengths, "scales" => scales
                ])
            }
            .map_err(|e| e.to_string())?;
            let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
            data.to_vec()
        };
        if self.normalize {
            let peak = audio.iter().fold(0f32, |m, x| m.max(x.abs()));
            if peak < 1e-8 {
                audio.iter_mut().for_each(|x| *x = 0.0);
            } else {
                audio.iter_mut().for_each(|x| *x /= peak);
            }
        }
        audio.iter_mut().for_each(|x| *x = x.clamp(-1.0, 1.0));
        Ok(audio)
    }

    /// Sentence by sentence; `sink` gets each sentence's audio as soon as it
    /// is ready and returns false to stop (the listener is gone).
    pub fn synthesize_streaming(&self, text: &str, mut sink: impl FnMut(&[f32]) -> bool) -> Result<(), String> {
        for sentence in self.phonemize(text, &self.config.espeak_voice)? {
            let ids = self.phonemes_to_ids(&sentence);
            if !sink(&self.synthesize_ids(&ids)?) {
                break;
            }
        }
        Ok(())
    }

    pub fn synthesize(&self, text: &str) -> Result<Vec<f32>, String> {
        let mut all = Vec::new();
        self.synthesize_streaming(text, |a| {
            all.extend_from_slice(a);
            true
        })?;
        Ok(all)
    }
}
