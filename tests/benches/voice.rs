//! Voice latency on the offline engines, 2 cores, through the real server's
//! browser call (`WS /api/voice/stream`), audio sent at real time:
//!
//! - end of the caller's speech (last voiced frame) → first agent audio
//!   frame sent, p50/p95, for a learned answer (no model) and for a
//!   knowledge-base answer through the embedded model, with each stage's
//!   share (from the turn's stored timings);
//! - pipeline overhead per turn without engine compute (instant fake
//!   speech engines, learned answer);
//! - resampler throughput (× real time) and the real-time factors of
//!   Whisper tiny.en and espeak-ng.
//!
//! Prints figures; asserts nothing. `make bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use switchboard_call::resample::Resampler;
use switchboard_core::speech::{
    AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, SpeechToText, SttEvent, SttOptions, SttStream,
    TextToSpeech, Transcript,
};
use switchboard_tests::speech::{VoiceCall, speak, with_silence};
use switchboard_tests::{TOKEN, TestServer, config, model};
use switchboard_voice::{Espeak, Whisper, WhisperModel};
use tokio::sync::mpsc;

const LEARNED: [(&str, &str, &str); 4] = [
    (
        "What time do you open on Saturdays?",
        "On Saturdays we open at nine in the morning.",
        "What time do you open on Saturday?",
    ),
    ("Do you sell gift cards?", "Yes, we sell gift cards at the front desk.", "Do you sell gift cards?"),
    ("Where can I park?", "There is free parking behind the building.", "Where can I park?"),
    ("Do you take walk-ins?", "Yes, walk-ins are welcome when a chair is free.", "Do you take walk ins?"),
];

/// Questions the demo business's knowledge answers, worded unlike any
/// stored question, so the model answers from the evidence (the decisions
/// printed with the figures say how each was answered).
const KB_QUESTIONS: [&str; 4] = [
    "Which evening are you open late?",
    "Do you take Google Pay?",
    "Who should I see about highlights?",
    "What does it cost to get a beard tidied up?",
];

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn report(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<44} n={:<3} p50 {:>7.0} ms  p95 {:>7.0} ms  max {:>7.0} ms",
        h.len(),
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.95)),
        ms(h.max())
    );
}

struct Stages {
    e2e: Histogram<u64>,
    /// Turns whose transcript was made during the caller's pause.
    preempted: usize,
    marks: Vec<(&'static str, Histogram<u64>)>,
}

impl Stages {
    fn new() -> Self {
        let marks = [
            "end_of_turn_ms",
            "transcript_final_ms",
            "retrieval_ms",
            "first_token_ms",
            "first_audio_ms",
            "playback_start_ms",
        ]
        .into_iter()
        .map(|m| (m, Histogram::new(3).unwrap()))
        .collect();
        Stages { e2e: Histogram::new(3).unwrap(), preempted: 0, marks }
    }

    fn record(&mut self, t: &Value) {
        let Some(play) = t["playback_start_ms"].as_f64() else { return };
        self.e2e.record((play * 1000.0) as u64).unwrap();
        if t["preempted"] == true {
            self.preempted += 1;
        }
        for (name, h) in &mut self.marks {
            if let Some(v) = t[*name].as_f64() {
                h.record((v * 1000.0) as u64).unwrap();
            }
        }
    }

