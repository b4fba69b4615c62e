//! The cloud speech engines against the real services, when their keys are
//! in the environment (`DEEPGRAM_API_KEY`, `ELEVENLABS_API_KEY`,
//! `GEMINI_API_KEY`). Without a key each test says it
//! was skipped and passes: CI has no keys and no network but the package
//! registries. The engines' behaviour, failures included, is tested against
//! local fakes of each service in `crates/cloud-voice/tests`.

use std::time::Duration;

use serde_json::json;
use switchboard_call::resample::Resampler;
use switchboard_cloud_voice::ApiKey;
use switchboard_cloud_voice::agent::{AgentCommand, AgentEvent, AgentSetup, VoiceAgent};
use switchboard_cloud_voice::aura::{AuraConfig, AuraTts};
use switchboard_cloud_voice::deepgram::{DeepgramConfig, DeepgramStt, RATE};
use switchboard_cloud_voice::deepgram_agent::{DeepgramAgent, DeepgramAgentConfig};
use switchboard_cloud_voice::elevenlabs::{ElevenLabsConfig, ElevenLabsStt, ElevenLabsSttConfig, ElevenLabsTts};
use switchboard_cloud_voice::gemini::{GeminiConfig, GeminiLive};
use switchboard_cloud_voice::usage::Usage;
use switchboard_core::llm::ToolSpec;
use switchboard_core::speech::{AudioFrame, SpeechToText, SttOptions, TextToSpeech};
use switchboard_tests::speech::{speak, word_errors};

