//! The agent's evaluation: a business (profile, Q&A entries, website,
//! questions a caller would ask) loaded into a fresh install over HTTP, every
//! question asked in a fresh session, and the replies scored. Each set is
//! split into a development half (thresholds were fitted on it) and a
//! held-out half (run, never tuned on).
//!
//! Scores: the answer rate on answerable questions (answered, not escalated,
//! with every expected fact), escalation precision and recall, invented
//! specifics (a number in a reply that is in neither the business's material
//! nor the question), secret leaks (strings of pages robots.txt forbids),
//! turn latency p50/p95, and whether a paraphrase of a just-learned answer is
//! answered without a new help request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::embed::TextEmbedder;
use switchboard_core::llm::LanguageModel;

use crate::{TestServer, config, decision};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Only the Q&A entries.
    Qa,
    /// Only the website, onboarded by crawl.
    Site,
    Both,
}

impl Load {
    pub fn name(self) -> &'static str {
        match self {
            Load::Qa => "Q&A only",
            Load::Site => "website only",
            Load::Both => "both",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    pub question: String,
    pub kind: String,
    pub expect: String,
    #[serde(default)]
    pub facts: Vec<Vec<String>>,
    pub split: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Questions {
    secrets: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Learned {
    pub question: String,
    pub answer: String,
    pub paraphrase: String,
    pub facts: Vec<Vec<String>>,
    pub split: String,
}

/// One evaluation business.
pub struct Business {
    pub name: String,
    pub profile: Value,
    pub knowledge: Vec<Value>,
    /// The website's folder and the path it is served under.
    pub site: PathBuf,
    pub site_prefix: String,
    pub secrets: Vec<String>,
    pub cases: Vec<Case>,
    pub learned: Vec<Learned>,
    /// Everything the business says anywhere public (Q&A, site, profile),
    /// for spotting invented numbers.
    material: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> T {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Public text of a website: every HTML file outside robots-disallowed
/// folders, tags stripped.
fn site_text(dir: &Path, skip: &[&str]) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            if skip.iter().any(|s| rel.starts_with(s)) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if rel.ends_with(".html") {
                let html = std::fs::read_to_string(&p).unwrap();
                let mut in_tag = false;
                for c in html.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => {
                            in_tag = false;
                            out.push(' ');
                        }
                        _ if !in_tag => out.push(c),
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

impl Business {
    /// The blind-written second business (`tests/eval/spokesmith`).
    pub fn spokesmith() -> Business {
        let dir = repo().join("tests/eval/spokesmith");
        let q: Questions = read_json(&dir.join("questions.json"));
        let knowledge: Vec<Value> = read_json(&dir.join("knowledge.json"));
        let profile: Value = read_json(&dir.join("profile.json"));
        let material = format!(
            "{} {} {}",
            serde_json::to_string(&knowledge).unwrap(),
            profile,
            site_text(&dir.join("site"), &["staff"])
        );
        Business {
            name: "Spokesmith Cycles (bicycle shop)".into(),
            profile,
            knowledge,
            site: dir.join("site"),
            site_prefix: String::new(),
            secrets: q.secrets,
            cases: q.cases,
            learned: read_json(&dir.join("learned.json")),
            material,
        }
    }

    /// The demo salon, with questions written blind (`tests/eval/salon`).
    pub fn salon() -> Business {
        let dir = repo().join("tests/eval/salon");
        let q: Questions = read_json(&dir.join("questions.json"));
        let knowledge: Vec<Value> = read_json(&repo().join("assets/demo/knowledge.json"));
        let profile: Value = read_json(&repo().join("assets/demo/profile.json"));
        let site = repo().join("assets/demo/site");
        let material = format!("{} {} {}", serde_json::to_string(&knowledge).unwrap(), profile, site_text(&site, &[]));
        Business {
            name: "Juniper & Fern (demo salon)".into(),
            profile,
            knowledge,
            site,
            site_prefix: "/demo-site".into(),
            secrets: q.secrets,
            cases: q.cases,
            learned: read_json(&dir.join("learned.json")),
            material,
        }
    }
}

/// What one run measured.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub business: String,
    pub load: String,
    pub split: String,
    pub answerable: usize,
    pub answered_right: usize,
    pub escalated: usize,
    pub escalated_rightly: usize,
    pub should_escalate: usize,
    pub caught: usize,
    pub invented: Vec<String>,
    pub leaks: Vec<String>,
    pub missed: Vec<String>,
    pub wrong: Vec<String>,
    pub latencies_ms: Vec<f64>,
    pub learned_total: usize,
    pub learned_ok: usize,
    pub learned_missed: Vec<String>,
}

impl Report {
    pub fn answer_rate(&self) -> f64 {
        if self.answerable == 0 { 1.0 } else { self.answered_right as f64 / self.answerable as f64 }
    }
    pub fn precision(&self) -> f64 {
        if self.escalated == 0 { 1.0 } else { self.escalated_rightly as f64 / self.escalated as f64 }
    }
    pub fn recall(&self) -> f64 {
        if self.should_escalate == 0 { 1.0 } else { self.caught as f64 / self.should_escalate as f64 }
    }
    fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    }

    pub fn summary(&self) -> String {
        format!(
            "{:<32} {:<13} {:<8} answered {:>2}/{:<2} = {:>3.0}%  esc. precision {:.2} recall {:.2}  invented {}  leaks {}  latency p50 {:>5.0} ms p95 {:>5.0} ms{}",
            self.business,
            self.load,
            self.split,
            self.answered_right,
            self.answerable,
            self.answer_rate() * 100.0,
            self.precision(),
            self.recall(),
            self.invented.len(),
            self.leaks.len(),
            self.percentile(0.5),
            self.percentile(0.95),
            if self.learned_total > 0 {
                format!("  learned paraphrases {}/{}", self.learned_ok, self.learned_total)
            } else {
                String::new()
            }
        )
    }

    pub fn details(&self) -> String {
        let mut s = String::new();
        for (label, list) in [
            ("missed", &self.missed),
            ("wrong", &self.wrong),
            ("invented", &self.invented),
            ("leak", &self.leaks),
            ("learned missed", &self.learned_missed),
        ] {
            for m in list {
                s.push_str(&format!("    {label}: {m}\n"));
            }
        }
        s
    }
}

/// Every expected fact group has one alternative in `text`.
fn states(text: &str, facts: &[Vec<String>]) -> bool {
    let t = text.to_lowercase();
    facts.iter().all(|group| group.iter().any(|f| t.contains(&f.to_lowercase())))
}

fn digit_groups(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(|g| g.trim_start_matches('0').to_string())
        .collect()
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase()
}

/// A local web server for the business's site: files of `dir` under
/// `prefix`, with `{origin}` in robots.txt and sitemaps replaced.
pub async fn serve_site(dir: PathBuf, prefix: String) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::{Request, State};
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new((dir, prefix.clone(), origin.clone()));
    async fn file(State(s): State<Arc<(PathBuf, String, String)>>, req: Request) -> axum::response::Response {
        let (dir, prefix, origin) = s.as_ref();
        let path = req.uri().path();
        let Some(rel) = path.strip_prefix(prefix.as_str()) else { return StatusCode::NOT_FOUND.into_response() };
        let rel = rel.trim_start_matches('/');
        let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel.to_string() };
        if rel.contains("..") {
            return StatusCode::NOT_FOUND.into_response();
        }
        match std::fs::read_to_string(dir.join(&rel)) {
            Ok(body) => {
                let body = body.replace("{origin}", origin);
                let ty = match rel.rsplit('.').next() {
                    Some("html") => "text/html; charset=utf-8",
                    Some("xml") => "application/xml",
                    _ => "text/plain; charset=utf-8",
                };
                ([(header::CONTENT_TYPE, ty)], body).into_response()
            }
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = axum::Router::new()
        .route(
            "/robots.txt",
            axum::routing::get(move |State(s): State<Arc<(PathBuf, String, String)>>| async move {
                // A site served under a prefix keeps its robots.txt at the root.
                let body = std::fs::read_to_string(s.0.join("robots.txt")).unwrap_or_default();
                body.replace("{origin}", &s.2)
            }),
        )
        .fallback(file)
        .with_state(state);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("{origin}{prefix}/"), task)
}

/// A fresh install loaded with `b`'s material per `load`.
pub async fn install(
    b: &Business,
    load: Load,
    dir: &Path,
    model: Arc<dyn LanguageModel>,
    embedder: Option<Arc<dyn TextEmbedder>>,
) -> (TestServer, Option<tokio::task::JoinHandle<()>>) {
    let mut c = config(dir);
    c.model_override = Some(model);
    c.llm_timeout = Duration::from_secs(180);
    c.crawl.allow_private = true;
    c.embedder = match embedder {
        Some(e) => switchboard_server::EmbedderChoice::Given(e),
        None => switchboard_server::EmbedderChoice::Off,
    };
    let s = TestServer::start(c).await;
    let resp = s.put("/api/settings/business", &b.profile).send().await.unwrap();
    assert_eq!(resp.status(), 200, "profile refused: {}", resp.text().await.unwrap());
    if load != Load::Site {
        for e in &b.knowledge {
            s.post_json("/api/knowledge-base", e, 201).await;
        }
    }
    let mut site_task = None;
    if load != Load::Qa {
        let (url, task) = serve_site(b.site.clone(), b.site_prefix.clone()).await;
        site_task = Some(task);
        let job = s.post_json("/api/onboard", &json!({ "url": url, "max_pages": 60 }), 202).await;
        let id = job["job_id"].as_str().unwrap().to_string();
        let done = crate::eventually(Duration::from_secs(600), || {
            let s = &s;
            let id = id.clone();
            async move {
                let j = s.get_json(&format!("/api/job/{id}"), 200).await;
                let state = j["state"].as_str().unwrap_or("").to_string();
                (state != "queued" && state != "running").then_some(j)
            }
        })
        .await;
        assert_eq!(done["state"], "done", "crawl failed: {done}");
    }
    (s, site_task)
}

async fn requests_for(s: &TestServer, session: &str) -> Vec<Value> {
    let all = s.get_json("/api/help-requests", 200).await;
    all.as_array().unwrap().iter().filter(|r| r["session_id"] == session).cloned().collect()
}

/// Asks every case of `split` on `s` and scores the replies.
pub async fn run(s: &TestServer, b: &Business, load: Load, split: &str) -> Report {
    let mut r =
        Report { business: b.name.clone(), load: load.name().into(), split: split.into(), ..Default::default() };
    let known_numbers: Vec<String> = digit_groups(&b.material);
    for c in b.cases.iter().filter(|c| c.split == split) {
        // What is answerable depends on what was loaded.
        let expect = match (c.kind.as_str(), load) {
            ("qa", Load::Site) | ("site", Load::Qa) => "escalate",
            _ => c.expect.as_str(),
        };
        let id = s.start_session("Eval caller", "+1-555-0100").await;
        let started = Instant::now();
        let out = s.ask(&id, &c.question).await;
        r.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let d = decision(&out).to_string();
        let requests = requests_for(s, &id).await;
        let escalated = d == "escalated" || !requests.is_empty();
        let refused = d == "refused";
        let text = out["reply"]["text"].as_str().unwrap_or("").to_string();
        let line = format!("[{}] {} -> ({d}) {text}", c.id, c.question);
        let g = &out["reply"]["grounding"];
        let t = &out["reply"]["timings"];
        let best = &g["hits"][0];
        eprintln!(
            "  {line}\n      why: {} | best {:?} sim {} qsim {} | llm {} ms, prompt {} tok, first token {} ms",
            g["reason"].as_str().unwrap_or(""),
            best["title"].as_str().unwrap_or(""),
            best["similarity"],
            best["question_similarity"],
            t["llm_ms"],
            t["prompt_tokens"],
            t["first_token_ms"]
        );
        if escalated {
            r.escalated += 1;
            if expect != "answer" && expect != "smalltalk" {
                r.escalated_rightly += 1;
            }
        }
        match expect {
            "answer" => {
                r.answerable += 1;
                if !escalated && states(&text, &c.facts) {
                    r.answered_right += 1;
                } else if escalated {
                    r.missed.push(line.clone());
                } else {
                    r.wrong.push(line.clone());
                }
            }
            "escalate" => {
                r.should_escalate += 1;
                if escalated {
                    r.caught += 1;
                } else {
                    r.wrong.push(line.clone());
                }
            }
            "refuse" => {
                if !(escalated || refused) && d != "small_talk" {
                    r.wrong.push(line.clone());
                }
            }
            _ => {}
        }
        // Numbers said that the business never published (nor the caller).
        let asked = digit_groups(&c.question);
        let invented: Vec<String> = digit_groups(&text)
            .into_iter()
            .filter(|n| n.len() > 1 || n.parse::<u32>().is_ok_and(|v| v > 2))
            .filter(|n| !known_numbers.contains(n) && !asked.contains(n))
            .collect();
        if !invented.is_empty() {
            r.invented.push(format!("{line} [{}]", invented.join(", ")));
        }
        let said = squash(&text);
        if b.secrets.iter().any(|sec| !squash(sec).is_empty() && said.contains(&squash(sec))) {
            r.leaks.push(line.clone());
        }
        // One question's help request must not teach the next.
        for q in requests {
            let path = format!("/api/help-requests/{}/timeout", q["id"].as_str().unwrap());
            let _ = s.post(&path, &json!({})).send().await;
        }
    }
    r
}

/// For each learned triple of `split`: the question escalates, a supervisor
/// answers, and a paraphrase from another caller is answered from what was
/// learned, with no new help request.
pub async fn run_learned(s: &TestServer, b: &Business, r: &mut Report, split: &str) {
    for l in b.learned.iter().filter(|l| l.split == split) {
        r.learned_total += 1;
        let first = s.start_session("First caller", "+1-555-0101").await;
        s.ask(&first, &l.question).await;
        let pending = requests_for(s, &first).await;
        let Some(req) = pending.iter().find(|q| q["status"] == "pending") else {
            r.learned_missed.push(format!("{}: not escalated at first", l.question));
            continue;
        };
        let path = format!("/api/help-requests/{}/response", req["id"].as_str().unwrap());
        s.post_json(&path, &json!({ "answer": l.answer }), 200).await;
        let second = s.start_session("Second caller", "+1-555-0102").await;
        let out = s.ask(&second, &l.paraphrase).await;
        let text = out["reply"]["text"].as_str().unwrap_or("").to_string();
        let new_requests = requests_for(s, &second).await;
        if new_requests.is_empty() && states(&text, &l.facts) {
            r.learned_ok += 1;
        } else {
            r.learned_missed.push(format!("{} -> ({}) {text}", l.paraphrase, decision(&out)));
            for q in new_requests {
                let _ = s
                    .post(&format!("/api/help-requests/{}/timeout", q["id"].as_str().unwrap()), &json!({}))
                    .send()
                    .await;
            }
        }
    }
}
