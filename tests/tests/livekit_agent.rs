//! The agent in a LiveKit room, against a real LiveKit server: the app
//! joins through the LiveKit media library (from PyPI's `livekit` wheel,
//! installed by `switchboard models install`), and test participants are
//! LiveKit's own Python SDK (`tests/livekit/participant.py`) publishing
//! espeak-ng speech. What the agent says in the room is recorded by a
//! participant and transcribed back with Whisper.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard_core::speech::{AudioFrame, SpeechToText, SttOptions};
use switchboard_tests::livekit::{LiveKitServer, Participant};
use switchboard_tests::speech::{resample, speak, with_silence, word_errors};
use switchboard_tests::{TestServer, config, eventually, expect_error};
use switchboard_voice::{Whisper, WhisperModel};

fn whisper() -> Whisper {
    let path = WhisperModel::TinyEn.path();
    assert!(path.is_file(), "the Whisper tiny.en model is missing (run switchboard models install)");
    Whisper::new(path, "tiny.en", 2)
}

async fn transcribe(audio: &AudioFrame) -> String {
    let a = resample(audio, 16_000);
    whisper().transcribe(a, SttOptions::default()).await.expect("transcribes").text.to_lowercase()
}

fn write_wav(path: &Path, audio: &AudioFrame) {
    std::fs::write(path, switchboard_voice::wav::encode(audio)).unwrap();
}

async fn server(lk: &LiveKitServer, dir: &Path) -> TestServer {
    let mut c = config(dir);
    c.livekit = lk.config();
    c.call.partial_every_ms = 0;
    TestServer::start(c).await
}

async fn token(s: &TestServer, room: &str, identity: &str, name: &str, role: &str) -> String {
    let body = json!({"room_name": room, "participant_identity": identity, "participant_name": name, "role": role});
    s.post_json("/api/tokens/generate", &body, 200).await["token"].as_str().unwrap().to_string()
}

async fn transcript(s: &TestServer, room: &str) -> Value {
    s.get_json(&format!("/api/rooms/{room}/transcript"), 200).await
}

