//! End-to-end crawls of local fixture sites (127.0.0.1 only).

mod fixture;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixture::{Fixture, Kind, Recorder, SITE};
use switchboard_core::{Coded, ErrorCode};
use switchboard_crawl::{
    Baseline, CrawlConfig, CrawlError, CrawlJob, CrawlProgress, CrawlReport, Crawler, JobState, SkipReason, TrapLimits,
    page_doc_id,
};
use tokio_util::sync::CancellationToken;

async fn crawl(config: CrawlConfig, baseline: Baseline, sink: &Recorder) -> (CrawlReport, Vec<CrawlProgress>) {
    let seen = Mutex::new(Vec::new());
    let observer = |p: &CrawlProgress| seen.lock().unwrap().push(p.clone());
    let job = CrawlJob { config, baseline };
    let report = Crawler::crawl(&job, sink, &observer, &CancellationToken::new()).await;
    (report, seen.into_inner().unwrap())
}

fn counts(report: &CrawlReport) -> BTreeMap<String, u64> {
    report.progress.skipped.clone()
}

#[tokio::test]
async fn every_trap_is_handled_with_exact_counts() {
    let fx = Fixture::start(Kind::Traps).await;
    let o = fx.origin();
    let config = CrawlConfig {
        max_depth: 3,
        max_redirects: 5,
        exclude: vec!["/excluded/**".into()],
        traps: TrapLimits { max_dated_variants: 2, ..TrapLimits::default() },
        ..fx.config()
    };
    let sink = Recorder::default();
    let started = Instant::now();
    let (report, seen) = crawl(config, Baseline::Fresh, &sink).await;
    assert_eq!(report.state, JobState::Done, "{:?}", report.error);
    assert!(started.elapsed() < Duration::from_secs(4), "the slow page must time out after 1 s");

    let mut want: Vec<String> = [
        "/",
        "/about",
        "/services",
        "/team",
        "/contact",
        "/calendar?month=1",
        "/calendar?month=2",
        "/deep/1",
        "/deep/2",
        "/deep/3",
        "/malformed",
        "/notes",
        "/from-sitemap",
    ]
    .iter()
    .map(|p| format!("{o}{p}"))
    .collect();
    // The team page lives at two paths; whichever came first is indexed.
    let got = sink.page_urls();
    if got.contains(&format!("{o}/about-us/team")) {
        want.retain(|u| *u != format!("{o}/team"));
        want.push(format!("{o}/about-us/team"));
    }
    want.sort();
    assert_eq!(got, want);
    assert_eq!(report.progress.indexed, 13);

    let expected: BTreeMap<String, u64> = [
        ("duplicate_url", 2), // /services/print (rel=canonical) or /services; /old (→ /contact) or /contact
        ("duplicate_content", 1), // /team vs /about-us/team
        ("redirect_loop", 1),
        ("too_many_redirects", 1),
        ("infinite_space", 1), // /calendar?month=3
        ("depth_limit", 1),    // /deep/4
        ("robots_disallowed", 1),
        ("too_large", 2), // with and without Content-Length
        ("not_html", 3),  // .png, .pdf by extension; /download by content type
        ("timeout", 1),
        ("http_status(404)", 1),
        ("http_status(500)", 1),
        ("noindex", 1),
        ("off_site", 1),
        ("excluded_pattern", 1),
        ("empty", 1),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    assert_eq!(counts(&report), expected);
    assert_eq!(report.progress.errors, 4, "loop, too many redirects, timeout, 500 (and nothing else)");
    assert_eq!(sink.skips.lock().unwrap().len() as u64, report.progress.skipped_total());
    assert_eq!(sink.skips_of("robots_disallowed"), vec![format!("{o}/private/secret")]);
    assert_eq!(sink.skips_of("infinite_space"), vec![format!("{o}/calendar?month=3")]);
    assert_eq!(sink.skips_of("depth_limit"), vec![format!("{o}/deep/4")]);
    assert_eq!(sink.skips_of("redirect_loop"), vec![format!("{o}/loop-a")]);

    // Every variant of /about (slash, fragment, tracking and session params,
    // the www alias) was one URL, fetched once.
    assert_eq!(fx.hits_of("/about"), 1);
    assert_eq!(fx.hits().iter().filter(|h| h.starts_with("/about") && !h.starts_with("/about-us")).count(), 1);
    assert_eq!(fx.hosts(), vec![format!("{SITE}:{}", fx.port())], "the www alias is folded into the apex");
    // Skipped before any request.
    for p in ["/logo.png", "/menu.pdf", "/private/secret", "/excluded/page", "/calendar?month=3", "/deep/4"] {
        assert_eq!(fx.hits_of(p), 0, "{p} must not be requested");
    }
    assert_eq!(fx.hits_of("/robots.txt"), 1);
    assert_eq!(fx.hits_of("/sitemap.xml"), 1);
    // Six requests: /r/1 and five redirects followed, the sixth refused.
    assert_eq!(fx.hits().iter().filter(|h| h.starts_with("/r/")).count(), 6);

    // Passages: page kind, canonical URL, title in the question, stable ids,
    // and no boilerplate.
    let pages = sink.pages.lock().unwrap();
    for page in pages.iter() {
        assert!(!page.docs.is_empty());
        assert_eq!(page.content_hash.len(), 64);
        for (i, d) in page.docs.iter().enumerate() {
            assert_eq!(d.kind, switchboard_core::knowledge::KnowledgeSource::Page);
            assert_eq!(d.url.as_deref(), Some(page.url.as_str()));
            assert!(d.question.starts_with(&page.title), "{} / {}", d.question, page.title);
            assert_eq!(d.id, page_doc_id(&page.url, i));
            for marker in ["NAV_MARKER", "FOOTER_MARKER", "SCRIPT_MARKER", "ASIDE_MARKER", "color: red"] {
                assert!(!d.answer.contains(marker), "{marker} leaked into {}", page.url);
            }
        }
    }
    let about = pages.iter().find(|p| p.url == format!("{o}/about")).unwrap();
    assert_eq!(about.docs[0].question, "About us");
    assert!(about.docs[0].answer.contains("our history"));
    let malformed = pages.iter().find(|p| p.url.ends_with("/malformed")).unwrap();
    assert!(malformed.docs[0].answer.contains("nine to five"));
    assert!(malformed.docs[0].answer.contains("Second paragraph"));
    let notes = pages.iter().find(|p| p.url.ends_with("/notes")).unwrap();
    assert_eq!(notes.title, "Notes");

    // Progress was reported as it went and ends equal to the report.
    assert!(seen.len() > 20);
    assert_eq!(seen.last().unwrap(), &report.progress);
    assert_eq!(report.progress.state, JobState::Done);
    assert!(seen.iter().any(|p| p.current_url.is_some()));
    assert_eq!(report.changes.new.len(), 13);
    assert_eq!(report.pages.len(), 13);
}

#[tokio::test]
async fn the_page_limit_is_exact_and_nothing_beyond_it_is_fetched() {
    let fx = Fixture::start(Kind::Small).await;
    let config = CrawlConfig { max_pages: 4, concurrency: 4, per_host_concurrency: 4, ..fx.config() };
    let sink = Recorder::default();
    let (report, _) = crawl(config, Baseline::Fresh, &sink).await;
    assert_eq!(report.state, JobState::Done);
    assert_eq!(sink.pages.lock().unwrap().len(), 4);
    assert_eq!(report.progress.indexed, 4);
    // Home links 13 URLs, in order: the nav's /about and /contact (404 here,
    // which frees their slots), /p/1..10 and /chain/1. Three are kept; the
    // other eight are skipped for the limit (so /chain/2 is never found).
    assert_eq!(report.progress.skipped_for(SkipReason::HttpStatus(404)), 2);
    assert_eq!(report.progress.skipped_for(SkipReason::PageLimit), 8);
    assert_eq!(report.progress.skipped_total(), 10);
    assert_eq!(sink.skips_of("page_limit")[0], format!("{}/chain/1", fx.origin()));
    let page_hits = fx.hits().iter().filter(|h| !h.ends_with(".txt") && !h.ends_with(".xml")).count();
    assert_eq!(page_hits, 6, "{:?}", fx.hits());
    for n in 4..=10 {
        assert_eq!(fx.hits_of(&format!("/p/{n}")), 0);
    }
}

#[tokio::test]
async fn the_depth_limit_is_exact() {
    let fx = Fixture::start(Kind::Small).await;
    let sink = Recorder::default();
    let (report, _) = crawl(CrawlConfig { max_depth: 2, ..fx.config() }, Baseline::Fresh, &sink).await;
    assert_eq!(report.progress.indexed, 13, "home, /p/1..10, /chain/1, /chain/2");
    assert_eq!(sink.skips_of("depth_limit"), vec![format!("{}/chain/3", fx.origin())]);
    assert_eq!(fx.hits_of("/chain/3"), 0);

    let sitemap_reads = fx.hits_of("/sitemap.xml");
    let sink = Recorder::default();
    let (report, _) = crawl(CrawlConfig { max_depth: 0, ..fx.config() }, Baseline::Fresh, &sink).await;
    assert_eq!(report.progress.indexed, 1);
    // Everything the home page links: /about, /contact, /p/1..10, /chain/1.
    assert_eq!(report.progress.skipped_for(SkipReason::DepthLimit), 13);
    assert_eq!(
        fx.hits_of("/sitemap.xml"),
        sitemap_reads,
        "no sitemap is read when nothing past the start may be crawled"
    );
}

#[tokio::test]
async fn cancellation_stops_the_job_mid_crawl() {
    let fx = Fixture::start(Kind::Small).await;
    let token = CancellationToken::new();
    let sink = Recorder { cancel_after: Some((2, token.clone())), ..Recorder::default() };
    let config = CrawlConfig { delay_ms: 50, concurrency: 2, per_host_concurrency: 1, ..fx.config() };
    let job = CrawlJob { config, baseline: Baseline::Fresh };
    let started = Instant::now();
    let report = Crawler::crawl(&job, &sink, &|_| {}, &token).await;
    assert_eq!(report.state, JobState::Cancelled);
    assert!(report.error.is_none());
    assert_eq!(sink.pages.lock().unwrap().len(), 2);
    assert_eq!(report.progress.indexed, 2);
    assert_eq!(report.progress.state, JobState::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(3));
    // Nothing is removed by a cancelled job, and the baseline it leaves has
    // exactly the pages indexed.
    assert_eq!(report.pages.len(), 2);
    assert!(sink.removed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_resumed_job_indexes_nothing_twice() {
    let fx = Fixture::start(Kind::Small).await;
    let first = Recorder::default();
    let (r1, _) = crawl(CrawlConfig { max_pages: 5, ..fx.config() }, Baseline::Fresh, &first).await;
    assert_eq!(r1.progress.indexed, 5);
    let done: HashMap<String, String> = r1.pages.clone().into_iter().collect();

    let second = Recorder::default();
    let (r2, _) = crawl(fx.config(), Baseline::Resume(done.clone()), &second).await;
    assert_eq!(r2.state, JobState::Done);
    assert_eq!(r2.progress.indexed, 9);
    assert_eq!(r2.progress.unchanged, 5);
    let a = first.page_urls();
    let b = second.page_urls();
    assert!(a.iter().all(|u| !b.contains(u)), "indexed twice: {a:?} / {b:?}");
    let mut unchanged = second.unchanged.lock().unwrap().clone();
    unchanged.sort();
    assert_eq!(unchanged, a);
    assert_eq!(r2.pages.len(), 14);
    assert!(second.removed.lock().unwrap().is_empty(), "resuming never removes");
}

#[tokio::test]
async fn a_recrawl_reports_new_changed_unchanged_and_removed() {
    let fx = Fixture::start(Kind::Small).await;
    let o = fx.origin();
    let (r1, _) = crawl(fx.config(), Baseline::Fresh, &Recorder::default()).await;
    assert_eq!(r1.pages.len(), 14);
    {
        let mut st = fx.small.lock().unwrap();
        st.p1_extra = "Now with oat milk.".into();
        st.p2_gone = true;
        st.p3_unlinked = true;
        st.p11 = true;
    }
    let sink = Recorder::default();
    let before: HashMap<String, String> = r1.pages.into_iter().collect();
    let (r2, _) = crawl(fx.config(), Baseline::Recrawl(before), &sink).await;
    assert_eq!(r2.state, JobState::Done);
    let c = &r2.changes;
    assert_eq!(c.new, vec![format!("{o}/p/11")]);
    let mut changed = c.changed.clone();
    changed.sort();
    assert_eq!(changed, vec![format!("{o}/"), format!("{o}/p/1")]);
    assert_eq!(c.removed, vec![format!("{o}/p/2"), format!("{o}/p/3")]);
    assert_eq!(c.unchanged.len(), 10);
    assert_eq!(*sink.removed.lock().unwrap(), c.removed);
    assert_eq!(sink.pages.lock().unwrap().len(), 3, "only new and changed pages are re-indexed");
    assert_eq!(r2.progress.removed, 2);
    assert_eq!(r2.pages.len(), 13);
    assert!(!r2.pages.contains_key(&format!("{o}/p/2")));
}

#[tokio::test]
async fn the_guard_refuses_loopback_unless_allowed() {
    let fx = Fixture::start(Kind::Small).await;
    for start in [format!("http://127.0.0.1:{}/", fx.port()), format!("http://localhost:{}/", fx.port())] {
        let sink = Recorder::default();
        let config = CrawlConfig { start_url: start.clone(), delay_ms: 0, ..CrawlConfig::default() };
        assert!(!config.allow_private);
        let (report, _) = crawl(config, Baseline::Fresh, &sink).await;
        assert_eq!(report.state, JobState::Failed, "{start}");
        assert!(matches!(report.error, Some(CrawlError::Start(SkipReason::BlockedAddress))), "{:?}", report.error);
        assert_eq!(report.error.as_ref().unwrap().code(), ErrorCode::ValidationFailed);
        assert_eq!(report.progress.skipped_for(SkipReason::BlockedAddress), 1);
        assert!(sink.pages.lock().unwrap().is_empty());
    }
    assert!(fx.hits().is_empty(), "no request may reach a refused address: {:?}", fx.hits());

    // The same crawl with the flag on works.
    let sink = Recorder::default();
    let config =
        CrawlConfig { start_url: format!("http://127.0.0.1:{}/", fx.port()), allow_private: true, ..fx.config() };
    let (report, _) = crawl(config, Baseline::Fresh, &sink).await;
    assert_eq!(report.state, JobState::Done);
    assert_eq!(report.progress.indexed, 14);
}

#[tokio::test]
async fn the_guard_checks_every_redirect_hop() {
    let fx = Fixture::start(Kind::Traps).await;
    let lo = "127.0.0.1".parse().unwrap();
    // Only the fixture's own address is allowed; the hop to 127.0.0.2 is not.
    let sink = Recorder::default();
    let config = CrawlConfig {
        start_url: format!("http://127.0.0.1:{}/go-internal", fx.port()),
        allow_private: false,
        allow_addresses: vec![lo],
        ..fx.config()
    };
    let (report, _) = crawl(config.clone(), Baseline::Fresh, &sink).await;
    assert!(matches!(report.error, Some(CrawlError::Start(SkipReason::BlockedAddress))), "{:?}", report.error);
    assert_eq!(fx.hits_of("/go-internal"), 1);

    // A same-site hop (the www alias) whose name resolves to an internal
    // address is refused by the resolver, and the job carries on.
    let sink = Recorder::default();
    let config = CrawlConfig {
        start_url: format!("{}/ssrf-home", fx.origin()),
        use_sitemaps: false,
        resolve: HashMap::from([
            (SITE.to_string(), vec![lo]),
            (format!("www.{SITE}"), vec!["127.0.0.3".parse().unwrap()]),
        ]),
        ..config
    };
    let (report, _) = crawl(config, Baseline::Fresh, &sink).await;
    assert_eq!(report.state, JobState::Done, "{:?}", report.error);
    assert_eq!(sink.skips_of("blocked_address"), vec![format!("{}/go-www", fx.origin())]);
    assert_eq!(report.progress.indexed, 1);
}

#[tokio::test]
async fn bad_configuration_fails_the_job() {
    let sink = Recorder::default();
    for config in [
        CrawlConfig::new("not a url"),
        CrawlConfig::new("ftp://example.com/"),
        CrawlConfig { max_pages: 0, ..CrawlConfig::new("http://example.com/") },
        CrawlConfig { exclude: vec!["[".into()], ..CrawlConfig::new("http://example.com/") },
    ] {
        let (report, _) = crawl(config, Baseline::Fresh, &sink).await;
        assert_eq!(report.state, JobState::Failed);
        let e = report.error.unwrap();
        assert_eq!(e.code(), ErrorCode::ValidationFailed);
        assert_eq!(e.kind(), "invalid_config");
    }
}

#[test]
fn run_is_send_and_jobs_serialise() {
    fn assert_send<T: Send>(_: &T) {}
    let job = CrawlJob { config: CrawlConfig::new("http://example.com/"), baseline: Baseline::Fresh };
    let crawler = Crawler::new(&job.config).unwrap();
    let sink = Recorder::default();
    let token = CancellationToken::new();
    let progress = |_: &CrawlProgress| {};
    let fut = crawler.run(&job, &sink, &progress, &token);
    assert_send(&fut);
    drop(fut);
    let _ = Arc::new(crawler);

    let json = serde_json_roundtrip(&CrawlJob {
        config: CrawlConfig::new("http://example.com/"),
        baseline: Baseline::Recrawl(HashMap::from([("http://example.com/".into(), "ab".into())])),
    });
    assert!(json.contains("\"mode\":\"recrawl\""), "{json}");
}

fn serde_json_roundtrip(job: &CrawlJob) -> String {
    let s = serde_json::to_string(job).unwrap();
    let back: CrawlJob = serde_json::from_str(&s).unwrap();
    assert_eq!(&back, job);
    s
}

#[tokio::test]
async fn requests_to_a_host_are_spaced_by_the_politeness_delay() {
    let fx = Fixture::start(Kind::Small).await;
    let config = CrawlConfig { max_pages: 3, delay_ms: 150, concurrency: 4, per_host_concurrency: 2, ..fx.config() };
    let (report, _) = crawl(config, Baseline::Fresh, &Recorder::default()).await;
    assert_eq!(report.progress.indexed, 3);
    // robots.txt, home, sitemap, /about, /contact, /p/1, /p/2.
    assert_eq!(fx.hits().len(), 7, "{:?}", fx.hits());
    // Measured on arrival: a new connection's handshake can shift one by a
    // few milliseconds on a loaded machine.
    assert!(fx.min_gap() >= Duration::from_millis(135), "{:?}", fx.min_gap());
}

#[test]
fn long_pages_become_passages_of_a_few_hundred_words() {
    use switchboard_crawl::{Chunker, ContentKind, Extractor, HeadingChunker, HtmlExtractor};
    // Three sections of 60 twelve-word sentences each, plus boilerplate.
    let mut main = String::new();
    for s in ["Coffee", "Tea", "Cakes"] {
        main.push_str(&format!("<h2>{s}</h2><p>"));
        for i in 0..60 {
            main.push_str(&format!("{s} sentence {i} tells you one more useful thing about our menu today. "));
        }
        main.push_str("</p>");
    }
    let page = fixture::html("Menu", "", &format!("<h1>Menu</h1>{main}"));
    let url = url::Url::parse("http://example.test/menu").unwrap();
    let extracted = HtmlExtractor.extract(&url, ContentKind::Html, &page);
    let chunks = HeadingChunker::default().chunk(&extracted);
    let docs = switchboard_crawl::page_docs(url.as_str(), &extracted.title, &chunks);
    assert_eq!(docs.len(), chunks.len());
    for section in ["Coffee", "Tea", "Cakes"] {
        let parts: Vec<_> =
            chunks.iter().filter(|c| c.heading_path.last().map(String::as_str) == Some(section)).collect();
        assert!(parts.len() >= 2, "{section}: {}", parts.len());
        for (i, c) in parts.iter().enumerate() {
            assert_eq!(c.heading_path, vec!["Menu".to_string(), section.to_string()]);
            assert!(c.words <= 350, "{}", c.words);
            if i + 1 < parts.len() {
                assert!(c.words >= 200, "{}", c.words);
                // One sentence of overlap: the next passage opens with this one's last.
                let last = switchboard_crawl::chunk::sentences(&c.text).pop().unwrap();
                assert!(parts[i + 1].text.starts_with(&last));
            }
            assert!(!c.text.contains("NAV_MARKER") && !c.text.contains("FOOTER_MARKER"));
        }
    }
    let coffee = docs.iter().find(|d| d.answer.starts_with("Coffee sentence 0 ")).unwrap();
    // The title is not repeated when the page's h1 says the same.
    assert_eq!(coffee.question, "Menu › Coffee");
}
