//! A hostile site (127.0.0.1 only): a home page of 100,000 links, a 2 MB
//! robots.txt naming 20 sitemaps of 50,000 entries each, pages nested
//! 100,000 elements deep, and endless fresh links. The crawl must finish,
//! keep to its page limit, its fetch budget, its bound on remembered URLs
//! and on stored skip rows, and stay within bounded memory and time.

mod fixture;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::response::{Html, IntoResponse};
use fixture::Recorder;
use switchboard_crawl::crawler::{MAX_SEEN, MAX_SKIPPED_ROWS};
use switchboard_crawl::{Baseline, CrawlConfig, CrawlJob, Crawler, JobState};
use tokio_util::sync::CancellationToken;

const LINKS: usize = 100_000;
const SITEMAPS: usize = 20;
const SITEMAP_ENTRIES: usize = 50_000;

fn words(n: usize) -> String {
    (0..n).map(|i| format!("word{} ", i % 97)).collect()
}

async fn hostile_site(hits: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = format!("http://{addr}");
    let robots = {
        let mut r = String::from("User-agent: *\n");
        for i in 0..SITEMAPS {
            r.push_str(&format!("Sitemap: {origin}/sitemap-{i}.xml\n"));
        }
        let mut i = 0;
        while r.len() < 2 * 1024 * 1024 {
            r.push_str(&format!("Disallow: /private/{i}/\n"));
            i += 1;
        }
        r
    };
    let home = {
        let mut h = String::from("<html><head><title>Home</title></head><body><main><h1>Home</h1><p>");
        h.push_str(&words(300));
        h.push_str("</p>");
        for i in 0..LINKS {
            h.push_str(&format!("<a href=\"/l/{i}\">link {i}</a>"));
        }
        h.push_str("<a href=\"/deep\">deep</a></main></body></html>");
        h
    };
    let sitemap = move |i: usize| {
        let mut s = String::from("<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">");
        for k in 0..SITEMAP_ENTRIES {
            s.push_str(&format!("<url><loc>{origin}/s/{i}/{k}</loc></url>"));
        }
        s.push_str("</urlset>");
        s
    };
    let page = |name: String| {
        // Every page links to fresh pages: the site never ends.
        Html(format!(
            "<html><head><title>{name}</title></head><body><main><h1>{name}</h1><p>{}</p>\
             <a href=\"/l/{name}-a\">a</a> <a href=\"/l/{name}-b\">b</a></main></body></html>",
            words(250)
        ))
    };
    let deep = format!("<html><body>{}<p>{}</p></body></html>", "<div>".repeat(100_000), words(300));
    let count = move |hits: &Arc<AtomicU64>| {
        hits.fetch_add(1, Ordering::Relaxed);
    };
    let (h1, h2, h3, h4, h5) = (hits.clone(), hits.clone(), hits.clone(), hits.clone(), hits);
    let app = axum::Router::new()
        .route(
            "/robots.txt",
            axum::routing::get(move || async move {
                count(&h1);
                robots
            }),
        )
        .route(
            "/",
            axum::routing::get(move || async move {
                count(&h2);
                Html(home)
            }),
        )
        .route(
            "/deep",
            axum::routing::get(move || async move {
                count(&h3);
                Html(deep)
            }),
        )
        .route(
            "/{file}",
            axum::routing::get(move |Path(file): Path<String>| async move {
                count(&h4);
                match file.strip_prefix("sitemap-").and_then(|f| f.strip_suffix(".xml")).and_then(|n| n.parse().ok()) {
                    Some(i) => ([(axum::http::header::CONTENT_TYPE, "application/xml")], sitemap(i)).into_response(),
                    None => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .route(
            "/{kind}/{*rest}",
            axum::routing::get(move |Path((kind, rest)): Path<(String, String)>| async move {
                count(&h5);
                page(format!("{kind}-{}", rest.replace('/', "-")))
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_site_is_crawled_within_bounds() {
    let hits = Arc::new(AtomicU64::new(0));
    let addr = hostile_site(hits.clone()).await;
    let config = CrawlConfig {
        start_url: format!("http://{addr}/"),
        allow_private: true,
        max_pages: 40,
        max_depth: 10,
        delay_ms: 0,
        timeout_ms: 5_000,
        // Room for the 2 MB robots.txt, the 3 MB sitemaps and the 2.8 MB home page.
        max_body_bytes: 8 * 1024 * 1024,
        ..CrawlConfig::default()
    };
    let sink = Recorder::default();
    let rss_before = rss_kib();
    let started = Instant::now();
    let job = CrawlJob { config, baseline: Baseline::Fresh };
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        Crawler::crawl(&job, &sink, &|_| {}, &CancellationToken::new()),
    )
    .await
    .expect("the crawl finishes within 2 minutes");
    let took = started.elapsed();
    let rss_after = rss_kib();
    let p = &report.progress;
    let skip_rows = sink.skips.lock().unwrap().len() as u64;
    let pages = sink.pages.lock().unwrap().len();
    let requests = hits.load(Ordering::Relaxed);
    println!(
        "hostile site: {took:.1?}, {requests} requests, {pages} pages kept, {} discovered, {skip_rows} skip rows, \
         resident memory {} → {} MiB",
        p.discovered,
        rss_before / 1024,
        rss_after / 1024
    );
    assert_eq!(report.state, JobState::Done, "{:?}", report.error);
    assert_eq!(pages, 40, "the page limit is kept exactly");
    assert!(p.discovered <= MAX_SEEN as u64, "{} URLs remembered", p.discovered);
    assert!(skip_rows <= MAX_SKIPPED_ROWS, "{skip_rows} skip rows stored");
    // robots.txt, the sitemaps, and at most ten fetches per kept page.
    assert!(requests <= 1 + SITEMAPS as u64 + 400, "{requests} requests");
    // Bounded memory: the remembered URLs and parsed pages, not the site.
    assert!(rss_after.saturating_sub(rss_before) < 400 * 1024, "memory grew {} MiB", (rss_after - rss_before) / 1024);
}