async fn lines_of(s: &TestServer, room: &str, identity: &str) -> Vec<String> {
    let t = transcript(s, room).await;
    t["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["speaker"] == identity)
        .map(|l| l["text"].as_str().unwrap().to_lowercase())
        .collect()
}

/// Waits until the agent has stopped talking (its recording goes quiet).
async fn agent_turns(s: &TestServer, session: &str) -> Vec<Value> {
    let view = s.get_json(&format!("/api/sessions/{session}"), 200).await;
    view["turns"].as_array().unwrap().iter().filter(|t| t["role"] == "agent").cloned().collect()
}

/// A caller joins the room the agent is in: the call starts when the agent
/// hears their track (a session for them), and its greeting is stored and
/// has played out. Returns the caller and the session's id.
async fn caller_joins(
    s: &TestServer,
    lk: &LiveKitServer,
    room: &str,
    identity: &str,
    name: &str,
) -> (Participant, String) {
    let t = token(s, room, identity, name, "participant").await;
    let mut caller = Participant::join(&lk.url(), &t, identity);
    caller.wait_line(|l| l == "heard switchboard-agent", Duration::from_secs(20));
    let status = eventually(Duration::from_secs(20), || async {
        let st = s.get_json(&format!("/api/rooms/{room}/agent"), 200).await;
        st["session_id"].is_string().then_some(st)
    })
    .await;
    let session = status["session_id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(30), || async { (!agent_turns(s, &session).await.is_empty()).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    (caller, session)
}

#[tokio::test]
async fn the_agent_answers_a_caller_in_a_room_and_relays_a_supervisors_answer() {
    let lk = LiveKitServer::start();
    let dir = tempfile::tempdir().unwrap();
    let s = server(&lk, dir.path()).await;
    s.post_json(
        "/api/knowledge-base",
        &json!({"question": "What time do you open on Saturdays?", "answer": "On Saturdays we open at nine in the morning."}),
        201,
    )
    .await;
    let room = "shop-call-1";
    s.post_json("/api/rooms/create", &json!({"room_name": room}), 201).await;
    let status = s.post_json(&format!("/api/rooms/{room}/agent"), &json!({"mode": "agent"}), 201).await;
    assert_eq!((status["state"].as_str(), status["mode"].as_str()), (Some("in_room"), Some("agent")), "{status}");
    // A second join is refused while the agent is there.
    expect_error(
        s.post(&format!("/api/rooms/{room}/agent"), &json!({"mode": "agent"})).send().await.unwrap(),
        409,
        "conflict",
    )
    .await;

    let (mut ann, session) = caller_joins(&s, &lk, room, "caller-ann", "Ann").await;
    ann.save(dir.path(), "greeting.wav");

    let question = with_silence(&speak("What time do you open on Saturday?", "en-us", 165), 0.3, 0.5);
    let q_path = dir.path().join("question.wav");
    write_wav(&q_path, &question);
    let before = agent_turns(&s, &session).await.len();
    ann.play(&q_path);
    eventually(Duration::from_secs(60), || async { (agent_turns(&s, &session).await.len() > before).then_some(()) })
        .await;
    // The reply is stored as it starts; let it be heard to the end.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let reply = ann.save(dir.path(), "reply.wav");
    let said = transcribe(&reply).await;
    assert!(said.contains("saturday") && said.contains("morning"), "the reply heard in the room says: {said:?}");

    // The room's transcript names the caller by identity, and has the agent.
    let ann_lines = lines_of(&s, room, "caller-ann").await;
    assert!(ann_lines.iter().any(|l| l.contains("saturday")), "{ann_lines:?}");
    assert!(!lines_of(&s, room, "switchboard-agent").await.is_empty());
    let view = s.get_json(&format!("/api/sessions/{session}"), 200).await;
    assert_eq!(view["session"]["channel"], "livekit");
    assert_eq!(view["session"]["caller_name"], "Ann");

    // An unknown question opens a help request that says it came from a room;
    // the supervisor's answer is spoken into the room.
    let unknown = with_silence(&speak("Do you sell gift cards for dogs?", "en-us", 165), 0.3, 0.5);
    let u_path = dir.path().join("unknown.wav");
    write_wav(&u_path, &unknown);
    ann.play(&u_path);
    let request = eventually(Duration::from_secs(60), || async {
        let pending = s.get_json("/api/help-requests?status=pending", 200).await;
        pending.as_array().and_then(|a| a.first()).cloned()
    })
    .await;
    assert_eq!(request["channel"], "livekit", "{request}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    ann.save(dir.path(), "holding.wav");
    let id = request["id"].as_str().unwrap();
    s.post_json(
        &format!("/api/help-requests/{id}/response"),
        &json!({"answer": "Yes, we sell gift cards for any amount.", "supervisor": "Kim"}),
        200,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let relayed = transcribe(&ann.save(dir.path(), "relay.wav")).await;
    assert!(relayed.contains("gift card"), "the supervisor's answer was spoken into the room: {relayed:?}");

    // Ann leaves: her call ends, the agent stays until taken out.
    ann.quit();
    eventually(Duration::from_secs(20), || async {
        let v = s.get_json(&format!("/api/sessions/{session}"), 200).await;
        (v["session"]["status"] == "ended").then_some(())
    })
    .await;
    let left = s.delete(&format!("/api/rooms/{room}/agent")).send().await.unwrap();
    assert_eq!(left.status(), 200);
    let left: Value = left.json().await.unwrap();
    assert_eq!(left["state"], "left", "{left}");
    expect_error(s.delete(&format!("/api/rooms/{room}/agent")).send().await.unwrap(), 409, "conflict").await;
    s.stop().await;
}

#[tokio::test]
async fn interviewer_and_candidate_are_transcribed_apart_and_every_export_parses() {
    let lk = LiveKitServer::start();
    let dir = tempfile::tempdir().unwrap();
    let s = server(&lk, dir.path()).await;
    let room = "interview-9";
    s.post_json("/api/rooms/create", &json!({"room_name": room}), 201).await;
    let mut events = s.events().await;
    s.post_json(&format!("/api/rooms/{room}/agent"), &json!({"mode": "transcribe"}), 201).await;

    // A watcher of the live transcript (as the Interview screen is).
    let url = format!(
        "{}/api/rooms/{room}/transcript/live?token={}",
        s.base.replacen("http", "ws", 1),
        switchboard_tests::TOKEN
    );
    let (mut live, _) = tokio_tungstenite::connect_async(url).await.expect("the live transcript opens");
    let t1 = token(&s, room, "kim", "Kim Lee", "interviewer").await;
    let t2 = token(&s, room, "sam", "Sam Roe", "candidate").await;
    let mut kim = Participant::join(&lk.url(), &t1, "kim");
    let mut sam = Participant::join(&lk.url(), &t2, "sam");
    eventually(Duration::from_secs(20), || async {
        let st = s.get_json(&format!("/api/rooms/{room}/agent"), 200).await;
        (st["listening_to"].as_array().map_or(0, |a| a.len()) == 2).then_some(())
    })
    .await;

    // They speak at the same time, different sentences.
    let k = with_silence(&speak("What time do you open on Saturday morning?", "en-us", 160), 0.2, 0.2);
    let m = with_silence(&speak("I would like to book a haircut for next Friday.", "en-us", 150), 0.2, 0.2);
    let k2 = with_silence(&speak("Could you tell me your address please?", "en-us", 160), 0.2, 0.2);
    let m2 = with_silence(&speak("Do you sell gift cards?", "en-us", 150), 0.2, 0.2);
    for (p, name, a) in [(&mut kim, "k1", &k), (&mut sam, "m1", &m)] {
        let path = dir.path().join(format!("{name}.wav"));
        write_wav(&path, a);
        p.play(&path);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (p, name, a) in [(&mut kim, "k2", &k2), (&mut sam, "m2", &m2)] {
        let path = dir.path().join(format!("{name}.wav"));
        write_wav(&path, a);
        p.play(&path);
    }
    let waited = Instant::now();
    loop {
        let (a, b) = (lines_of(&s, room, "kim").await, lines_of(&s, room, "sam").await);
        if a.len() >= 2 && b.len() >= 2 {
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(90), "after 90 s: kim {a:?}, sam {b:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let kim_said = lines_of(&s, room, "kim").await.join(" ");
    let sam_said = lines_of(&s, room, "sam").await.join(" ");
    // Attribution: each speaker's lines match their own sentences far better
    // than the other's (Whisper tiny mishears a word or two of espeak-ng).
    let (kim_ref, sam_ref) = (
        "What time do you open on Saturday morning? Could you tell me your address please?",
        "I would like to book a haircut for next Friday. Do you sell gift cards?",
    );
    let wer = |r: &str, h: &str| {
        let (e, n) = word_errors(r, h);
        e as f64 / n as f64
    };
    println!("kim: {kim_said:?}\nsam: {sam_said:?}");
    assert!(wer(kim_ref, &kim_said) < 0.35 && wer(sam_ref, &sam_said) < 0.35, "kim {kim_said:?}, sam {sam_said:?}");
    assert!(wer(sam_ref, &kim_said) > 0.7 && wer(kim_ref, &sam_said) > 0.7, "no line is given to the wrong speaker");
    let t = transcript(&s, room).await;
    let roles: Vec<(String, String)> = t["speakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sp| (sp["identity"].as_str().unwrap().to_string(), sp["role"].as_str().unwrap().to_string()))
        .collect();
    assert!(
        roles.contains(&("kim".into(), "interviewer".into())) && roles.contains(&("sam".into(), "candidate".into())),
        "{roles:?}"
    );

    // The watcher saw the snapshot, then each line as it was made, with the
    // speaker's name and the line's latency.
    let mut frames = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(500), live.next()).await {
        if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) {
            frames.push(v);
        }
    }
    assert_eq!(frames.first().map(|f| f["type"].clone()), Some(json!("snapshot")));
    let live_lines: Vec<&Value> = frames.iter().filter(|f| f["type"] == "line").collect();
    assert!(live_lines.len() >= 4, "{frames:?}");
    for name in ["Kim Lee", "Sam Roe"] {
        assert!(live_lines.iter().any(|f| f["speaker_name"] == name && f["latency_ms"].as_u64().is_some()), "{name}");
    }
    // Renaming relabels the transcript; bad names and unknown speakers are refused.
    s.put(&format!("/api/rooms/{room}/speakers/sam"), &json!({"name": "Samantha Roe"})).send().await.unwrap();
    expect_error(
        s.put(&format!("/api/rooms/{room}/speakers/nobody"), &json!({"name": "X"})).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    expect_error(
        s.put(&format!("/api/rooms/{room}/speakers/sam"), &json!({"name": "  "})).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;

    kim.quit();
    sam.quit();
    s.delete(&format!("/api/rooms/{room}/agent")).send().await.unwrap();
    // Lines were 4+ across a speaker change: at least one window was emitted,
    // and leaving flushed the rest.
    let window = events.next_of("interview.window").await;
    assert_eq!(window["room"], room);
    assert!(window["window"]["lines"].as_array().is_some_and(|l| !l.is_empty()), "{window}");

    let lines = transcript(&s, room).await["lines"].as_array().unwrap().clone();
    let export = |fmt: &'static str| {
        let s = &s;
        async move {
            let r = s.get(&format!("/api/rooms/{room}/transcript/export?format={fmt}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{fmt}");
            r.text().await.unwrap()
        }
    };
    // WebVTT, parsed by a WebVTT parser: one cue per line, the right voice.
    let vtt = export("vtt").await;
    let parsed = webvtt_parser::Vtt::parse(&vtt).expect("the VTT export parses");
    assert_eq!(parsed.cues.len(), lines.len());
    let srt = export("srt").await;
    let subs = srtlib::Subtitles::parse_from_str(srt.clone()).expect("the SRT export parses");
    assert_eq!(subs.len(), lines.len());
    for (cue, line) in subs.to_vec().iter().zip(&lines) {
        let name = if line["speaker"] == "sam" { "Samantha Roe" } else { "Kim Lee" };
        assert_eq!(cue.text.trim_end_matches('\n'), format!("{name}: {}", line["text"].as_str().unwrap()));
        let (h, m, sec, milli) = cue.start_time.get();
        let ms = u64::from(h) * 3_600_000 + u64::from(m) * 60_000 + u64::from(sec) * 1000 + u64::from(milli);
        assert_eq!(ms, line["start_ms"].as_u64().unwrap());
    }
    let json: Value = serde_json::from_str(&export("json").await).expect("the JSON export parses");
    assert_eq!(json["lines"].as_array().unwrap().len(), lines.len());
    assert!(export("txt").await.contains("Samantha Roe: "));
    assert!(export("md").await.contains("**Samantha Roe**"));
    expect_error(
        s.get(&format!("/api/rooms/{room}/transcript/export?format=doc")).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_missing_library_a_wrong_secret_and_a_stopped_server_are_clear_errors() {
    let mut lk = LiveKitServer::start();
    // The media library is missing.
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.livekit = lk.config();
    c.livekit_library = Some(dir.path().join("nowhere/liblivekit_ffi.so"));
    let s = TestServer::start(c).await;
    let e = expect_error(
        s.post("/api/rooms/nolib/agent", &json!({"mode": "transcribe"})).send().await.unwrap(),
        503,
        "unavailable",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("models install livekit-ffi"), "{e}");
    s.get_json("/health", 200).await;
    s.stop().await;

    // A wrong secret: the server refuses the agent's token.
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.livekit = lk.config();
    c.livekit.api_secret = Some("not-the-secret-0123456789abcdef".into());
    let s = TestServer::start(c).await;
    let e = expect_error(
        s.post("/api/rooms/badkey/agent", &json!({"mode": "transcribe"})).send().await.unwrap(),
        503,
        "unavailable",
    )
    .await;
    assert!(!e["message"].as_str().unwrap().contains("not-the-secret"), "{e}");
    let st = s.get_json("/api/rooms/badkey/agent", 200).await;
    assert_eq!(st["state"], "failed", "{st}");
    s.stop().await;

    // Bad input.
    let dir = tempfile::tempdir().unwrap();
    let s = server(&lk, dir.path()).await;
    expect_error(
        s.post("/api/rooms/bad%20name/agent", &json!({"mode": "agent"})).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    expect_error(
        s.post("/api/rooms/ok/agent", &json!({"mode": "dance"})).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    expect_error(s.get("/api/rooms/never/transcript").send().await.unwrap(), 404, "not_found").await;
    expect_error(s.delete("/api/rooms/never/agent").send().await.unwrap(), 409, "conflict").await;

    // The server stops while the agent is in a room: the agent's state says
    // so, and the app goes on.
    s.post_json("/api/rooms/create", &json!({"room_name": "doomed"}), 201).await;
    s.post_json("/api/rooms/doomed/agent", &json!({"mode": "transcribe"}), 201).await;
    // A participant whose track carries only noise: whatever the recogniser
    // makes of it is theirs alone, and the room goes on for the others.
    let t = token(&s, "doomed", "hiss", "Hiss", "participant").await;
    let mut hiss = Participant::join(&lk.url(), &t, "hiss");
    let mut seed = 0x2545_f491_u32;
    let noise: Vec<f32> = (0..16_000 * 3)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32 - 0.5) * 0.6
        })
        .collect();
    let path = dir.path().join("noise.wav");
    write_wav(&path, &AudioFrame::new(16_000, noise));
    hiss.play(&path);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(s.get_json("/api/rooms/doomed/agent", 200).await["state"], "in_room");

    // A participant who leaves mid-sentence: what they said so far is kept.
    let t = token(&s, "doomed", "lea", "Lea", "candidate").await;
    let mut lea = Participant::join(&lk.url(), &t, "lea");
    eventually(Duration::from_secs(20), || async {
        let st = s.get_json("/api/rooms/doomed/agent", 200).await;
        st["listening_to"].as_array().is_some_and(|a| a.iter().any(|i| i == "lea")).then_some(())
    })
    .await;
    let long = speak(
        "I have worked in customer service for seven years and before that I studied accounting at the city college",
        "en-us",
        150,
    );
    let path = dir.path().join("long.wav");
    write_wav(&path, &long);
    lea.play(&path);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    lea.quit();
    let cut = eventually(Duration::from_secs(30), || async {
        let l = lines_of(&s, "doomed", "lea").await;
        (!l.is_empty()).then_some(l)
    })
    .await;
    println!("cut off: {cut:?}");
    assert!(cut.join(" ").contains("worked"), "{cut:?}");
    let t = transcript(&s, "doomed").await;
    for l in t["lines"].as_array().unwrap() {
        assert!(l["speaker"] == "lea" || l["speaker"] == "hiss", "{l}");
    }
    hiss.quit();
    lk.stop();
    let st = eventually(Duration::from_secs(60), || async {
        let st = s.get_json("/api/rooms/doomed/agent", 200).await;
        (st["state"] != "in_room").then_some(st)
    })
    .await;
    assert_eq!(st["state"], "failed", "{st}");
    assert!(st["error"].as_str().is_some_and(|e| !e.is_empty()), "{st}");
    s.get_json("/health", 200).await;
    s.get_json("/api/rooms/doomed/transcript", 200).await;
    s.stop().await;
}

#[tokio::test]
async fn a_voice_to_voice_service_answers_a_caller_in_a_room_with_our_tools() {
    use switchboard_tests::fake_cloud::{FakeDeepgram, Script};
    let lk = LiveKitServer::start();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start("dg-room-key-0123", Script::new("What time do you open on Saturday?")).await;
    let mut c = config(dir.path());
    c.livekit = lk.config();
    c.call.partial_every_ms = 0;
    c.cloud.deepgram_agent_url = fake.url.parse().unwrap();
    let s = TestServer::start(c).await;
    let choice =
        json!({"stt": "offline", "tts": "offline", "voice_agent": "deepgram", "api_key": {"deepgram": fake.key}});
    s.put("/api/settings/speech", &choice).send().await.unwrap().error_for_status().unwrap();
    s.post_json(
        "/api/knowledge-base",
        &json!({"question": "What time do you open on Saturdays?", "answer": "On Saturdays we open at nine in the morning."}),
        201,
    )
    .await;
    let room = "service-call-1";
    s.post_json("/api/rooms/create", &json!({"room_name": room}), 201).await;
    s.post_json(&format!("/api/rooms/{room}/agent"), &json!({"mode": "agent"}), 201).await;
    // The service's greeting (a tone from the stand-in) plays, then the question.
    let (mut bo, session) = caller_joins(&s, &lk, room, "caller-bo", "Bo").await;
    bo.save(dir.path(), "greeting.wav");
    let question = with_silence(&speak("What time do you open on Saturday?", "en-us", 165), 0.3, 0.5);
    let q_path = dir.path().join("question.wav");
    write_wav(&q_path, &question);
    bo.play(&q_path);
    eventually(Duration::from_secs(60), || async { (agent_turns(&s, &session).await.len() > 1).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reply = bo.save(dir.path(), "reply.wav");
    assert!(reply.rms() > 0.01, "the service's answer was heard in the room (rms {})", reply.rms());

    let view = s.get_json(&format!("/api/sessions/{session}"), 200).await;
    let turns = view["turns"].as_array().unwrap();
    let caller = turns.iter().find(|t| t["role"] == "caller").expect("the caller's words");
    assert_eq!(caller["text"], "What time do you open on Saturday?");
    assert!(turns.iter().any(|t| t["tool"]["name"] == "search_knowledge_base"), "our tool ran: {view}");
    let answer = turns.iter().rev().find(|t| t["role"] == "agent").unwrap();
    assert!(answer["text"].as_str().unwrap().contains("nine in the morning"), "{answer}");
    bo.quit();
    eventually(Duration::from_secs(20), || async {
        let v = s.get_json(&format!("/api/sessions/{session}"), 200).await;
        (v["session"]["status"] == "ended").then_some(v)
    })
    .await;
    let usage = eventually(Duration::from_secs(10), || async {
        let v = s.get_json(&format!("/api/sessions/{session}"), 200).await;
        v["session"]["usage"]["deepgram"]["sent_seconds"].as_f64().filter(|s| *s > 1.0)
    })
    .await;
    assert!(usage > 1.0);
    s.stop().await;
}
