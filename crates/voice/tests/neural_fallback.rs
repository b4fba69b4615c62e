//! A damaged ONNX Runtime library (its own process: the runtime loads once
//! per process): the neural engines say so, and a call still hears speech
//! (espeak-ng) and still detects voice (earshot); nothing hangs.

use std::sync::Arc;

use switchboard_core::speech::{TextToSpeech, TurnDetector, VadEngine};
use switchboard_voice::neural::{LazySilero, LazySmartTurn, PiperTts};

#[tokio::test]
async fn a_damaged_runtime_falls_back_to_espeak_and_earshot_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("libonnxruntime.so");
    std::fs::write(&runtime, b"this is not a shared library").unwrap();
    let models = switchboard_voice::models_dir();
    let piper_model = models.join("piper/en_US-joe-medium.onnx");
    assert!(piper_model.is_file(), "needs the Piper voice installed (switchboard models install)");

    let tts = PiperTts::new(runtime.clone(), piper_model, Arc::new(switchboard_voice::Espeak::new(175)));
    let mut audio = tts.speak("We open at nine.", "en").await.expect("espeak-ng speaks instead");
    let mut samples = 0;
    while let Some(frame) = audio.recv().await {
        samples += frame.unwrap().samples.len();
    }
    assert!(samples > 0, "speech came out");
    let info = tts.info();
    assert!(info.ready, "speech still works: {info:?}");
    assert!(info.missing.unwrap().contains("did not load"));

    let vad = LazySilero::new(runtime.clone(), models.join("silero-vad/silero_vad.onnx"));
    let mut d = vad.detector();
    assert_eq!(d.frame_len(), 256, "earshot's frame: the fallback detector");
    assert!(!vad.info().ready);

    let turn = LazySmartTurn::new(runtime, models.join("smart-turn/smart-turn-v3.2-cpu.onnx"));
    let e = turn.complete_probability(&vec![0.0; 16_000]).unwrap_err();
    assert!(e.to_string().contains("did not load") || format!("{e:?}").contains("did not load"), "{e:?}");
    let _ = d.probability(&[0.0; 256]);
}
