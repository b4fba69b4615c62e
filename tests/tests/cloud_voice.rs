//! The cloud speech engines against the real services, when their keys are
//! in the environment (`DEEPGRAM_API_KEY`, `ELEVENLABS_API_KEY`). Without a key each test says it
//! was skipped and passes: CI has no keys and no network but the package
//! registries. The engines' behaviour, failures included, is tested against
//! local fakes of each service in `crates/cloud-voice/tests`.

use switchboard_call::resample::Resampler;
use switchboard_cloud_voice::ApiKey;
use switchboard_cloud_voice::deepgram::{DeepgramConfig, DeepgramStt, RATE};
use switchboard_cloud_voice::elevenlabs::{ElevenLabsStt, ElevenLabsSttConfig};
use switchboard_cloud_voice::usage::Usage;
use switchboard_core::speech::{AudioFrame, SpeechToText, SttOptions};
use switchboard_tests::speech::{speak, word_errors};

fn key(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(k) if !k.trim().is_empty() => Some(k),
        _ => {
            eprintln!("skipped: {name} is not set, so the real service was not called");
            None
        }
    }
}

/// A sentence spoken by espeak-ng at 16 kHz.
fn spoken(said: &str) -> AudioFrame {
    let voice = speak(said, "en-us", 150);
    let mut r = Resampler::new(voice.rate, RATE).unwrap();
    let mut samples = r.push(&voice.samples);
    samples.extend(r.flush());
    AudioFrame::new(RATE, samples)
}

fn assert_heard(engine: &str, said: &str, heard: &str) {
    let (errors, words) = word_errors(said, heard);
    let wer = errors as f64 / words as f64;
    eprintln!("{engine} heard {heard:?}: WER {wer:.2}");
    assert!(wer < 0.35, "{heard}");
}

#[tokio::test]
async fn real_elevenlabs_transcribes_spoken_english() {
    let Some(key) = key("ELEVENLABS_API_KEY") else { return };
    let stt = ElevenLabsStt::new(ElevenLabsSttConfig::new(ApiKey::new(key).unwrap()), Usage::default()).unwrap();
    stt.check().await.expect("the key is accepted");
    let said = "Do you have a table for four at seven tonight";
    let t = stt.transcribe(spoken(said), SttOptions::default()).await.unwrap();
    assert_heard("ElevenLabs", said, &t.text);
}

#[tokio::test]
async fn real_deepgram_transcribes_spoken_english() {
    let Some(key) = key("DEEPGRAM_API_KEY") else { return };
    let stt = DeepgramStt::new(DeepgramConfig::new(ApiKey::new(key).unwrap()), Usage::default()).unwrap();
    stt.check().await.expect("the key is accepted");
    let said = "I would like to book a table for two on Friday evening";
    let t = stt.transcribe(spoken(said), SttOptions::default()).await.unwrap();
    assert_heard("Deepgram", said, &t.text);
}