fn key(name: &str, test: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(k) if !k.trim().is_empty() => Some(k),
        _ => {
            eprintln!("skipped {test}: {name} is not set, so the real service was not called");
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
    let Some(key) = key("ELEVENLABS_API_KEY", "real_elevenlabs_transcribes_spoken_english") else { return };
    let stt = ElevenLabsStt::new(ElevenLabsSttConfig::new(ApiKey::new(key).unwrap()), Usage::default()).unwrap();
    stt.check().await.expect("the key is accepted");
    let said = "Do you have a table for four at seven tonight";
    let t = stt.transcribe(spoken(said), SttOptions::default()).await.unwrap();
    assert_heard("ElevenLabs", said, &t.text);
}

#[tokio::test]
async fn real_deepgram_transcribes_spoken_english() {
    let Some(key) = key("DEEPGRAM_API_KEY", "real_deepgram_transcribes_spoken_english") else { return };
    let stt = DeepgramStt::new(DeepgramConfig::new(ApiKey::new(key).unwrap()), Usage::default()).unwrap();
    stt.check().await.expect("the key is accepted");
    let said = "I would like to book a table for two on Friday evening";
    let t = stt.transcribe(spoken(said), SttOptions::default()).await.unwrap();
    assert_heard("Deepgram", said, &t.text);
}

/// Everything a voice says, joined at its rate.
async fn said_by(tts: &dyn TextToSpeech, text: &str) -> AudioFrame {
    let mut stream = tts.speak(text, "en").await.expect("the service speaks");
    let (mut rate, mut samples) = (16_000, Vec::new());
    while let Some(f) = stream.recv().await {
        let f = f.expect("audio, not an error");
        rate = f.rate;
        samples.extend(f.samples);
    }
    AudioFrame::new(rate, samples)
}

fn to_16k(a: &AudioFrame) -> AudioFrame {
    let mut r = Resampler::new(a.rate, RATE).unwrap();
    let mut s = r.push(&a.samples);
    s.extend(r.flush());
    AudioFrame::new(RATE, s)
}

#[tokio::test]
async fn real_deepgram_aura_speaks_what_deepgram_then_hears() {
    let Some(key) = key("DEEPGRAM_API_KEY", "real_deepgram_aura_speaks_what_deepgram_then_hears") else { return };
    let key = ApiKey::new(key).unwrap();
    let tts = AuraTts::new(AuraConfig::new(key.clone()), Usage::default()).unwrap();
    tts.check().await.expect("the key is accepted");
    let said = "We open at nine in the morning on Saturdays";
    let audio = said_by(&tts, said).await;
    assert!(audio.seconds() > 1.0, "{} s of speech", audio.seconds());
    let stt = DeepgramStt::new(DeepgramConfig::new(key), Usage::default()).unwrap();
    let heard = stt.transcribe(to_16k(&audio), SttOptions::default()).await.unwrap();
    assert_heard("Aura → Deepgram", said, &heard.text);
}

#[tokio::test]
async fn real_elevenlabs_speaks_what_elevenlabs_then_hears() {
    let Some(key) = key("ELEVENLABS_API_KEY", "real_elevenlabs_speaks_what_elevenlabs_then_hears") else { return };
    let key = ApiKey::new(key).unwrap();
    let cfg =
        ElevenLabsConfig::new(key.clone(), switchboard_cloud_voice::select::CloudConfig::default().elevenlabs_voice);
    let tts = ElevenLabsTts::new(cfg, Usage::default()).unwrap();
    tts.check().await.expect("the key is accepted");
    let said = "Your table for two is booked for Friday evening";
    let audio = said_by(&tts, said).await;
    assert!(audio.seconds() > 1.0, "{} s of speech", audio.seconds());
    let stt = ElevenLabsStt::new(ElevenLabsSttConfig::new(key), Usage::default()).unwrap();
    let heard = stt.transcribe(to_16k(&audio), SttOptions::default()).await.unwrap();
    assert_heard("ElevenLabs → ElevenLabs", said, &heard.text);
}

/// A spoken question to a voice-to-voice service that must call our tool
/// before answering: the tool call comes back, its result goes out, and the
/// answer comes as speech.
async fn converse(agent: &dyn VoiceAgent) {
    let setup = AgentSetup {
        instructions: "You answer the phone for a bakery. Before answering any question about opening hours, \
            call the tool opening_hours and answer only from its result. Reply in one short sentence."
            .into(),
        greeting: None,
        tools: vec![ToolSpec {
            name: "opening_hours".into(),
            description: "The bakery's opening hours for a day of the week.".into(),
            parameters: json!({"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}),
        }],
        language: Some("en".into()),
    };
    let mut link = agent.connect(setup).await.expect("the key is accepted and the conversation opens");
    let question = spoken("When do you open on Saturday?");
    let rate = agent.input_rate();
    let question = if rate == RATE { question } else { Resampler::convert(&question, rate).unwrap() };
    let mut samples = question.samples.clone();
    samples.extend(std::iter::repeat_n(0.0, rate as usize * 2));
    let audio = link.audio.clone();
    let feeder = tokio::spawn(async move {
        for chunk in samples.chunks(rate as usize / 50) {
            if audio.send(AudioFrame::new(rate, chunk.to_vec())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Silence after, so the service hears the end of the turn.
        loop {
            if audio.send(AudioFrame::new(rate, vec![0.0; rate as usize / 50])).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let (mut tool_called, mut heard_audio, mut said) = (false, 0.0, String::new());
    let outcome = tokio::time::timeout(Duration::from_secs(45), async {
        while let Some(e) = link.events.recv().await {
            match e {
                AgentEvent::ToolCall { call_id, name, .. } => {
                    assert_eq!(name, "opening_hours");
                    tool_called = true;
                    let output = json!({"hours": "Saturday: 7 in the morning to 1 in the afternoon"});
                    link.commands.send(AgentCommand::ToolResult { call_id, name, output }).await.unwrap();
                }
                AgentEvent::Audio(f) if tool_called => heard_audio += f.seconds(),
                AgentEvent::AgentText(t) => said.push_str(&t),
                AgentEvent::AgentDone if tool_called && heard_audio > 0.5 => return Ok(()),
                AgentEvent::Failed(e) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    })
    .await;
    feeder.abort();
    outcome.expect("the turn ends within 45 s").expect("the service did not fail");
    eprintln!("{} said {said:?} ({heard_audio:.1} s of audio)", agent.service());
    assert!(tool_called, "the service called our tool");
    assert!(heard_audio > 0.5, "and answered in speech");
}

#[tokio::test]
async fn real_gemini_live_calls_our_tool_and_answers_in_speech() {
    let Some(key) = key("GEMINI_API_KEY", "real_gemini_live_calls_our_tool_and_answers_in_speech") else { return };
    let agent = GeminiLive::new(GeminiConfig::new(ApiKey::new(key).unwrap()), Usage::default()).unwrap();
    agent.check().await.expect("the key is accepted");
    converse(&agent).await;
}

#[tokio::test]
async fn real_deepgram_voice_agent_calls_our_tool_and_answers_in_speech() {
    let Some(key) = key("DEEPGRAM_API_KEY", "real_deepgram_voice_agent_calls_our_tool_and_answers_in_speech") else {
        return;
    };
    let agent = DeepgramAgent::new(DeepgramAgentConfig::new(ApiKey::new(key).unwrap()), Usage::default()).unwrap();
    agent.check().await.expect("the key is accepted");
    converse(&agent).await;
}
