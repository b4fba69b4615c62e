//! Piper's phonemes and ids against piper-tts 1.8.0's own (its bundled
//! espeak bridge; the expected values were printed by it once, by hand),
//! and synthesis on the installed voice and ONNX Runtime. Needs the
//! `espeak-ng` program and `switchboard models install` (run by setup).

use switchboard_voice::phonemize::Phonemizer;
use switchboard_voice::piper::{Piper, VoiceConfig};

fn voice() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = switchboard_voice::models_dir().join("piper");
    let model = dir.join("en_US-joe-medium.onnx");
    assert!(model.is_file(), "the Piper voice is not installed at {} (switchboard models install)", model.display());
    (model, dir.join("en_US-joe-medium.onnx.json"))
}

#[test]
fn phonemes_match_piper_tts() {
    let e = Phonemizer::default();
    let cases: &[(&str, &[&str])] = &[
        ("Hello, world! This is a test.", &["həlˈoʊ, wˈɜːld!", "ðɪs ɪz ɐ tˈɛst."]),
        (
            "Dr. Smith paid $45 at 9:30; really?",
            &["dˈɑːktɚ.", "smˈɪθ pˈeɪd dˈɑːlɚ fˈɔːɹɾi fˈaɪv æt nˈaɪn θˈɜːɾi; ɹˈiəli?"],
        ),
        // A lone function word keeps its secondary stress.
        ("But, we went home.", &["bˌʌt, wiː wɛnt hˈoʊm."]),
        // The linking ʲ is there; no punctuation at the end stays none.
        ("The end of the story", &["ðɪʲ ˈɛnd ʌvðə stˈɔːɹi"]),
        // An ellipsis adds neither punctuation nor space; a dash becomes ';'.
        ("Wait... what? I can't — honestly.", &["wˈeɪtwˌʌt?", "aɪ kˈænt; ˈɑːnɪstli."]),
    ];
    for (text, want) in cases {
        let got = e.phonemize(text, "en-us").unwrap();
        assert_eq!(&got, want, "{text}");
    }
}

#[test]
fn ids_match_piper_tts() {
    let (_, config) = voice();
    let cfg = VoiceConfig::load(&config).unwrap();
    let ph = Phonemizer::default().phonemize("Hello, world!", &cfg.espeak_voice).unwrap();
    assert_eq!(
        cfg.phonemes_to_ids(&ph[0]),
        vec![
            1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 8, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0, 24, 0, 17, 0,
            4, 0, 2
        ]
    );
}

#[test]
fn the_voice_speaks_deterministically_with_noise_off() {
    let (model, config) = voice();
    switchboard_voice::onnx::runtime(&switchboard_voice::onnx::default_library()).expect("ONNX Runtime loads");
    let mut p = Piper::load(&model, &config).unwrap();
    assert_eq!(p.sample_rate(), 22050);
    p.scales[0] = 0.0;
    p.scales[2] = 0.0;
    let a = p.synthesize("Hello there. How are you?").unwrap();
    let secs = a.len() as f32 / 22050.0;
    assert!(secs > 1.0 && secs < 4.0, "{secs} s");
    assert_eq!(a, p.synthesize("Hello there. How are you?").unwrap());
    let peak = a.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!((peak - 1.0).abs() < 1e-6, "peak-normalised like piper-tts: {peak}");
}
