//! Crawls one site with the standard pipeline into a counting sink and prints
//! what it took: the crawler half of `scripts/crawl-compare.sh`.
//!
//! `cargo run --release -p switchboard-crawl --example crawl_site -- URL [--max-pages N] [--max-depth N]`
//!
//! Loopback and private addresses are allowed (the compared site is served on
//! 127.0.0.1); everything else is `CrawlConfig::default()`, i.e. what a job
//! started by `POST /api/onboard` runs with.

use std::sync::atomic::Ordering;
use std::time::Instant;

use switchboard_crawl::{CountingSink, CrawlConfig, CrawlJob, CrawlProgress, Crawler};
use tokio_util::sync::CancellationToken;

fn usage() -> ! {
    eprintln!("usage: crawl_site URL [--max-pages N] [--max-depth N]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = CrawlConfig { max_pages: 10_000, max_depth: 10, allow_private: true, ..CrawlConfig::default() };
    while let Some(a) = args.next() {
        let mut number = || args.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match a.as_str() {
            "--max-pages" => config.max_pages = number() as usize,
            "--max-depth" => config.max_depth = number() as u32,
            _ if a.starts_with("--") => usage(),
            _ => config.start_url = a,
        }
    }
    if config.start_url.is_empty() {
        usage();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let job = CrawlJob { config, ..Default::default() };
        let sink = CountingSink::default();
        let progress = |_: &CrawlProgress| {};
        let started = Instant::now();
        let report = Crawler::crawl(&job, &sink, &progress, &CancellationToken::new()).await;
        let secs = started.elapsed().as_secs_f64();
        let pages = sink.pages.load(Ordering::Relaxed);
        println!(
            "pages={pages} passages={} skipped={} fetched={} seconds={secs:.2} pages_per_s={:.1} state={:?}",
            sink.passages.load(Ordering::Relaxed),
            sink.skipped.load(Ordering::Relaxed),
            report.progress.fetched,
            pages as f64 / secs,
            report.state,
        );
        if let Some(e) = report.error {
            eprintln!("crawl error: {e}");
        }
        eprintln!("skips: {:?}", report.progress.skipped);
    });
}
