//! Search at scale: 100,000 page passages, 1,000 queries.
//!
//! Prints, from one run on one machine:
//! - the index rebuild at start (the app started on a database that holds
//!   the passages and their stored vectors, with no index on disk);
//! - `GET /api/knowledge-base?q=` over HTTP, p50/p99, with hybrid retrieval
//!   (BM25 + embeddings, the app's default) and with BM25 alone;
//! - SQLite FTS5 over the same passages and queries: build time and
//!   `MATCH … ORDER BY rank` p50/p99 (in-process, no HTTP).
//!
//! The corpus is generated: words of the project's own evaluation sites and
//! demo data, drawn by frequency rank (Zipf), 40–70 words a passage.
//! Queries are 2–6 words of the same draw, asked as a caller would.
//!
//! Vectors: queries are embedded for real (all-MiniLM-L6-v2) at search time.
//! The passages' stored vectors are real embeddings of 1,000 passages of the
//! corpus, each reused with small deterministic noise: computing 100,000 on
//! 2 cores takes over an hour, and the scan's cost does not depend on the
//! values. They are written through the app's own indexing path on a first
//! start, which is not what is timed.
//!
//! `cargo bench -p switchboard-tests --bench search` (`make bench`);
//! `BENCH_PASSAGES` and `BENCH_QUERIES` scale it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use switchboard_core::crawl::CrawlStore;
use switchboard_core::crawl::{JobKind, NewJob};
use switchboard_core::embed::{EmbedFailure, TextEmbedder};
use switchboard_core::knowledge::{IndexDoc, KnowledgeSource};
use switchboard_server::config::EmbedderChoice;
use switchboard_store::SqliteStore;
use switchboard_tests::{TestServer, config};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Real words with their frequency rank, from text the project ships.
fn vocabulary() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "tests/eval/spokesmith/site",
        "tests/eval/salon/site",
        "assets/demo/site",
        "tests/eval/spokesmith",
        "assets/demo",
    ] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            files.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let mut in_tag = false;
        let mut word = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag && c.is_ascii_alphabetic() => word.push(c.to_ascii_lowercase()),
                _ => {
                    if word.len() >= 3 {
                        *counts.entry(std::mem::take(&mut word)).or_default() += 1;
                    }
                    word.clear();
                }
            }
        }
    }
    let mut words: Vec<(String, usize)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert!(words.len() > 1000, "the vocabulary comes from the eval sites ({} words)", words.len());
    words.into_iter().map(|(w, _)| w).collect()
}

/// Zipf-like draw over ranks: P(rank r) ∝ 1 / (r + 10).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        let cumulative = (0..n)
            .map(|r| {
                acc += 1.0 / (r as f64 + 10.0);
                acc
            })
            .collect();
        Zipf { cumulative }
    }

    fn draw(&self, rng: &mut StdRng) -> usize {
        let x = rng.random::<f64>() * self.cumulative[self.cumulative.len() - 1];
        self.cumulative.partition_point(|c| *c < x).min(self.cumulative.len() - 1)
    }
}

fn sentence(words: &[String], zipf: &Zipf, rng: &mut StdRng, n: usize) -> String {
    let mut s: Vec<&str> = (0..n).map(|_| words[zipf.draw(rng)].as_str()).collect();
    let first = s[0].to_string();
    let mut c = first.chars();
    let capital: String = c.next().map(|f| f.to_ascii_uppercase()).into_iter().chain(c).collect();
    s[0] = &capital;
    format!("{}.", s.join(" "))
}

fn passages(n: usize, words: &[String]) -> Vec<(String, String)> {
    let zipf = Zipf::new(words.len());
    let mut rng = StdRng::seed_from_u64(7);
    (0..n)
        .map(|i| {
            let title = sentence(words, &zipf, &mut rng, 4).trim_end_matches('.').to_string();
            let len = rng.random_range(40..=70);
            let mut body = Vec::new();
            let mut left = len;
            while left > 0 {
                let k = left.min(rng.random_range(8..=16));
                body.push(sentence(words, &zipf, &mut rng, k));
                left -= k;
            }
            (format!("{title} ({i})"), body.join(" "))
        })
        .collect()
}

