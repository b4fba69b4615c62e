//! Crawl throughput: a generated local site of 10,000 pages (axum on
//! 127.0.0.1), crawled by the crawl library with its default settings (the
//! adaptive throttle decides the pace from the site's latency, as for a
//! real job) into a counting sink. Prints pages per second and the
//! crawler's peak RSS.
//!
//! For a real documentation site next to wget and Scrapy, see
//! `scripts/crawl-compare.sh`.
//!
//! The site is served by a child process (this same binary, re-executed with
//! `CRAWL_BENCH_SERVE=1`), so the peak RSS read from this process's
//! `/proc/self/status` (VmHWM) is the crawler's own, runtime included.
//!
//! `cargo bench -p switchboard-tests --bench crawl`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use switchboard_crawl::{CountingSink, CrawlConfig, CrawlJob, CrawlProgress, Crawler};
use tokio_util::sync::CancellationToken;

const PAGES: usize = 10_000;
/// Links per page: page i links to pages FANOUT·i + 1 ..= FANOUT·i + FANOUT.
const FANOUT: usize = 10;

fn main() {
    if std::env::var_os("CRAWL_BENCH_SERVE").is_some() {
        serve_site();
        return;
    }
    // `cargo bench` passes `--bench`; nothing else to parse.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(bench());
}

fn serve_site() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let app = Router::new().route("/", get(|| async { page(0) })).route(
            "/p/{name}",
            get(|Path(name): Path<String>| async move {
                // `n123`, not `123`: a bare number like 2024 looks like a
                // calendar year to the trap detector.
                page(name.strip_prefix('n').and_then(|n| n.parse().ok()).unwrap_or(usize::MAX))
            }),
        );
        axum::serve(listener, app).await.unwrap();
    });
}

const WORDS: &[&str] = &[
    "salon",
    "colour",
    "appointment",
    "balayage",
    "stylist",
    "booking",
    "gift",
    "parking",
    "weekend",
    "treatment",
    "fringe",
    "curl",
    "gloss",
    "deposit",
    "walk-in",
    "product",
    "shampoo",
    "conditioner",
    "trim",
    "updo",
];

fn page(n: usize) -> Response {
    if n >= PAGES {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let mut body = String::with_capacity(4096);
    body.push_str(&format!("<!doctype html><html><head><title>Page {n}</title></head><body><nav><a href=\"/\">Home</a></nav><main><h1>Page {n}</h1>"));
    for section in 0..3 {
        body.push_str(&format!("<h2>Section {section} of page {n}</h2><p>"));
        for w in 0..70 {
            body.push_str(WORDS[(n * 7 + section * 13 + w * 3) % WORDS.len()]);
            body.push_str(if w % 12 == 11 { ". " } else { " " });
        }
        body.push_str(&format!("Reference number {n}-{section}.</p>"));
    }
    body.push_str("<ul>");
    for c in 1..=FANOUT {
        let child = FANOUT * n + c;
        if child < PAGES {
            body.push_str(&format!("<li><a href=\"/p/n{child}\">Page {child}</a></li>"));
        }
    }
    body.push_str("</ul></main><footer>Generated site</footer></body></html>");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Peak resident set size of this process, in kB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn bench() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env("CRAWL_BENCH_SERVE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the site server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().to_string();

    let before = peak_rss_kb();
    let config = CrawlConfig {
        start_url: format!("http://{addr}/"),
        max_pages: PAGES,
        max_depth: 10,
        use_sitemaps: false,
        allow_private: true,
        ..CrawlConfig::default()
    };
    let job = CrawlJob { config, ..Default::default() };
    let sink = CountingSink::default();
    let progress = |_: &CrawlProgress| {};
    let cancel = CancellationToken::new();
    let start = Instant::now();
    let report = Crawler::crawl(&job, &sink, &progress, &cancel).await;
    let secs = start.elapsed().as_secs_f64();
    let peak = peak_rss_kb();
    let _ = child.kill();
    let _ = child.wait();

    let pages = sink.pages.load(Ordering::Relaxed);
    println!(
        "crawl: {pages} pages ({} passages, {} skipped) in {secs:.2} s, state {:?}",
        sink.passages.load(Ordering::Relaxed),
        sink.skipped.load(Ordering::Relaxed),
        report.state
    );
    println!(
        "crawl: {:.0} pages/s (default settings: adaptive throttle, {} pages and {} requests at once at most; site served by a child process)",
        pages as f64 / secs,
        job.config.concurrency,
        job.config.per_host_concurrency,
    );
    println!(
        "crawl: peak RSS {:.1} MB (crawler process; {:.1} MB before the crawl)",
        peak as f64 / 1024.0,
        before as f64 / 1024.0
    );
    assert_eq!(pages as usize, PAGES, "every page is indexed");
}
