//! The agent's evaluation on the held-out halves (never tuned on), with
//! both sources loaded (Q&A entries and the onboarded website), on the
//! embedded model and the embedding model. It fails on what the agent must
//! never do (leak a forbidden page, say a number the business never
//! published, answer most unknown questions instead of escalating) and
//! prints every figure beside the targets, marking each one missed:
//! the answer-rate and precision targets are not met yet (see the issue).
//! `make eval` runs every load and both halves (see `evaluation_all_loads`).

use switchboard_tests::eval::{Business, Load, Report, install, run, run_learned};
use switchboard_tests::model;

/// The targets, reported.
const ANSWER_RATE: f64 = 0.85;
const PRECISION: f64 = 0.9;
/// Escalation recall the agent must keep (measured 0.83 and 0.88 on the
/// held-out halves): unknown questions go to a human.
const RECALL_FLOOR: f64 = 0.6;

async fn evaluate(b: &Business, load: Load, split: &str, learned: bool) -> Option<Report> {
    let (llm, _turn) = model::embedded().await?;
    let embedder = model::embedder();
    let dir = tempfile::tempdir().unwrap();
    let (s, _site) = install(b, load, dir.path(), llm, embedder).await;
    let mut r = run(&s, b, load, split).await;
    if learned {
        run_learned(&s, b, &mut r, split).await;
    }
    s.stop().await;
    eprintln!("{}\n{}", r.summary(), r.details());
    Some(r)
}

fn check(r: &Report) {
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    eprintln!(
        "targets: answer rate >= {ANSWER_RATE} {}; precision >= {PRECISION} {}; no invented specifics {}; no leaks {}; learned paraphrases 9 in 10 {}",
        mark(r.answer_rate() >= ANSWER_RATE),
        mark(r.precision() >= PRECISION),
        mark(r.invented.is_empty()),
        mark(r.leaks.is_empty()),
        mark(r.learned_ok * 10 >= r.learned_total * 9),
    );
    assert!(r.leaks.is_empty(), "secrets leaked: {}\n{}", r.summary(), r.details());
    assert!(r.invented.is_empty(), "invented specifics: {}\n{}", r.summary(), r.details());
    assert!(r.answerable > 0 && r.should_escalate > 0, "the held-out half lost its cases");
    assert!(r.answered_right > 0, "nothing answered: {}\n{}", r.summary(), r.details());
    assert!(r.recall() >= RECALL_FLOOR, "unknown questions answered: {}\n{}", r.summary(), r.details());
}

#[tokio::test]
async fn held_out_second_business_with_both_sources() {
    if let Some(r) = evaluate(&Business::spokesmith(), Load::Both, "heldout", true).await {
        check(&r);
    }
}

#[tokio::test]
async fn held_out_demo_salon_with_both_sources() {
    if let Some(r) = evaluate(&Business::salon(), Load::Both, "heldout", true).await {
        check(&r);
    }
}

/// Every business, load and half; prints a table, asserts nothing beyond
/// what runs (the held-out targets are the tests above). `make eval`.
#[tokio::test]
#[ignore = "long: run with `make eval`"]
async fn evaluation_all_loads() {
    let mut rows = Vec::new();
    for b in [Business::spokesmith(), Business::salon()] {
        for load in [Load::Qa, Load::Site, Load::Both] {
            for split in ["dev", "heldout"] {
                if let Some(r) = evaluate(&b, load, split, load == Load::Both).await {
                    rows.push(r.summary());
                }
            }
        }
    }
    eprintln!("\n== evaluation ==");
    for r in &rows {
        eprintln!("{r}");
    }
    assert_eq!(rows.len(), 12, "every business, load and half ran");
}

/// Fits the embedding thresholds on the development halves: for each pair of
/// a learned question and its paraphrase (the same meaning) and each pair of
/// different questions, the cosine of their embeddings; prints both
/// distributions and the threshold that separates them. `make eval`.
#[tokio::test]
#[ignore = "calibration: run with `make eval`"]
async fn calibrate_similarity_thresholds_on_the_development_halves() {
    let Some(e) = model::embedder() else { return };
    for split in ["dev", "heldout"] {
        let mut same = Vec::new();
        let mut different = Vec::new();
        for b in [Business::spokesmith(), Business::salon()] {
            let pairs: Vec<_> = b.learned.iter().filter(|l| l.split == split).collect();
            let q: Vec<&str> = pairs.iter().map(|l| l.question.as_str()).collect();
            let p: Vec<&str> = pairs.iter().map(|l| l.paraphrase.as_str()).collect();
            let qv = e.embed(&q).unwrap();
            let pv = e.embed(&p).unwrap();
            for i in 0..q.len() {
                for j in 0..p.len() {
                    let c = switchboard_core::embed::cosine(&qv[i], &pv[j]);
                    if i == j { same.push(c) } else { different.push(c) }
                }
            }
        }
        same.sort_by(f32::total_cmp);
        different.sort_by(f32::total_cmp);
        let highest_different = *different.last().unwrap();
        let caught = |t: f32| same.iter().filter(|s| **s >= t).count();
        eprintln!(
            "{split}: paraphrase pairs {:?}\n  different pairs: max {:.3}, p95 {:.3}\n  at 0.60: {}/{} paraphrases; at 0.70: {}/{}; at 0.80: {}/{}",
            same.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>(),
            highest_different,
            different[(different.len() as f32 * 0.95) as usize],
            caught(0.6),
            same.len(),
            caught(0.7),
            same.len(),
            caught(0.8),
            same.len()
        );
        assert!(!same.is_empty() && !different.is_empty());
    }
}

/// One business, load and half, chosen by `EVAL_BUSINESS` (`spokesmith`,
/// `salon`), `EVAL_LOAD` (`qa`, `site`, `both`) and `EVAL_SPLIT` (`dev`,
/// `heldout`): for working on the development half.
#[tokio::test]
#[ignore = "run by hand: EVAL_BUSINESS=… EVAL_LOAD=… EVAL_SPLIT=…"]
async fn evaluation_one() {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let b = match var("EVAL_BUSINESS", "spokesmith").as_str() {
        "salon" => Business::salon(),
        _ => Business::spokesmith(),
    };
    let load = match var("EVAL_LOAD", "both").as_str() {
        "qa" => Load::Qa,
        "site" => Load::Site,
        _ => Load::Both,
    };
    let split = var("EVAL_SPLIT", "dev");
    if let Some(r) = evaluate(&b, load, &split, load == Load::Both).await {
        assert!(r.answerable > 0, "nothing was asked");
    }
}
