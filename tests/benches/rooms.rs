//! LiveKit rooms on the offline engines, 2 cores, against a real LiveKit
//! server, with participants on LiveKit's Python SDK publishing espeak-ng
//! speech at real time:
//!
//! - end of a speaker's speech → their final transcript line, p50/p95, with
//!   1, 2, 4, 6 and 8 people speaking at once (and whether every line arrived:
//!   how many simultaneous speakers the machine transcribes in real time);
//! - a voice turn through a room (learned answers) against the same
//!   questions through the browser WebSocket: end of speech → first agent
//!   audio sent, from the turns' stored timings.
//!
//! Prints figures; asserts nothing. `make bench`.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use switchboard_tests::livekit::{LiveKitServer, Participant};
use switchboard_tests::speech::{VoiceCall, speak, with_silence};
use switchboard_tests::{TOKEN, TestServer, config};

const SENTENCES: [&str; 8] = [
    "What time do you open on Saturday morning?",
    "I would like to book a haircut for next Friday.",
    "Could you tell me your address please?",
    "Do you sell gift cards?",
    "Is there parking near your shop?",
    "How long does a wash and blow dry take?",
    "Can I pay by card when I arrive?",
    "Please call me back later today.",
];

const LEARNED: [(&str, &str); 3] = [
    ("What time do you open on Saturdays?", "On Saturdays we open at nine in the morning."),
    ("Do you sell gift cards?", "Yes, we sell gift cards at the front desk."),
    ("Where can I park?", "There is free parking behind the building."),
];
const ASKED: [&str; 3] = ["What time do you open on Saturday?", "Do you sell gift cards?", "Where can I park?"];

fn report(name: &str, h: &Histogram<u64>) {
    if h.is_empty() {
        println!("{name:<58} no samples");
        return;
    }
    println!(
        "{name:<58} n={:<3} p50 {:>6} ms  p95 {:>6} ms  max {:>6} ms",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.95),
        h.max()
    );
}

async fn token(s: &TestServer, room: &str, identity: &str, role: &str) -> String {
    let body = json!({"room_name": room, "participant_identity": identity, "participant_name": identity, "role": role});
    s.post_json("/api/tokens/generate", &body, 200).await["token"].as_str().unwrap().to_string()
}

fn wav(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let a = with_silence(&speak(text, "en-us", 160), 0.2, 1.6);
    let p = dir.join(name);
    std::fs::write(&p, switchboard_voice::wav::encode(&a)).unwrap();
    p
}

/// `n` people speak `per` sentences each, all at once; latency of each line.
async fn speakers(lk: &LiveKitServer, s: &TestServer, dir: &Path, n: usize, per: usize) {
    let room = format!("bench-speakers-{n}");
    s.post_json("/api/rooms/create", &json!({"room_name": room}), 201).await;
    s.post_json(&format!("/api/rooms/{room}/agent"), &json!({"mode": "transcribe"}), 201).await;
    let url = format!("{}/api/rooms/{room}/transcript/live?token={TOKEN}", s.base.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("the transcript socket opens");
    let mut people = Vec::new();
    for i in 0..n {
        let t = token(s, &room, &format!("speaker-{i}"), "participant").await;
        people.push(Participant::join(&lk.url(), &t, &format!("speaker-{i}")));
    }
    let listening = Instant::now();
    loop {
        let st = s.get_json(&format!("/api/rooms/{room}/agent"), 200).await;
        if st["listening_to"].as_array().map_or(0, |a| a.len()) == n || listening.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, p) in people.iter_mut().enumerate() {
        for k in 0..per {
            let text = SENTENCES[(i * 3 + k) % SENTENCES.len()];
            p.play(&wav(dir, &format!("s{n}-{i}-{k}.wav"), text));
        }
    }
    let mut h = Histogram::<u64>::new(3).unwrap();
    let mut firsts = Vec::new();
    let mut lasts = Vec::new();
    let want = n * per;
    let deadline = Instant::now() + Duration::from_secs(30 + 10 * per as u64);
    while (h.len() as usize) < want && Instant::now() < deadline {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await else { continue };
        let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or("")) else { continue };
        if v["type"] == "line"
            && let Some(l) = v["latency_ms"].as_u64()
        {
            h.record(l).unwrap();
            if h.len() as usize <= n {
                firsts.push(l);
            }
            lasts.push(l);
        }
    }
    let tail: Vec<u64> = lasts.iter().rev().take(n).copied().collect();
    let mean = |v: &[u64]| if v.is_empty() { 0.0 } else { v.iter().sum::<u64>() as f64 / v.len() as f64 };
    report(&format!("{n} speaker(s) at once: speech end → final line"), &h);
    println!(
        "    lines {}/{want}; first lines {:.0} ms, last lines {:.0} ms ({})",
        h.len(),
        mean(&firsts),
        mean(&tail),
        // Real time: every line arrived, and within two seconds of its speech
        // (a backlog shows as lines arriving ever later).
        if h.len() as usize == want && h.value_at_quantile(0.95) <= 2000 {
            "keeps up in real time"
        } else {
            "falls behind"
        }
    );
    for p in people {
        p.quit();
    }
    s.delete(&format!("/api/rooms/{room}/agent")).send().await.unwrap();
}

