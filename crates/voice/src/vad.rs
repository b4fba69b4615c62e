//! Voice activity with earshot: a small pure-Rust detector whose weights are
//! compiled in, so it needs no model file and works on every install.

use switchboard_core::speech::{SpeechEngineInfo, VadEngine, VoiceActivity};

pub struct Earshot;

impl VadEngine for Earshot {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "earshot".into(),
            model: Some("built in".into()),
            ready: true,
            missing: None,
            languages: vec![],
        }
    }

    fn detector(&self) -> Box<dyn VoiceActivity> {
        Box::new(EarshotDetector(earshot::Detector::default_boxed()))
    }
}

struct EarshotDetector(Box<earshot::Detector>);

impl VoiceActivity for EarshotDetector {
    fn rate(&self) -> u32 {
        16_000
    }
    fn frame_len(&self) -> usize {
        256
    }
    fn probability(&mut self, frame: &[f32]) -> f32 {
        if frame.len() != 256 {
            return 0.0;
        }
        // earshot wants [-1, 1]; clipped input must not trip its assertion.
        let mut clipped = [0f32; 256];
        for (d, s) in clipped.iter_mut().zip(frame) {
            *d = s.clamp(-1.0, 1.0);
        }
        self.0.predict_f32(&clipped).clamp(0.0, 1.0)
    }
    fn reset(&mut self) {
        self.0.reset();
    }
}
