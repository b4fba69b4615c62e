//! The adaptive throttle against local fixture sites (127.0.0.1 only):
//! Crawl-delay, Retry-After, back-off on 503, slowing and fast servers.

mod fixture;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use fixture::{Arrival, Fixture, Kind, Recorder, RetryAfter};
use switchboard_crawl::{Baseline, CrawlConfig, CrawlJob, CrawlReport, Crawler, JobState};
use tokio_util::sync::CancellationToken;

async fn crawl(config: CrawlConfig) -> (CrawlReport, Recorder) {
    let sink = Recorder::default();
    let job = CrawlJob { config, baseline: Baseline::Fresh };
    let report = Crawler::crawl(&job, &sink, &|_| {}, &CancellationToken::new()).await;
    assert_eq!(report.state, JobState::Done, "{:?}", report.error);
    (report, sink)
}

/// The Small site's skips when every page answers: the nav's /about and
/// /contact are 404 there.
fn small_skips() -> BTreeMap<String, u64> {
    BTreeMap::from([("http_status(404)".to_string(), 2)])
}

fn of<'a>(arrivals: &'a [Arrival], path: &str) -> Vec<&'a Arrival> {
    arrivals.iter().filter(|a| a.path == path).collect()
}

#[tokio::test]
async fn robots_crawl_delay_spaces_every_request() {
    let fx = Fixture::start(Kind::Small).await;
    fx.faults.lock().unwrap().robots = Some("User-agent: *\nCrawl-delay: 0.2\n".into());
    // No configured delay: the floor is the site's own.
    let config = CrawlConfig { max_pages: 3, ..fx.config() };
    assert_eq!(config.delay_ms, 0);
    let started = Instant::now();
    let (report, _) = crawl(config).await;
    assert_eq!(report.progress.indexed, 3);
    // robots.txt, home, sitemap, /about, /contact, /p/1, /p/2.
    assert_eq!(fx.hits().len(), 7, "{:?}", fx.hits());
    // Measured on arrival: a new connection's handshake can shift one by a
    // few milliseconds on a loaded machine.
    assert!(fx.min_gap() >= Duration::from_millis(180), "{:?}", fx.min_gap());
    assert!(fx.max_in_flight() == 1);
    // ...and no slower than it has to be.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn retry_after_pauses_the_host_then_the_page_succeeds() {
    let fx = Fixture::start(Kind::Small).await;
    {
        let mut f = fx.faults.lock().unwrap();
        // Delay-seconds on a 429, an HTTP date on a 503.
        f.script.insert("/p/3".into(), VecDeque::from([(StatusCode::TOO_MANY_REQUESTS, Some(RetryAfter::Seconds(1)))]));
        f.script
            .insert("/p/7".into(), VecDeque::from([(StatusCode::SERVICE_UNAVAILABLE, Some(RetryAfter::DateIn(1)))]));
    }
    let (report, sink) = crawl(CrawlConfig { use_sitemaps: false, ..fx.config() }).await;
    assert_eq!(report.progress.indexed, 14);
    assert_eq!(report.progress.skipped, small_skips());
    assert_eq!(report.progress.errors, 0);
    assert_eq!(report.progress.fetched, 16, "a retried page is fetched once as far as the counts go");
    for p in ["/p/3", "/p/7"] {
        assert!(sink.page_urls().contains(&format!("{}{p}", fx.origin())));
    }

    let arrivals = fx.arrivals();
    for (path, first) in [("/p/3", 429), ("/p/7", 503)] {
        let tries = of(&arrivals, path);
        assert_eq!(tries.len(), 2, "{path}: {tries:?}");
        assert_eq!(tries[0].status, Some(first));
        assert_eq!(tries[1].status, Some(200));
        let waited = tries[1].at - tries[0].at;
        assert!(waited >= Duration::from_millis(990), "{path} was asked again after {waited:?}");
    }
    // The whole host waits, not just the page: once the first throttled
    // answer is in, only requests already sent arrive for a second.
    let t0 = arrivals.iter().find(|a| matches!(a.status, Some(429 | 503))).unwrap().at;
    let during: Vec<_> = arrivals
        .iter()
        .filter(|a| a.at > t0 + Duration::from_millis(100) && a.at < t0 + Duration::from_millis(900))
        .collect();
    assert!(during.is_empty(), "{during:?}");
}