fn queries(n: usize, words: &[String]) -> Vec<String> {
    let zipf = Zipf::new(words.len());
    let mut rng = StdRng::seed_from_u64(11);
    let openers = ["Do you have", "What about", "Can you tell me about", "How much is", "Is there", ""];
    (0..n)
        .map(|_| {
            let k = rng.random_range(2..=6);
            let terms: Vec<&str> = (0..k).map(|_| words[zipf.draw(&mut rng)].as_str()).collect();
            let opener = openers[rng.random_range(0..openers.len())];
            format!("{opener} {}?", terms.join(" ")).trim().to_string()
        })
        .collect()
}

/// Real query vectors; for passages, one of a fixed set of real passage
/// vectors with deterministic noise (see the module doc).
struct BenchEmbedder {
    real: Arc<switchboard_embed::Embedder>,
    anchors: Mutex<Vec<Vec<f32>>>,
    anchor_texts: Vec<String>,
}

impl BenchEmbedder {
    fn anchors(&self) -> Result<Vec<Vec<f32>>, EmbedFailure> {
        let mut a = self.anchors.lock().unwrap();
        if a.is_empty() {
            let started = Instant::now();
            for chunk in self.anchor_texts.chunks(32) {
                let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
                a.extend(self.real.embed_batch(&texts).map_err(|e| EmbedFailure(e.to_string()))?);
            }
            println!("  ({} real passage vectors computed in {:.1} s)", a.len(), started.elapsed().as_secs_f64());
        }
        Ok(a.clone())
    }
}

impl TextEmbedder for BenchEmbedder {
    fn model_id(&self) -> &str {
        self.real.model_id()
    }

