//! The agent on the embedded model (Qwen2.5 0.5B through llama.cpp), over
//! HTTP, with the demo business: a scripted conversation through every path
//! (grounded answer, escalation, live relay, learned fast path, booking
//! tool). The evaluation of answer quality is `eval.rs` (sets written blind,
//! with held-out halves).
//!
//! The tests share one loaded model and take turns (see `model::embedded`).

use std::sync::Arc;

use chrono::{Datelike, Duration as Days, Utc, Weekday};
use serde_json::{Value, json};
use switchboard_core::llm::LanguageModel;
use switchboard_tests::{TestServer, config, decision, model};

fn server_config(dir: &std::path::Path, model: Arc<dyn LanguageModel>) -> switchboard_server::Config {
    let mut c = config(dir);
    c.model_override = Some(model);
    // Generous: a loaded CI machine must not turn a slow prefill into a
    // fallback. The product default is 60 s.
    c.llm_timeout = std::time::Duration::from_secs(180);
    c.demo = true;
    c
}

fn reply(outcome: &Value) -> String {
    outcome["reply"]["text"].as_str().unwrap_or("").to_string()
}

/// Whether `text` states one of `facts` (case-insensitive).
fn states(text: &str, facts: &[&str]) -> bool {
    let t = text.to_lowercase();
    facts.iter().any(|f| t.contains(&f.to_lowercase()))
}

async fn requests_for(s: &TestServer, session: &str) -> Vec<Value> {
    let all = s.get_json("/api/help-requests", 200).await;
    all.as_array().unwrap().iter().filter(|r| r["session_id"] == session).cloned().collect()
}

/// The next `weekday` at least three days ahead (the demo salon is open on
/// Fridays, and three days clears the booking-notice rules).
fn next(weekday: Weekday) -> chrono::NaiveDate {
    let mut d = Utc::now().date_naive() + Days::days(3);
    while d.weekday() != weekday {
        d += Days::days(1);
    }
    d
}

#[tokio::test]
async fn a_conversation_on_the_embedded_model() {
    let Some((llm, _turn)) = model::embedded().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(server_config(dir.path(), llm)).await;
    // Every question sees the same knowledge: the demo website is onboarded.
    assert_eq!(s.wait_demo_site().await["state"], "done");
    let agent = s.get_json("/api/agent", 200).await;
    assert_eq!(agent["model"]["ready"], true, "{agent}");
    assert_eq!(agent["model"]["engine"], "llama", "{agent}");

    // Ana Ruiz is a demo customer: her number identifies her.
    let a = s.start_session("Ana Ruiz", "+1-555-0142").await;

    // A paraphrase of a knowledge entry: the model answers from the evidence.
    let out = s.ask(&a, "Is Theo the one for beard trims?").await;
    assert_eq!(decision(&out), "grounded", "{out}");
    assert!(states(&reply(&out), &["theo"]), "{out}");
    assert!(!out["reply"]["grounding"]["cited"].as_array().unwrap().is_empty(), "{out}");
    let timings = &out["reply"]["timings"];
    assert!(timings["first_token_ms"].as_f64().unwrap() > 0.0 && timings["completion_tokens"].as_u64().unwrap() > 0);

    // Unknown: one help request for this session, and the agent will check.
    let question = "Do you offer keratin smoothing treatments?";
    let out = s.ask(&a, question).await;
    assert_eq!(decision(&out), "escalated", "{out}");
    assert!(reply(&out).contains("check"), "{out}");
    let requests = requests_for(&s, &a).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request_id = requests[0]["id"].as_str().unwrap().to_string();
    assert_eq!(requests[0]["question"], question);

    // The supervisor answers while Ana is still in the session: she hears it there.
    let answer = "Yes, keratin smoothing is 240 dollars and takes about three hours.";
    let body = json!({"answer": answer, "topic": "services", "supervisor": "Kim"});
    s.post_json(&format!("/api/help-requests/{request_id}/response"), &body, 200).await;
    let relayed = switchboard_tests::eventually(std::time::Duration::from_secs(10), || async {
        let view = s.get_json(&format!("/api/sessions/{a}"), 200).await;
        view["turns"].as_array().unwrap().iter().find(|t| t["grounding"]["decision"] == "relay").cloned()
    })
    .await;
    assert!(relayed["text"].as_str().unwrap().contains("240 dollars"), "{relayed}");
    assert_eq!(relayed["grounding"]["help_request_id"], request_id.as_str());

    // A new caller asks the same: answered from what was learned, no new request.
    let b = s.start_session("Ben Carter", "+1-555-0187").await;
    let out = s.ask(&b, question).await;
    assert_eq!(decision(&out), "fast_path", "{out}");
    assert!(reply(&out).contains("240 dollars"), "{out}");
    assert!(requests_for(&s, &b).await.is_empty());

    // Booking: the model calls the appointment tool, which writes the demo tables.
    let friday = next(Weekday::Fri);
    let out = s.ask(&a, &format!("Please book me a men's cut on {} at 11:00.", friday.format("%Y-%m-%d"))).await;
    // With the generic prompts the 0.5B model often hands a booking to a
    // human instead of calling the tool (a known gap, see the issue notes):
    // either is acceptable, a claim without a booking or markup is not.
    let booked = out["turns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"]["name"] == "create_appointment" && t["tool"]["ok"] == true);
    let was_booked = booked.is_some();
    match booked {
        Some(b) => {
            assert_eq!(b["tool"]["result"]["booked"], true, "{b}");
            assert_eq!(decision(&out), "tools", "{out}");
        }
        None => assert_eq!(decision(&out), "escalated", "no booking and no human: {out}"),
    }
    let said = reply(&out);
    assert!(!said.contains('{') && !said.contains("request_help"), "markup read to the caller: {said}");
    s.post_json(&format!("/api/sessions/{a}/end"), &json!({}), 200).await;
    s.stop().await;

    // A booking the agent made is in the database, for Ana, at that time;
    // a handed-over one made nothing.
    let store = switchboard_store::SqliteStore::open(&dir.path().join("switchboard.sqlite")).await.unwrap();
    let mine = switchboard_core::business::BusinessStore::customer_appointments(&store, 101, Utc::now()).await.unwrap();
    let made = mine.iter().any(|x| x.service_id == "mens-cut" && x.starts_at.date_naive() == friday);
    assert_eq!(made, was_booked, "{mine:?}");
}
