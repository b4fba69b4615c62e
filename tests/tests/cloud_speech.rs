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
    Script::new(transcript)
}

async fn start(dir: &std::path::Path, fake: &FakeDeepgram) -> TestServer {
    let mut c = config(dir);
    c.call.partial_every_ms = 0;
    c.cloud.deepgram_url = fake.url.parse().unwrap();
    c.cloud.deepgram_agent_url = fake.url.parse().unwrap();
    c.cloud.timeout_secs = 3.0;
    TestServer::start(c).await
}

async fn choose(s: &TestServer, body: Value) -> reqwest::Response {
    s.put("/api/settings/speech", &body).send().await.unwrap()
}

const SATURDAY: &str = "On Saturdays we open at nine in the morning.";

/// A learned answer, so the question is answered without a language model.
async fn learn_saturday(s: &TestServer, answer: &str) {
    let entry = json!({"question": "What time do you open on Saturdays?", "answer": answer});
    s.post_json("/api/knowledge-base", &entry, 201).await;
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

    // A voice-to-voice service is checked the same way.
    let r = choose(
        &s,
        json!({"stt": "offline", "tts": "offline", "voice_agent": "deepgram", "api_key": {"deepgram": "wrong-key"}}),
    )
    .await;
    assert!(message(&expect(r, 422).await).contains("refused the API key"));
    let r = choose(&s, json!({"stt": "offline", "tts": "offline", "voice_agent": "gemini"})).await;
    assert!(message(&expect(r, 422).await).contains("GEMINI_API_KEY"));
    assert_eq!(s.get_json("/api/settings/speech", 200).await["voice_agent"], "none", "nothing changed");

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

/// Asks a question about Saturday once the call runs offline: Whisper hears
/// it and the reply is spoken.
async fn ask_offline(call: &mut VoiceCall, question: &str) {
    let mark = call.events.len();
    call.send_audio(&with_silence(&speak(question, "en-us", 165), 0.3, 1.2), 1.0).await;
    let heard =
        call.wait_for(mark, Duration::from_secs(60), |v| v["type"] == "transcript" && v["is_final"] == true).await;
    assert!(heard["text"].as_str().unwrap().to_lowercase().contains("saturday"), "Whisper took over: {heard}");
    call.wait_type(mark, "audio_end", Duration::from_secs(60)).await;
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
    learn_saturday(&s, SATURDAY).await;
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
    learn_saturday(&s, SATURDAY).await;
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
        ask_offline(&mut call, question).await;
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

async fn start_with_agent(dir: &std::path::Path, fake: &FakeDeepgram) -> TestServer {
    start_with_service(dir, fake, "deepgram").await
}

/// The app with a voice-to-voice service (`deepgram` or `gemini`) chosen,
/// both served by the stand-in.
async fn start_with_service(dir: &std::path::Path, fake: &FakeDeepgram, service: &str) -> TestServer {
    let mut c = config(dir);
    c.call.partial_every_ms = 0;
    c.cloud.deepgram_url = fake.url.parse().unwrap();
    c.cloud.deepgram_agent_url = fake.url.parse().unwrap();
    c.cloud.gemini_url = fake.url.parse().unwrap();
    c.cloud.timeout_secs = 3.0;
    let s = TestServer::start(c).await;
    let choice = json!({"stt": "offline", "tts": "offline", "voice_agent": service, "api_key": {service: KEY}});
    let view = expect(choose(&s, choice).await, 200).await;
    assert_eq!(view["voice_agent"], service, "{view}");
    s
}

fn turns(view: &Value) -> Vec<Value> {
    view["turns"].as_array().unwrap().clone()
}

/// A call on `service` (`deepgram` or `gemini`): the greeting, a question
/// the knowledge base learned the answer to, the answer. Returns the
/// session and what the stand-in saw.
async fn ask_a_learned_question(service: &str) -> (Value, FakeDeepgram) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start(KEY, script("What time do you open on Saturday?")).await;
    let s = start_with_service(dir.path(), &fake, service).await;
    learn_saturday(&s, SATURDAY).await;

    let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
    call.wait_type(0, "audio_end", Duration::from_secs(30)).await;
    assert!(call.audio_since(call.events[0].0).seconds() > 1.0, "the service said the greeting");
    let mark = call.events.len();
    let asked = Instant::now();
    call.send_audio(&with_silence(&speak("What time do you open on Saturday?", "en-us", 165), 0.3, 1.2), 1.0).await;
    let heard =
        call.wait_for(mark, Duration::from_secs(30), |v| v["type"] == "transcript" && v["is_final"] == true).await;
    assert_eq!(heard["text"], "What time do you open on Saturday?");
    call.wait_type(mark, "audio_end", Duration::from_secs(30)).await;
    let latency = call.wait_type(mark, "latency", Duration::from_secs(5)).await;
    assert!(latency["timings"]["first_audio_ms"].as_f64().is_some(), "{latency}");
    assert!(call.audio_since(asked).seconds() > 1.0, "the answer was spoken");
    let id = call.session_id.clone();
    call.hang_up().await;

    let view = session(&s, &id).await;
    let t = turns(&view);
    let roles: Vec<&str> = t.iter().map(|t| t["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["agent", "caller", "tool", "agent"], "greeting, question, search, answer: {view}");
    assert_eq!(t[2]["tool"]["name"], "search_knowledge_base");
    assert!(t[3]["text"].as_str().unwrap().contains("nine in the morning"));
    assert!(t[3]["timings"]["first_audio_ms"].as_f64().is_some(), "{}", t[3]);
    let usage = &view["session"]["usage"][service];
    assert!(
        usage["sent_seconds"].as_f64().unwrap() > 1.0 && usage["received_seconds"].as_f64().unwrap() > 1.0,
        "{view}"
    );
    assert_eq!(view["session"]["status"], "ended");
    s.stop().await;
    (view, fake)
}

fn names(functions: &Value) -> Vec<String> {
    functions.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_voice_service_runs_our_tools_answers_from_what_was_learned_and_keeps_the_transcript() {
    let (_, fake) = ask_a_learned_question("deepgram").await;
    // The service was set up with the agent's prompt and tools.
    let settings = fake.seen().agent_settings.last().cloned().unwrap();
    let functions = names(&settings["agent"]["think"]["functions"]);
    assert!(functions.iter().any(|f| f == "search_knowledge_base") && functions.iter().any(|f| f == "request_help"));
    assert!(settings["agent"]["think"]["prompt"].as_str().unwrap().contains("search_knowledge_base"));
    // The learned answer went back as the search's result, to be said as it is.
    let result = fake.seen().tool_results[0].clone();
    assert!(result["content"].as_str().unwrap().contains("nine in the morning"), "{result}");
}

#[tokio::test]
async fn gemini_live_runs_our_tools_answers_from_what_was_learned_and_keeps_the_transcript() {
    let (_, fake) = ask_a_learned_question("gemini").await;
    let setup = fake.seen().agent_settings.last().cloned().unwrap();
    let functions = names(&setup["setup"]["tools"][0]["functionDeclarations"]);
    assert!(functions.iter().any(|f| f == "search_knowledge_base") && functions.iter().any(|f| f == "request_help"));
    let instruction = setup["setup"]["systemInstruction"]["parts"][0]["text"].as_str().unwrap();
    assert!(instruction.contains("search_knowledge_base"), "{instruction}");
    let result = fake.seen().tool_results[0].clone();
    assert_eq!(result["response"]["say_as_is"], SATURDAY, "{result}");
    // The greeting was asked for with a user turn.
    assert!(fake.seen().injected.iter().any(|i| i.contains("Say exactly")), "{:?}", fake.seen().injected);
}

#[tokio::test]
async fn a_voice_service_asks_a_supervisor_and_says_the_answer_in_the_same_call() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start(KEY, script("Do you sell gift cards for dogs?")).await;
    let s = start_with_agent(dir.path(), &fake).await;
    let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
    call.wait_type(0, "audio_end", Duration::from_secs(30)).await;
    let mark = call.events.len();
    call.send_audio(&with_silence(&speak("Do you sell gift cards for dogs?", "en-us", 165), 0.3, 1.2), 1.0).await;
    call.wait_type(mark, "audio_end", Duration::from_secs(30)).await;

    let pending = s.get_json("/api/help-requests?status=pending", 200).await;
    let request = pending.as_array().and_then(|a| a.first()).cloned().expect("a help request was opened");
    assert_eq!(request["channel"], "voice", "{request}");
    assert_eq!(request["question"], "Do you sell gift cards for dogs?");
    let id = request["id"].as_str().unwrap();
    let mark = call.events.len();
    s.post_json(
        &format!("/api/help-requests/{id}/response"),
        &json!({"answer": "Yes, we sell gift cards for any amount.", "supervisor": "Kim"}),
        200,
    )
    .await;
    call.wait_type(mark, "audio_end", Duration::from_secs(30)).await;
    let injected = fake.seen().injected.clone();
    assert_eq!(injected.len(), 1, "{injected:?}");
    assert!(injected[0].contains("gift cards for any amount"), "the service was told to say the answer: {injected:?}");
    let session_id = call.session_id.clone();
    call.hang_up().await;
    let t = turns(&session(&s, &session_id).await);
    let relays = t.iter().filter(|t| t["grounding"]["decision"] == "relay").count();
    assert_eq!(relays, 1, "the relayed answer is in the transcript once");
    s.stop().await;
}

#[tokio::test]
async fn a_caller_cutting_in_stops_the_services_reply_and_the_transcript_keeps_what_was_heard() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start(KEY, script("What time do you open on Saturday?")).await;
    fake.script.lock().unwrap().agent_secs_per_char = 0.25;
    let s = start_with_agent(dir.path(), &fake).await;
    learn_saturday(&s, "On Saturdays we open at nine in the morning, and we close at five in the afternoon.").await;
    let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
    // The greeting is long at this pace; the question goes in once it ends.
    call.wait_type(0, "audio_end", Duration::from_secs(60)).await;
    let mark = call.events.len();
    call.send_audio(&with_silence(&speak("What time do you open on Saturday?", "en-us", 165), 0.3, 0.2), 1.0).await;
    let started = Instant::now();
    // Wait until the reply is playing, then speak over it.
    while call.audio_since(started).seconds() < 1.0 {
        call.pump_until(Instant::now() + Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(20), "the reply never started");
    }
    call.send_audio(&speak("Sorry, what about Sunday instead?", "en-us", 165), 1.0).await;
    let cut = call.wait_type(mark, "interrupted", Duration::from_secs(10)).await;
    let heard = cut["heard"].as_str().unwrap().to_string();
    let id = call.session_id.clone();
    call.hang_up().await;
    let t = turns(&session(&s, &id).await);
    let answer = t.iter().rev().find(|t| t["role"] == "agent" && t["interrupted"] == true).expect("the cut reply");
    assert_eq!(answer["text"], heard.trim(), "the transcript keeps what the caller heard");
    assert!(!heard.contains("five in the afternoon"), "the reply was cut before its end: {heard:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_voice_service_failing_mid_call_hands_the_call_to_the_offline_engines() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDeepgram::start(KEY, script("unused")).await;
    let s = start_with_agent(dir.path(), &fake).await;
    learn_saturday(&s, SATURDAY).await;
    fake.script.lock().unwrap().agent_fails_after_bytes = Some(8_000);
    let mut call = VoiceCall::connect(&s.base, TOKEN, 16_000, 16_000).await;
    call.wait_type(0, "audio_end", Duration::from_secs(30)).await;
    // The service fails on the first words: what the caller said goes to
    // the offline engines, and they need not say it again.
    ask_offline(&mut call, "What time do you open on Saturday?").await;
    let id = call.session_id.clone();
    call.hang_up().await;
    let view = session(&s, &id).await;
    let notes = notes(&view);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("Deepgram") && notes[0].contains("offline"), "{notes:?}");
    let t = turns(&view);
    assert!(
        t.iter().any(|t| t["role"] == "agent" && t["text"].as_str().unwrap().contains("nine")),
        "answered offline: {view}"
    );
    s.stop().await;
}