#[tokio::test]
async fn a_503_storm_backs_off_and_the_counts_are_exact() {
    let fx = Fixture::start(Kind::Small).await;
    fx.faults.lock().unwrap().storm = 10;
    let config = CrawlConfig { use_sitemaps: false, backoff_ms: 20, max_delay_ms: 500, max_retries: 10, ..fx.config() };
    let started = Instant::now();
    let (report, sink) = crawl(config).await;
    // Exactly what a calm crawl of the site finds.
    assert_eq!(report.progress.indexed, 14);
    assert_eq!(report.progress.skipped, small_skips());
    assert_eq!(report.progress.errors, 0);
    assert_eq!(report.progress.fetched, 16);
    assert_eq!(sink.page_urls().len(), 14);
    assert_eq!(report.pages.len(), 14);

    let arrivals = fx.arrivals();
    let storm: Vec<_> = arrivals.iter().filter(|a| a.status == Some(503)).collect();
    assert_eq!(storm.len(), 10);
    // Backed off: the window halves (4, 2, 1 request at a time) and the
    // pauses double (20, 40, 80, 160, 320, then 500 ms), so ten answers take
    // at least six rounds and over a second, instead of arriving back to back.
    let recovered = arrivals.iter().find(|a| a.at > storm[0].at && a.status != Some(503)).unwrap();
    let lasted = recovered.at - storm[0].at;
    assert!(lasted >= Duration::from_millis(1_000), "the storm was over in {lasted:?}");
    let after_first_round = storm[0].at + Duration::from_millis(15);
    assert!(storm.iter().filter(|a| a.at > after_first_round).all(|a| a.in_flight <= 2), "{storm:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_slowing_server_gets_fewer_requests_at_once() {
    const PAGES: u32 = 30;
    const SLOW_AFTER: usize = 14;
    let fx = Fixture::start(Kind::Wide(PAGES)).await;
    {
        let mut f = fx.faults.lock().unwrap();
        f.latency = Duration::from_millis(25);
        f.slow_after = Some((SLOW_AFTER, Duration::from_millis(200)));
    }
    let (report, _) = crawl(CrawlConfig { use_sitemaps: false, ..fx.config() }).await;
    assert_eq!(report.progress.indexed, u64::from(PAGES) + 1);

    let arrivals = fx.arrivals();
    let fast = arrivals[..SLOW_AFTER].iter().map(|a| a.in_flight).max().unwrap();
    assert!(fast >= 2, "while the server is fast, several requests are in flight: {fast}");
    // The slow answers come back after 200 ms; the window halves at most
    // once per (rising) latency, so from about 600 ms on it is down to one.
    let slowed = arrivals[SLOW_AFTER].at;
    let late: Vec<usize> =
        arrivals.iter().filter(|a| a.at > slowed + Duration::from_millis(800)).map(|a| a.in_flight).collect();
    assert!(late.len() >= 8, "{late:?}");
    assert!(late.iter().all(|n| *n == 1), "once the server slowed down: {late:?}");
}

#[tokio::test]
async fn a_fast_server_gets_several_requests_at_once() {
    const PAGES: u32 = 40;
    let fx = Fixture::start(Kind::Wide(PAGES)).await;
    fx.faults.lock().unwrap().latency = Duration::from_millis(50);
    let config = CrawlConfig { use_sitemaps: false, per_host_concurrency: 6, ..fx.config() };
    assert_eq!(config.delay_ms, 0);
    let started = Instant::now();
    let (report, _) = crawl(config).await;
    let took = started.elapsed();
    assert_eq!(report.progress.indexed, u64::from(PAGES) + 1);
    let most = fx.max_in_flight();
    assert!((2..=6).contains(&most), "at most per_host_concurrency, and more than one: {most}");
    // robots.txt, home, then the pages: one at a time would take 42 × 50 ms.
    let serial = Duration::from_millis(50) * (PAGES + 2);
    assert!(took < serial, "{took:?} (one at a time: {serial:?})");
}
