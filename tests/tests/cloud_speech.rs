//! The app with cloud speech engines chosen, against a local stand-in for
//! Deepgram (`switchboard_tests::fake_cloud`): choosing an engine checks its
//! key (and never shows it), a browser call runs on the chosen engines and
//! keeps its audio seconds with its session, and a service failing mid-call
//! moves the call to the offline engines, said once in the transcript, with
//! the caller's words kept.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_tests::fake_cloud::{FakeDeepgram, Script};
use switchboard_tests::speech::{VoiceCall, speak, with_silence};
use switchboard_tests::{TOKEN, TestServer, config, expect};

const KEY: &str = "dg-key-for-the-fake-0123";

fn script(transcript: &str) -> Script {
    Script { transcript: transcript.into(), listen_fails_after: None, speak_fails: false }
}

async fn start(dir: &std::path::Path, fake: &FakeDeepgram) -> TestServer {
    let mut c = config(dir);
    c.call.partial_every_ms = 0;
    c.cloud.deepgram_url = fake.url.parse().unwrap();
    c.cloud.timeout_secs = 3.0;
    TestServer::start(c).await
}

async fn choose(s: &TestServer, body: Value) -> reqwest::Response {
    s.put("/api/settings/speech", &body).send().await.unwrap()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

fn key_state<'a>(view: &'a Value, service: &str) -> &'a Value {
    view["keys"].as_array().unwrap().iter().find(|k| k["service"] == service).unwrap()
}

#[tokio::test]
async fn choosing_a_cloud_engine_checks_its_key_at_once_and_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start(KEY, script("hello")).await;
    let s = start(dir.path(), &fake).await;

    let view = s.get_json("/api/settings/speech", 200).await;
    assert_eq!((view["stt"].as_str(), view["tts"].as_str()), (Some("offline"), Some("offline")), "{view}");
    assert_eq!(key_state(&view, "deepgram")["set"], false);

    // No key at all: refused before anything is saved.
    let r = choose(&s, json!({"stt": "deepgram", "tts": "offline"})).await;
    let body = expect(r, 422).await;
    assert!(message(&body).starts_with("api_key:"), "{body}");
    assert!(message(&body).contains("DEEPGRAM_API_KEY"), "{body}");

    // A wrong key: the service refuses it now, not in the first call.
    let connections = fake.seen().connections;
    let r = choose(&s, json!({"stt": "deepgram", "tts": "deepgram", "api_key": {"deepgram": "wrong-key"}})).await;
    let body = expect(r, 422).await;
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    assert!(message(&body).starts_with("api_key:"), "{body}");
    assert!(message(&body).contains("refused the API key"), "{body}");
    assert!(!body.to_string().contains("wrong-key"), "the key is not echoed: {body}");
    assert!(fake.seen().connections > connections, "the service was asked");
    assert_eq!(s.get_json("/api/settings/speech", 200).await["stt"], "offline", "nothing changed");

    // Bad input.
    for bad in [
        json!({"stt": "whisper", "tts": "offline"}),
        json!({"stt": "offline", "tts": "offline", "voice_agent": "siri"}),
        json!({"stt": "offline", "tts": "offline", "api_key": {"azure": "k"}}),
        json!({"stt": "offline", "tts": "offline", "api_key": {"deepgram": "two words"}}),
        json!({"stt": "offline"}),
    ] {
        let r = choose(&s, bad.clone()).await;
        assert_eq!(r.status().as_u16(), 422, "{bad}");
    }

    // The right key: checked, saved, in force, and shown only as "set".
    let r = choose(&s, json!({"stt": "deepgram", "tts": "deepgram", "api_key": {"deepgram": KEY}})).await;
    let view = expect(r, 200).await;
    assert_eq!((view["stt"].as_str(), view["tts"].as_str()), (Some("deepgram"), Some("deepgram")), "{view}");
    assert_eq!(key_state(&view, "deepgram")["set"], true);
    assert_eq!(key_state(&view, "deepgram")["from_environment"], false);
    assert!(!view.to_string().contains(KEY));
    let get = s.client.get(s.url("/api/settings/speech")).bearer_auth(TOKEN).send().await.unwrap();
    assert!(!get.text().await.unwrap().contains(KEY), "GET never carries the key");
    assert!(fake.seen().authorization.iter().all(|a| a.starts_with("Token ")), "the key went in Deepgram's header");
    let voice = s.get_json("/api/voice", 200).await;
    assert_eq!(voice["stt"]["engine"], "deepgram", "{voice}");

    // Saving again without a key keeps it (write-only field).
    let r = choose(&s, json!({"stt": "offline", "tts": "deepgram"})).await;
    assert_eq!(key_state(&expect(r, 200).await, "deepgram")["set"], true);

    // The audit log records the change, never the key.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("switchboard.sqlite").display()))
        .await
        .unwrap();
    let audit: Vec<(String,)> =
        sqlx::query_as("SELECT detail FROM audit_log WHERE entity = 'settings' AND entity_id = 'speech'")
            .fetch_all(&db)
            .await
            .unwrap();
    assert!(!audit.is_empty(), "the change is audited");
    assert!(audit.iter().all(|(d,)| !d.contains(KEY)), "{audit:?}");
    db.close().await;

    // A restart keeps the choice and the key.
    s.stop().await;
    let s = start(dir.path(), &fake).await;
    let view = s.get_json("/api/settings/speech", 200).await;
    assert_eq!((view["stt"].as_str(), view["tts"].as_str()), (Some("offline"), Some("deepgram")), "{view}");
    assert_eq!(key_state(&view, "deepgram")["set"], true);

    // An empty key removes it; choosing the service then fails.
    let r = choose(&s, json!({"stt": "offline", "tts": "offline", "api_key": {"deepgram": ""}})).await;
    assert_eq!(key_state(&expect(r, 200).await, "deepgram")["set"], false);
    s.stop().await;
}

