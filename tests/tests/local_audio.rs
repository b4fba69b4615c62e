//! Test calls through the computer's own microphone and speaker (cpal on
//! ALSA), against virtual PulseAudio devices: `scripts/virtual-audio.sh`
//! starts them (`make test-audio` runs both variants). What is played into
//! `vmic_feed` is what the microphone hears; the speaker is recorded from
//! `vspeaker.monitor`. With `VIRTUAL_AUDIO_ECHO=1` the speaker also reaches
//! the microphone, as on a laptop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_core::speech::{SpeechToText, SttOptions};
use switchboard_tests::speech::{resample, speak, voiced_segments, with_silence};
use switchboard_tests::{TestServer, config};

fn ready() -> bool {
    std::env::var_os("PULSE_SERVER").is_some()
}

fn play_into_mic(audio: &switchboard_core::speech::AudioFrame, dir: &std::path::Path, name: &str) -> Child {
    let path = dir.join(name);
    std::fs::write(&path, switchboard_voice::wav::encode(audio)).unwrap();
    Command::new("paplay").args(["-d", "vmic_feed"]).arg(&path).spawn().expect("paplay")
}

fn record_speaker(path: &std::path::Path) -> Child {
    Command::new("parec")
        .args(["-d", "vspeaker.monitor", "--latency-msec=10", "--file-format=wav", "--rate=16000", "--channels=1"])
        .arg(path)
        .stderr(Stdio::null())
        .spawn()
        .expect("parec")
}

async fn turns(s: &TestServer, id: &str) -> Vec<Value> {
    s.get_json(&format!("/api/sessions/{id}"), 200).await["turns"].as_array().unwrap().clone()
}

async fn wait_turns(s: &TestServer, id: &str, limit: Duration, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let t = turns(s, id).await;
        if pred(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out; turns: {t:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn whisper() -> switchboard_voice::Whisper {
    switchboard_voice::Whisper::new(switchboard_voice::WhisperModel::TinyEn.path(), "tiny.en", 2)
}

#[tokio::test]
#[ignore = "needs virtual audio devices: scripts/virtual-audio.sh (make test-audio)"]
async fn a_test_call_through_the_microphone_and_speaker() {
    assert!(ready(), "run under scripts/virtual-audio.sh");
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.call.partial_every_ms = 0;
    let s = TestServer::start(c).await;
    s.post_json(
        "/api/knowledge-base",
        &json!({"question": "Do you sell gift cards?", "answer": "Yes, we sell gift cards at the front desk."}),
        201,
    )
    .await;

    let devices = s.get_json("/api/audio-devices", 200).await;
    assert!(devices.as_array().unwrap().iter().any(|d| d["direction"] == "input"), "{devices}");

    let recording = dir.path().join("speaker.wav");
    let mut rec = record_speaker(&recording);
    let started = s.post_json("/api/voice/local-call", &json!({}), 201).await;
    let id = started["session_id"].as_str().unwrap().to_string();
    // A second call at once is refused.
    let again = s.post("/api/voice/local-call", &json!({})).send().await.unwrap();
    assert_eq!(again.status(), 409);
    // The greeting plays, then the caller speaks.
    wait_turns(&s, &id, Duration::from_secs(20), |t| t.iter().any(|t| t["role"] == "agent")).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut p =
        play_into_mic(&with_silence(&speak("Do you sell gift cards?", "en-us", 160), 0.2, 0.5), dir.path(), "q.wav");
    let _ = p.wait();
    let t = wait_turns(&s, &id, Duration::from_secs(40), |t| {
        t.iter().any(|t| t["role"] == "agent" && t["timings"]["playback_start_ms"].as_f64().is_some())
    })
    .await;
    let caller = t.iter().find(|t| t["role"] == "caller").unwrap();
    assert!(caller["text"].as_str().unwrap().to_lowercase().contains("gift card"), "{caller}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let resp =
        s.client.delete(s.url("/api/voice/local-call")).bearer_auth(switchboard_tests::TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let _ = rec.kill();
    let _ = rec.wait();
    let view = s.get_json(&format!("/api/sessions/{id}"), 200).await;
    assert_eq!(view["session"]["status"], "ended");

    // What came out of the speaker says the answer.
    let bytes = std::fs::read(&recording).unwrap();
    // parec writes a streamed WAV (placeholder sizes).
    let audio = switchboard_voice::wav::decode_streamed(&bytes).expect("parec WAV");
    let w = whisper();
    let mut heard = String::new();
    let parts = voiced_segments(&audio, 0.6);
    let lengths: Vec<String> = parts.iter().map(|p| format!("{:.1} s", p.seconds())).collect();
    for part in parts {
        let text = w.transcribe(resample(&part, 16_000), SttOptions::default()).await.unwrap().text;
        heard.push_str(&text.to_lowercase());
        heard.push(' ');
    }
    assert!(
        heard.contains("front desk"),
        "the speaker said: {heard:?} (sounds of {lengths:?} in {:.1} s recorded)",
        audio.seconds()
    );
    s.stop().await;
}

#[tokio::test]
#[ignore = "needs virtual audio devices with the speaker looped into the microphone: VIRTUAL_AUDIO_ECHO=1 scripts/virtual-audio.sh"]
async fn the_agent_does_not_interrupt_itself_through_its_own_echo() {
    assert!(
        ready() && std::env::var("VIRTUAL_AUDIO_ECHO").as_deref() == Ok("1"),
        "run under VIRTUAL_AUDIO_ECHO=1 scripts/virtual-audio.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.call.partial_every_ms = 0;
    let s = TestServer::start(c).await;
    let long = "We have three parking spaces behind the building, and a public car park on Mill Lane two minutes away, \
                which is free after six in the evening and all day on Sundays.";
    s.post_json("/api/knowledge-base", &json!({"question": "Where can I park?", "answer": long}), 201).await;
    let started = s.post_json("/api/voice/local-call", &json!({}), 201).await;
    let id = started["session_id"].as_str().unwrap().to_string();
    wait_turns(&s, &id, Duration::from_secs(20), |t| t.iter().any(|t| t["role"] == "agent")).await;
    // The greeting echoes back; it must not become a caller turn.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut p = play_into_mic(&with_silence(&speak("Where can I park?", "en-us", 160), 0.2, 0.5), dir.path(), "q.wav");
    let _ = p.wait();
    let t = wait_turns(&s, &id, Duration::from_secs(60), |t| {
        t.iter().filter(|t| t["role"] == "agent").count() >= 2
            && t.iter()
                .rev()
                .find(|t| t["role"] == "agent")
                .is_some_and(|a| a["timings"]["playback_start_ms"].as_f64().is_some())
    })
    .await;
    // Let the whole reply play (and echo).
    tokio::time::sleep(Duration::from_secs(14)).await;
    let t2 = turns(&s, &id).await;
    let callers: Vec<&Value> = t2.iter().filter(|t| t["role"] == "caller").collect();
    assert_eq!(callers.len(), 1, "the echo made caller turns: {callers:#?}");
    let reply = t2.iter().rev().find(|t| t["role"] == "agent").unwrap();
    assert_eq!(reply["interrupted"], false, "the agent cut itself off: {reply}");
    assert_eq!(reply["text"].as_str().unwrap(), long);
    let _ = t;
    let resp =
        s.client.delete(s.url("/api/voice/local-call")).bearer_auth(switchboard_tests::TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    s.stop().await;
}