async fn room_turns(lk: &LiveKitServer, s: &TestServer, dir: &Path, rounds: usize) -> Histogram<u64> {
    let room = "bench-call";
    s.post_json("/api/rooms/create", &json!({"room_name": room}), 201).await;
    s.post_json(&format!("/api/rooms/{room}/agent"), &json!({"mode": "agent"}), 201).await;
    let t = token(s, room, "caller", "participant").await;
    let mut caller = Participant::join(&lk.url(), &t, "caller");
    let session = loop {
        let st = s.get_json(&format!("/api/rooms/{room}/agent"), 200).await;
        if let Some(id) = st["session_id"].as_str() {
            break id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let agent_turns = |v: &Value| v["turns"].as_array().unwrap().iter().filter(|t| t["role"] == "agent").count();
    tokio::time::sleep(Duration::from_secs(5)).await; // the greeting
    for r in 0..rounds {
        for (i, q) in ASKED.iter().enumerate() {
            let before = agent_turns(&s.get_json(&format!("/api/sessions/{session}"), 200).await);
            caller.play(&wav(dir, &format!("q{r}-{i}.wav"), q));
            let asked = Instant::now();
            while agent_turns(&s.get_json(&format!("/api/sessions/{session}"), 200).await) == before
                && asked.elapsed() < Duration::from_secs(30)
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await; // the reply plays out
        }
    }
    caller.quit();
    s.delete(&format!("/api/rooms/{room}/agent")).send().await.unwrap();
    timings(s, &session).await
}

async fn timings(s: &TestServer, session: &str) -> Histogram<u64> {
    let v = s.get_json(&format!("/api/sessions/{session}"), 200).await;
    let mut h = Histogram::<u64>::new(3).unwrap();
    for t in v["turns"].as_array().unwrap() {
        if let Some(p) = t["timings"]["playback_start_ms"].as_f64() {
            h.record(p as u64).unwrap();
        }
    }
    h
}

async fn browser_turns(s: &TestServer, rounds: usize) -> Histogram<u64> {
    let mut call = VoiceCall::connect(&s.base, TOKEN, 48_000, 48_000).await;
    call.wait_type(0, "audio_end", Duration::from_secs(30)).await;
    for _ in 0..rounds {
        for q in ASKED {
            let mark = call.events.len();
            call.send_audio(&with_silence(&speak(q, "en-us", 160), 0.2, 1.6), 1.0).await;
            call.wait_type(mark, "audio_end", Duration::from_secs(30)).await;
        }
    }
    let session = call.session_id.clone();
    call.hang_up().await;
    timings(s, &session).await
}

#[tokio::main]
async fn main() {
    let lk = LiveKitServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.livekit = lk.config();
    c.call.partial_every_ms = 0;
    let s = TestServer::start(c).await;
    for (q, a) in LEARNED {
        s.post_json("/api/knowledge-base", &json!({"question": q, "answer": a}), 201).await;
    }
    println!("LiveKit rooms, offline engines (Whisper tiny.en, Silero, espeak-ng), {} cores", num_cpus());
    for n in [1, 2, 4, 6, 8] {
        speakers(&lk, &s, dir.path(), n, 3).await;
    }
    let room = room_turns(&lk, &s, dir.path(), 2).await;
    let browser = browser_turns(&s, 2).await;
    report("voice turn through a room: speech end → first audio sent", &room);
    report("same questions, browser WebSocket", &browser);
    s.stop().await;
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