async fn session(s: &TestServer, id: &str) -> Value {
    s.get_json(&format!("/api/sessions/{id}"), 200).await
}

fn notes(view: &Value) -> Vec<String> {
    view["turns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "tool" && t["tool"]["name"] == "speech_engine")
        .map(|t| t["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_call_on_cloud_engines_is_heard_and_spoken_by_them_and_its_usage_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start(KEY, script("What time do you open on Saturday?")).await;
    let s = start(dir.path(), &fake).await;
    s.post_json(
        "/api/knowledge-base",
        &json!({"question": "What time do you open on Saturdays?", "answer": "On Saturdays we open at nine in the morning."}),
        201,
    )
    .await;
    let r = choose(&s, json!({"stt": "deepgram", "tts": "deepgram", "api_key": {"deepgram": KEY}})).await;
    expect(r, 200).await;

    let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
    call.wait_type(0, "audio_end", Duration::from_secs(30)).await;
    let mark = call.events.len();
    let question = with_silence(&speak("What time do you open on Saturday?", "en-us", 165), 0.3, 1.2);
    let asked = Instant::now();
    call.send_audio(&question, 1.0).await;
    let heard =
        call.wait_for(mark, Duration::from_secs(30), |v| v["type"] == "transcript" && v["is_final"] == true).await;
    assert_eq!(heard["text"], "What time do you open on Saturday?", "Deepgram's transcript: {heard}");
    call.wait_type(mark, "audio_end", Duration::from_secs(30)).await;
    let reply = call.audio_since(asked);
    assert!(reply.seconds() > 1.0, "the reply was spoken ({} s)", reply.seconds());
    let id = call.session_id.clone();
    call.hang_up().await;

    let spoken = fake.seen().spoken.join(" ");
    assert!(spoken.contains("nine in the morning"), "Aura spoke the answer: {spoken:?}");
    let view = session(&s, &id).await;
    let usage = &view["session"]["usage"]["deepgram"];
    let sent = usage["sent_seconds"].as_f64().unwrap();
    let received = usage["received_seconds"].as_f64().unwrap();
    assert!(sent >= question.seconds() * 0.5, "sent {sent} s of a {} s question", question.seconds());
    assert!(received > 1.0, "received {received} s: {view}");
    assert!(notes(&view).is_empty(), "no engine switch: {:?}", notes(&view));
    let caller = view["turns"].as_array().unwrap().iter().find(|t| t["role"] == "caller").unwrap();
    assert_eq!(caller["text"], "What time do you open on Saturday?");
    s.stop().await;
}

#[tokio::test]
async fn a_service_failing_mid_call_moves_the_call_offline_once_and_keeps_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start(KEY, script("unused")).await;
    let s = start(dir.path(), &fake).await;
    s.post_json(
        "/api/knowledge-base",
        &json!({"question": "What time do you open on Saturdays?", "answer": "On Saturdays we open at nine in the morning."}),
        201,
    )
    .await;
    let r = choose(&s, json!({"stt": "deepgram", "tts": "deepgram", "api_key": {"deepgram": KEY}})).await;
    expect(r, 200).await;
    // From now on the service fails: transcription mid-utterance, voices on
    // their first clause.
    {
        let mut sc = fake.script.lock().unwrap();
        sc.listen_fails_after = Some(10);
        sc.speak_fails = true;
    }

    let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
    call.wait_type(0, "audio_end", Duration::from_secs(60)).await;
    let greeting = call.audio_since(call.events[0].0);
    assert!(greeting.seconds() > 1.0, "the offline voice said the greeting");
    for question in ["What time do you open on Saturday?", "Are you open on Saturday morning?"] {
        let mark = call.events.len();
        call.send_audio(&with_silence(&speak(question, "en-us", 165), 0.3, 1.2), 1.0).await;
        let heard =
            call.wait_for(mark, Duration::from_secs(60), |v| v["type"] == "transcript" && v["is_final"] == true).await;
        assert!(heard["text"].as_str().unwrap().to_lowercase().contains("saturday"), "Whisper took over: {heard}");
        call.wait_type(mark, "audio_end", Duration::from_secs(60)).await;
    }
    let id = call.session_id.clone();
    call.hang_up().await;

    let view = session(&s, &id).await;
    // Once per engine that failed (recognition, then the voice), however
    // many utterances and clauses followed.
    let notes = notes(&view);
    assert_eq!(notes.len(), 2, "each switch is said once: {notes:?}");
    assert!(notes.iter().any(|n| n.contains("Deepgram closed") && n.contains("whisper")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("Deepgram Aura")), "{notes:?}");
    let turns = view["turns"].as_array().unwrap();
    let callers: Vec<&Value> = turns.iter().filter(|t| t["role"] == "caller").collect();
    assert_eq!(callers.len(), 2, "both questions are in the transcript");
    let answers = turns.iter().filter(|t| t["role"] == "agent" && t["text"].as_str().unwrap().contains("nine")).count();
    assert_eq!(answers, 2, "both were answered");
    assert!(fake.seen().listen_streams >= 1, "the call tried Deepgram first");
    s.stop().await;
}