    fn dim(&self) -> usize {
        switchboard_embed::DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedFailure> {
        // Questions are short; passages are not.
        if texts.iter().all(|t| t.len() < 200) {
            return self.real.embed_batch(texts).map_err(|e| EmbedFailure(e.to_string()));
        }
        let anchors = self.anchors()?;
        Ok(texts
            .iter()
            .map(|t| {
                let seed = t.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
                let mut rng = StdRng::seed_from_u64(seed);
                let base = &anchors[(seed % anchors.len() as u64) as usize];
                let mut v: Vec<f32> = base.iter().map(|x| x + rng.random_range(-0.02f32..0.02)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect())
    }
}

fn hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn line(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<40} p50 {:>9}  p99 {:>9}  max {:>9}  ({} queries)",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.len()
    );
}

/// Fills a data directory with the passages, as a crawl would have stored
/// them, and starts the app once so their vectors are computed and stored.
async fn prepare(dir: &Path, corpus: &[(String, String)], embedder: Arc<dyn TextEmbedder>) {
    let store = SqliteStore::open(&dir.join("switchboard.sqlite")).await.unwrap();
    let at = switchboard_core::time::now();
    let job = uuid::Uuid::now_v7();
    let new = NewJob {
        id: job,
        url: "https://docs.example.org/".into(),
        site: "docs.example.org".into(),
        kind: JobKind::Onboard,
        max_pages: (corpus.len() / 10) as u32,
        max_depth: 3,
        include: Vec::new(),
        exclude: Vec::new(),
        config: "{}".into(),
        at,
    };
    store.insert_job(&new).await.unwrap();
    for (page, chunk) in corpus.chunks(10).enumerate() {
        let url = format!("https://docs.example.org/page/{page}");
        let docs: Vec<IndexDoc> = chunk
            .iter()
            .enumerate()
            .map(|(i, (title, body))| IndexDoc {
                id: switchboard_crawl::page_doc_id(&url, i),
                kind: KnowledgeSource::Page,
                question: title.clone(),
                answer: body.clone(),
                topic: None,
                url: Some(url.clone()),
                source_request_id: None,
            })
            .collect();
        store
            .save_indexed_page("docs.example.org", job, &docs[0].question, &format!("h{page}"), &docs, at)
            .await
            .unwrap();
    }
    store.close().await;
    let started = Instant::now();
    let mut c = config(dir);
    c.embedder = EmbedderChoice::Given(embedder);
    TestServer::start(c).await.stop().await;
    println!(
        "  (first start: {} passages indexed and their vectors stored in {:.1} s)",
        corpus.len(),
        started.elapsed().as_secs_f64()
    );
}

async fn over_http(dir: &Path, embedder: EmbedderChoice, qs: &[String]) -> (Duration, Histogram<u64>) {
    // No index on disk: the start rebuilds it from the database.
    let _ = std::fs::remove_dir_all(dir.join("index"));
    let mut c = config(dir);
    c.embedder = embedder;
    let started = Instant::now();
    let server = TestServer::start(c).await;
    let rebuild = started.elapsed();
    let mut h = hist();
    let mut found = 0usize;
    for q in qs {
        let url =
            reqwest::Url::parse_with_params(&server.url("/api/knowledge-base"), &[("q", q.as_str()), ("limit", "10")])
                .unwrap();
        let t = Instant::now();
        let resp = server.client.get(url).bearer_auth(switchboard_tests::TOKEN).send().await.unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        let took = t.elapsed();
        found += usize::from(body.as_array().is_some_and(|a| !a.is_empty()));
        h.record(took.as_micros().max(1) as u64).unwrap();
    }
    assert!(found * 10 >= qs.len() * 9, "most queries find passages ({found}/{})", qs.len());
    server.stop().await;
    (rebuild, h)
}

async fn fts5(corpus: &[(String, String)], qs: &[String]) -> (Duration, Histogram<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("fts.sqlite"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    let started = Instant::now();
    sqlx::query("CREATE VIRTUAL TABLE passages USING fts5(title, body, tokenize = 'porter unicode61')")
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for (title, body) in corpus {
        sqlx::query("INSERT INTO passages (title, body) VALUES (?, ?)")
            .bind(title)
            .bind(body)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let build = started.elapsed();
    let mut h = hist();
    for q in qs {
        // Each word a quoted term, any of them, without the stop words our
        // analyzer drops too (FTS5 has no stop-word list: with them, most
        // queries match most passages): FTS5's BM25 ranks the rest.
        let m = q
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .filter(|w| w.len() > 1 && !switchboard_knowledge::STOP_WORDS.contains(&w.as_str()))
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" OR ");
        if m.is_empty() {
            continue;
        }
        let t = Instant::now();
        let rows = sqlx::query("SELECT rowid, title, body FROM passages WHERE passages MATCH ? ORDER BY rank LIMIT 10")
            .bind(&m)
            .fetch_all(&pool)
            .await
            .unwrap();
        h.record(t.elapsed().as_micros().max(1) as u64).unwrap();
        let _: i64 = rows.first().map_or(0, |r| r.get(0));
    }
    pool.close().await;
    (build, h)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let n = env_or("BENCH_PASSAGES", 100_000);
    let nq = env_or("BENCH_QUERIES", 1_000);
    rt.block_on(async {
        println!(
            "switchboard search benchmark ({} cores)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let words = vocabulary();
        let corpus = passages(n, &words);
        let qs = queries(nq, &words);
        println!("corpus: {n} passages (vocabulary {} words), {nq} queries", words.len());
        let real = match switchboard_embed::Embedder::load(&switchboard_embed::default_model_dir()) {
            Ok(e) => Arc::new(e),
            Err(e) => panic!("the embedding model is needed ({e}); run `make setup-test`"),
        };
        let anchor_texts =
            corpus.iter().step_by((n / 1000).max(1)).take(1000).map(|(t, b)| format!("{t}\n{b}")).collect();
        let embedder: Arc<dyn TextEmbedder> =
            Arc::new(BenchEmbedder { real: real.clone(), anchors: Mutex::new(Vec::new()), anchor_texts });

        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), &corpus, embedder.clone()).await;

        let (rebuild, hybrid) = over_http(dir.path(), EmbedderChoice::Given(embedder), &qs).await;
        println!("index rebuild at start (hybrid):        {:.1} s  (target ≤ 30 s)", rebuild.as_secs_f64());
        line("GET /api/knowledge-base?q= hybrid", &hybrid);
        let (rebuild_bm25, bm25) = over_http(dir.path(), EmbedderChoice::Off, &qs).await;
        println!("index rebuild at start (BM25 alone):    {:.1} s", rebuild_bm25.as_secs_f64());
        line("GET /api/knowledge-base?q= BM25 alone", &bm25);

        let mut embed = hist();
        for q in qs.iter().take(200) {
            let t = Instant::now();
            real.embed(q).unwrap();
            embed.record(t.elapsed().as_micros().max(1) as u64).unwrap();
        }
        line("  of which: embedding one query", &embed);

        let (build, fts) = fts5(&corpus, &qs).await;
        println!("SQLite FTS5 build:                      {:.1} s", build.as_secs_f64());
        line("SQLite FTS5 MATCH (in-process)", &fts);
        println!("target: hybrid p99 ≤ 10 ms over HTTP, rebuild ≤ 30 s");
    });
}