    fn print(&self, title: &str) {
        report(&format!("{title}: speech end → first audio sent"), &self.e2e);
        // Each mark's median, and the stage it closes as a share of the whole.
        let total = ms(self.e2e.value_at_quantile(0.5)).max(1.0);
        let mut prev = 0.0;
        let mut line = String::from("    stages (p50 of each mark):");
        for (name, h) in &self.marks {
            if h.is_empty() {
                continue;
            }
            let at = ms(h.value_at_quantile(0.5));
            line.push_str(&format!(
                " {}={:.0} ms ({:.0}%)",
                name.trim_end_matches("_ms"),
                at,
                (at - prev).max(0.0) / total * 100.0
            ));
            prev = at.max(prev);
        }
        println!("{line}");
        println!("    transcripts made in the caller's pause: {}/{}", self.preempted, self.e2e.len());
    }
}

async fn one_turn(call: &mut VoiceCall, audio: &AudioFrame) -> Option<Value> {
    let mark = call.events.len();
    call.send_audio(audio, 1.0).await;
    let latency = call.wait_type(mark, "latency", Duration::from_secs(120)).await;
    call.wait_type(mark, "audio_end", Duration::from_secs(120)).await;
    Some(latency["timings"].clone())
}

async fn run_turns(s: &TestServer, questions: &[AudioFrame], rounds: usize, stages: &mut Stages) {
    let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
    let session = call.session_id.clone();
    call.wait_type(0, "audio_end", Duration::from_secs(60)).await;
    for r in 0..rounds {
        let q = &questions[r % questions.len()];
        if let Some(t) = one_turn(&mut call, q).await {
            stages.record(&t);
        }
    }
    call.hang_up().await;
    // How the agent answered: the figures mean little without it.
    let view = s.get_json(&format!("/api/sessions/{session}"), 200).await;
    let mut decisions = std::collections::BTreeMap::<String, usize>::new();
    for t in view["turns"].as_array().unwrap().iter().filter(|t| t["role"] == "agent") {
        *decisions.entry(t["grounding"]["decision"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    println!("    decisions: {decisions:?}");
}

/// Sentences a caller might pause in the middle of (the pause goes where
/// the `|` is), for the end-of-turn thresholds.
const PAUSED: [&str; 10] = [
    "I would like to book a haircut | on Friday afternoon.",
    "Can you tell me | how much a colour treatment costs?",
    "My name is Sarah and | my number is five five five.",
    "Do you have anything free | later this week?",
    "I was wondering whether | you sell gift cards.",
    "Could I move my appointment | to next Tuesday?",
    "Is there somewhere nearby | where I can park?",
    "I need to cancel, | something came up at work.",
    "What time do you | close on Saturdays?",
    "We are three people, | can we come together?",
];

/// End-of-turn decisions against mid-sentence pauses: how often a caller
/// who pauses is cut off, and how long after the last word each finished
/// turn is decided, in audio time. Voice activity alone at several silence
/// thresholds (earshot and Silero), then with the Smart Turn model asked
/// after a short pause.
fn silence_thresholds() {
    use switchboard_call::frontend::{FrontEnd, FrontEvent};
    use switchboard_core::speech::{TurnDetector, VadEngine};
    let pauses = [0.25, 0.35, 0.45, 0.55, 0.7];
    let clips: Vec<(AudioFrame, AudioFrame)> = PAUSED
        .iter()
        .map(|s| {
            let (a, b) = s.split_once('|').unwrap();
            (speak(a.trim(), "en-us", 165), speak(b.trim(), "en-us", 165))
        })
        .collect();
    let engines =
        switchboard_voice::offline_engines(&switchboard_voice::VoiceConfig { turn_model: true, ..Default::default() });
    let silero: Arc<dyn VadEngine> = engines.vad.clone();
    let earshot: Arc<dyn VadEngine> = Arc::new(switchboard_voice::Earshot);
    let turn: Option<Arc<dyn TurnDetector>> = engines.turn.clone();
    println!("end of turn vs mid-sentence pauses of {pauses:?} s ({} sentences each):", clips.len());
    let measure = |label: String,
                   vad: &Arc<dyn VadEngine>,
                   turn: Option<Arc<dyn TurnDetector>>,
                   config: switchboard_call::CallConfig| {
        let mut cut = 0;
        let mut total = 0;
        let mut delays = Vec::new();
        for (a, b) in &clips {
            for pause in pauses {
                let audio = with_silence(&switchboard_tests::speech::join(a, pause, b), 0.3, 2.0);
                let audio = Resampler::convert(&audio, 16_000).unwrap();
                let mut fe = FrontEnd::new(
                    config.clone(),
                    vad.detector(),
                    turn.clone(),
                    Arc::new(std::sync::atomic::AtomicBool::new(false)),
                );
                let mut events = Vec::new();
                let mut ends = Vec::new();
                for (i, chunk) in audio.samples.chunks(320).enumerate() {
                    fe.audio(AudioFrame::new(16_000, chunk.to_vec()), &mut events).unwrap();
                    for e in events.drain(..) {
                        if matches!(e, FrontEvent::SpeechEnded { .. }) {
                            ends.push((i + 1) as f64 * 0.02);
                        }
                    }
                }
                total += 1;
                if ends.len() > 1 {
                    cut += 1;
                }
                // The last voiced audio ends 2 s before the clip does.
                if let Some(end) = ends.last() {
                    delays.push((end - (audio.seconds() - 2.0)) * 1000.0);
                }
            }
        }
        delays.sort_by(f64::total_cmp);
        let at = |q: f64| delays.get(((delays.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
        println!(
            "  {label:<44} cut off mid-sentence {cut:>2}/{total} ({:>3.0}%), last word → decision p50 {:>4.0} ms p95 {:>4.0} ms",
            cut as f64 / total as f64 * 100.0,
            at(0.5),
            at(0.95)
        );
    };
    for (name, vad) in [("earshot", &earshot), ("silero", &silero)] {
        for silence in [300.0, 450.0, 600.0, 800.0] {
            let config = switchboard_call::CallConfig { silence_ms: silence, ..Default::default() };
            measure(format!("{name}, silence {silence:.0} ms"), vad, None, config);
        }
    }
    let Some(turn) = turn else {
        println!("  Smart Turn: skipped, not installed (switchboard models install)");
        return;
    };
    for (name, vad) in [("earshot", &earshot), ("silero", &silero)] {
        for (check, longest) in [(200.0, 1200.0), (300.0, 1200.0), (200.0, 1600.0)] {
            let config =
                switchboard_call::CallConfig { turn_check_ms: check, turn_silence_ms: longest, ..Default::default() };
            measure(
                format!("{name} + Smart Turn at {check:.0} ms, else {longest:.0} ms"),
                vad,
                Some(turn.clone()),
                config,
            );
        }
    }
}

/// What the end-of-turn model says after 200 ms of silence, for the first
/// half of each paused sentence (unfinished) and for the whole sentence.
fn turn_probabilities() {
    let engines =
        switchboard_voice::offline_engines(&switchboard_voice::VoiceConfig { turn_model: true, ..Default::default() });
    let Some(turn) = engines.turn else {
        println!("Smart Turn: not installed");
        return;
    };
    let p = |text: &str| {
        let a = Resampler::convert(&with_silence(&speak(text, "en-us", 165), 0.3, 0.2), 16_000).unwrap();
        turn.complete_probability(&a.samples).unwrap()
    };
    for s in PAUSED {
        let (a, _) = s.split_once('|').unwrap();
        let whole = s.replace(" |", "");
        println!("  unfinished {:.3} {:?}   finished {:.3} {:?}", p(a.trim()), a.trim(), p(&whole), whole);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var("VOICE_BENCH_ONLY").as_deref() == Ok("turn") {
        turn_probabilities();
        return;
    }
    if std::env::var("VOICE_BENCH_ONLY").as_deref() == Ok("silence") {
        silence_thresholds();
        return;
    }
    let turns: usize = std::env::var("VOICE_BENCH_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);

    // Engines alone.
    let whisper = Whisper::new(WhisperModel::TinyEn.path(), "tiny.en", 2);
    let tts = Espeak::new(175);
    let mut stt_secs = 0.0;
    let mut tts_secs = 0.0;
    let mut audio_secs = 0.0;
    let mut spoken_secs = 0.0;
    for (_, a, q) in LEARNED {
        let audio = with_silence(&speak(q, "en-us", 165), 0.2, 0.2);
        let a16 = Resampler::convert(&audio, 16_000).unwrap();
        let _ = whisper.transcribe(a16.clone(), SttOptions::default()).await; // load
        let t = Instant::now();
        whisper.transcribe(a16, SttOptions::default()).await.unwrap();
        stt_secs += t.elapsed().as_secs_f64();
        audio_secs += audio.seconds();
        let t = Instant::now();
        let out = tts.synthesize(a, "en").await.unwrap();
        tts_secs += t.elapsed().as_secs_f64();
        spoken_secs += out.seconds();
    }
    println!(
        "Whisper tiny.en real-time factor {:.3} (2 threads); espeak-ng real-time factor {:.3}",
        stt_secs / audio_secs,
        tts_secs / spoken_secs
    );

    let one_minute = AudioFrame::new(48_000, (0..48_000 * 60).map(|i| (i as f32 / 20.0).sin() * 0.3).collect());
    let t = Instant::now();
    let mut r = Resampler::new(48_000, 16_000).unwrap();
    for chunk in one_minute.samples.chunks(960) {
        std::hint::black_box(r.push(chunk));
    }
    println!("resampler 48 kHz → 16 kHz in 20 ms frames: {:.0} × real time", 60.0 / t.elapsed().as_secs_f64());
    silence_thresholds();

    let learned_audio: Vec<AudioFrame> =
        LEARNED.iter().map(|(_, _, q)| with_silence(&speak(q, "en-us", 165), 0.3, 1.2)).collect();

    // Pipeline overhead: instant fake engines, learned answers.
    if std::env::var("VOICE_BENCH_ONLY").is_err() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.call.partial_every_ms = 0;
        let fake = Arc::new(FakeStt::default());
        c.speech_override = Some(switchboard_call::CallEngines {
            stt: fake.clone(),
            tts: Arc::new(FakeTts),
            vad: Arc::new(switchboard_voice::Earshot),
            turn: None,
        });
        let s = TestServer::start(c).await;
        for (q, a, _) in LEARNED {
            s.post_json("/api/knowledge-base", &json!({"question": q, "answer": a}), 201).await;
        }
        let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
        call.wait_type(0, "audio_end", Duration::from_secs(60)).await;
        let mut whole = Histogram::<u64>::new(3).unwrap();
        let mut own = Histogram::<u64>::new(3).unwrap();
        let mut session = Histogram::<u64>::new(3).unwrap();
        for r in 0..turns {
            *fake.next.lock().unwrap() = LEARNED[r % LEARNED.len()].2.to_string();
            let Some(t) = one_turn(&mut call, &learned_audio[r % LEARNED.len()]).await else { continue };
            let get = |k: &str| t[k].as_f64();
            if let (Some(eot), Some(fin), Some(token), Some(play)) =
                (get("end_of_turn_ms"), get("transcript_final_ms"), get("first_token_ms"), get("playback_start_ms"))
            {
                // The loop's own share: decision → transcript (a channel hop
                // with the fake recogniser) and first token → audio sent
                // (clause split, fake synthesis, pacing). Between them is the
                // session's turn: storing the caller's turn, retrieval with
                // a query embedding, the learned answer.
                whole.record(((play - eot).max(0.0) * 1000.0) as u64).unwrap();
                own.record((((fin - eot) + (play - token)).max(0.0) * 1000.0) as u64).unwrap();
                session.record(((token - fin).max(0.0) * 1000.0) as u64).unwrap();
            }
        }
        call.hang_up().await;
        report("fake engines: decision → first audio sent", &whole);
        report("  of which the call loop's own overhead", &own);
        report("  of which the session turn (store, retrieve)", &session);
        s.stop().await;
    }

    // Learned answers on the offline engines.
    let dir = tempfile::tempdir().unwrap();
    let llm = model::embedded().await;
    let mut c = config(dir.path());
    c.demo = true;
    if let Some(t) = std::env::var("VOICE_BENCH_STT_THREADS").ok().and_then(|v| v.parse().ok()) {
        c.voice.stt_threads = t;
    }
    if let Some((m, _)) = &llm {
        c.model_override = Some(m.clone());
    }
    let s = TestServer::start(c).await;
    for (q, a, _) in LEARNED {
        s.post_json("/api/knowledge-base", &json!({"question": q, "answer": a}), 201).await;
    }
    let only = std::env::var("VOICE_BENCH_ONLY").unwrap_or_default();
    if only != "kb" {
        let mut learned = Stages::new();
        run_turns(&s, &learned_audio, turns, &mut learned).await;
        learned.print("learned answer (offline engines)");
    }

    if only == "learned" {
    } else if llm.is_none() {
        println!("knowledge-base answer: skipped, the embedded model is not installed (switchboard models install)");
    } else {
        let kb_audio: Vec<AudioFrame> =
            KB_QUESTIONS.iter().map(|q| with_silence(&speak(q, "en-us", 165), 0.3, 1.2)).collect();
        let mut kb = Stages::new();
        run_turns(&s, &kb_audio, turns, &mut kb).await;
        kb.print("knowledge-base answer (embedded model)");
    }
    s.stop().await;
}

fn fake_info() -> SpeechEngineInfo {
    SpeechEngineInfo { engine: "fake".into(), model: None, ready: true, missing: None, languages: vec!["en".into()] }
}

/// Says whatever it is told to, instantly.
#[derive(Default)]
struct FakeStt {
    next: std::sync::Mutex<String>,
}

#[async_trait]
impl SpeechToText for FakeStt {
    fn info(&self) -> SpeechEngineInfo {
        fake_info()
    }
    fn rate(&self) -> u32 {
        16_000
    }
    async fn stream(&self, _o: SttOptions) -> Result<SttStream, SpeechError> {
        let (atx, mut arx) = mpsc::channel::<AudioFrame>(1024);
        let (etx, erx) = mpsc::channel(4);
        let text = self.next.lock().unwrap().clone();
        tokio::spawn(async move {
            while arx.recv().await.is_some() {}
            let t = Transcript {
                text,
                is_final: true,
                confidence: Some(1.0),
                language: Some("en".into()),
                compute_ms: 0.0,
            };
            let _ = etx.send(SttEvent::Final(t)).await;
        });
        Ok(SttStream { audio: atx, events: erx })
    }
}

/// A short tone per clause, instantly.
struct FakeTts;

#[async_trait]
impl TextToSpeech for FakeTts {
    fn info(&self) -> SpeechEngineInfo {
        fake_info()
    }
    fn supports(&self, _l: &str) -> bool {
        true
    }
    async fn speak(&self, _t: &str, _l: &str) -> Result<AudioStream, SpeechError> {
        let (tx, rx) = mpsc::channel(2);
        let _ = tx.try_send(Ok(AudioFrame::new(16_000, vec![0.1; 3200])));
        Ok(rx)
    }
}
