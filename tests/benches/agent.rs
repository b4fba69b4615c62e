//! Text in → first token of the agent's reply, over HTTP (server-sent
//! events), on the demo business, for the two paths a question can take:
//!
//! - the learned-answer fast path (no model call), target p95 ≤ 20 ms;
//! - the model path (embedded Qwen2.5 0.5B answering from evidence).
//!
//! Measured from sending the POST to receiving the first `token` event, the
//! way a client experiences it. Prints p50/p95/max; asserts nothing (a
//! benchmark, not a test). Run with `make bench`.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use switchboard_tests::{TestServer, config, model};

/// Sends `text` and returns the time to the first token event, then drains
/// the stream so the turn is complete before the next one.
async fn first_token(s: &TestServer, session: &str, text: &str) -> Duration {
    let started = Instant::now();
    let mut resp = s.post(&format!("/api/sessions/{session}/messages"), &json!({ "text": text })).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut seen = String::new();
    let mut first = None;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if first.is_none() && seen.contains("event: token") {
            first = Some(started.elapsed());
        }
    }
    first.expect("a token event")
}

fn report(name: &str, h: &Histogram<u64>) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{name:<34} n={:<4} p50 {:>8.2} ms  p95 {:>8.2} ms  max {:>8.2} ms",
        h.len(),
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.95)),
        ms(h.max())
    );
}

async fn session(s: &TestServer) -> String {
    s.post_json("/api/sessions", &json!({"caller_name": "Bench"}), 201).await["id"].as_str().unwrap().to_string()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let llm = model::embedded().await;
    let mut cfg = config(dir.path());
    cfg.demo = true;
    if let Some((m, _)) = &llm {
        cfg.model_override = Some(m.clone());
    }
    let s = TestServer::start(cfg).await;

    // Fast path: a learned answer, no model.
    let mut fast = Histogram::<u64>::new(3).unwrap();
    let mut id = session(&s).await;
    for i in 0..520 {
        let d = first_token(&s, &id, "Are you open on Sundays?").await;
        if i >= 20 {
            fast.record(d.as_micros() as u64).unwrap();
        }
        // A session keeps its turns; start a fresh one now and then so the
        // transcript stays a realistic length.
        if i % 50 == 49 {
            s.post_json(&format!("/api/sessions/{id}/end"), &json!({}), 200).await;
            id = session(&s).await;
        }
    }
    report("fast path (learned answer)", &fast);

    let Some(_) = llm else {
        println!("model path: skipped (no embedded model; run switchboard models install)");
        return;
    };
    // Model path: paraphrases that retrieve evidence but match no entry
    // closely enough for the fast path. The first call warms the system
    // prompt's KV cache, as the first caller of the day would.
    let questions = [
        "Is Theo the one for beard trims?",
        "What does a men's cut cost?",
        "Which evening are you open latest?",
        "How late are you open on Thursdays?",
        "Do you take walk-ins?",
        "What is your cancellation policy?",
        "Who's the best person to see for hair colour?",
        "How much are highlights?",
    ];
    let warm = session(&s).await;
    let cold = first_token(&s, &warm, questions[0]).await;
    println!("model path, cold (first question)  {:>8.2} ms", cold.as_secs_f64() * 1000.0);
    let mut llm_hist = Histogram::<u64>::new(3).unwrap();
    for round in 0..3 {
        for q in questions {
            // Fresh session each time: the usual case, one question per call.
            let id = session(&s).await;
            let d = first_token(&s, &id, q).await;
            // Only turns that really ran the model count here.
            let view = s.get_json(&format!("/api/sessions/{id}"), 200).await;
            let decision = view["turns"].as_array().unwrap().last().unwrap()["grounding"]["decision"].clone();
            if decision == "grounded" || decision == "extractive" {
                llm_hist.record(d.as_micros() as u64).unwrap();
            } else if round == 0 {
                println!("  (not a model turn: {q:?} -> {decision})");
            }
        }
    }
    report("model path (grounded answer)", &llm_hist);
    s.stop().await;
}
