//! Onboarding by crawl end to end: a local fixture site served by the test,
//! the real server, jobs over HTTP, progress events, pages and passages in
//! the database and the index, restarts, re-crawls and the SSRF guard.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard_tests::*;

const WAIT: Duration = Duration::from_secs(30);

/// The fixture site. Its pages change with `v2` (for re-crawls); `/slow`
/// answers only once `slow_released` is set.
struct Site {
    requests: AtomicUsize,
    paths: std::sync::Mutex<Vec<String>>,
    v2: AtomicBool,
    slow_linked: AtomicBool,
    slow_released: AtomicBool,
}

struct Fixture {
    addr: SocketAddr,
    site: Arc<Site>,
    _task: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn start() -> Fixture {
        let site = Arc::new(Site {
            requests: AtomicUsize::new(0),
            paths: std::sync::Mutex::new(Vec::new()),
            v2: AtomicBool::new(false),
            slow_linked: AtomicBool::new(false),
            slow_released: AtomicBool::new(false),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(serve).with_state(site.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fixture { addr, site, _task: task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn requests(&self) -> usize {
        self.site.requests.load(Ordering::SeqCst)
    }

    fn fetches_of(&self, path: &str) -> usize {
        self.site.paths.lock().unwrap().iter().filter(|p| *p == path).count()
    }
}

fn html(title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><title>{title}</title></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav>\
         <main><h1>{title}</h1>{body}</main><footer>Fixture Salon, 1 Test Street</footer></body></html>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn para(text: &str) -> String {
    format!("<p>{text}</p>")
}

async fn serve(State(site): State<Arc<Site>>, req: Request) -> Response {
    site.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    site.paths.lock().unwrap().push(path.clone());
    let v2 = site.v2.load(Ordering::SeqCst);
    match path.as_str() {
        "/robots.txt" => "User-agent: *\nDisallow: /private/\n".into_response(),
        "/" => {
            let mut links = String::from(
                "<a href=\"/about\">About</a> <a href=\"/about?utm_source=newsletter\">About (tracked)</a> \
                 <a href=\"/services\">Services</a> <a href=\"/missing\">Missing</a> \
                 <a href=\"/broken\">Broken</a> <a href=\"/photo.jpg\">Photo</a> <a href=\"/data\">Data</a> \
                 <a href=\"/private/staff\">Staff</a> <a href=\"/festival\">Festival</a> <a href=\"/gift\">Gift</a>",
            );
            // Version 2 adds a page; its /gift answers 404.
            if v2 {
                links.push_str(" <a href=\"/new\">New</a>");
            }
            if site.slow_linked.load(Ordering::SeqCst) {
                links.push_str(" <a href=\"/slow\">Slow</a>");
            }
            html(
                "Fixture Salon",
                &format!("{}<p>{links}</p>", para("Welcome to the Fixture Salon, a test hair salon.")),
            )
        }
        // /copy has the same text as /about under another URL, one level deeper
        // (so /about is always the one kept): indexed once.
        "/about" | "/copy" => html(
            "About us",
            &format!(
                "{}<p><a href=\"/copy\">More about us</a></p>",
                para(
                    "The Fixture Salon was founded by Ada Byron in a converted lighthouse keeper's cottage by the harbour."
                )
            ),
        ),
        "/services" if !v2 => {
            html("Services", &para("A wash and cut costs 41 dollars; a colour refresh costs 77 dollars."))
        }
        "/services" => {
            html("Services", &para("A wash and cut now costs 45 dollars; a colour refresh costs 80 dollars."))
        }
        "/festival" => html(
            "Festival",
            &para(
                "The annual lavender festival takes place every June in the salon courtyard, with free scalp massages.",
            ),
        ),
        "/gift" if !v2 => html(
            "Gift vouchers",
            &para("Zephyr vouchers can be bought at the reception desk in any amount from fifteen dollars."),
        ),
        "/new" if v2 => html("Newsletter", &para("Subscribe to the quarterly newsletter for seasonal styling tips.")),
        "/broken" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "/data" => ([(header::CONTENT_TYPE, "application/json")], "{\"a\":1}").into_response(),
        "/slow" => {
            while !site.slow_released.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            html("Slow page", &para("This page took its time, like a tortoise crossing a meadow."))
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn crawl_config(dir: &std::path::Path, allow_private: bool) -> switchboard_server::Config {
    let mut c = config(dir);
    c.crawl.allow_private = allow_private;
    c.crawl.delay_ms = 0;
    c.crawl.timeout_ms = 60_000;
    c
}

async fn onboard(server: &TestServer, url: &str) -> String {
    let created = server.post_json("/api/onboard", &json!({ "url": url }), 202).await;
    let id = created["job_id"].as_str().unwrap().to_string();
    assert_eq!(created["job"]["id"], id.as_str());
    assert_eq!(created["job"]["kind"], "onboard");
    assert_eq!(created["job"]["max_pages"], 50);
    assert_eq!(created["job"]["max_depth"], 3);
    id
}

async fn wait_state(server: &TestServer, id: &str, states: &[&str]) -> Value {
    let start = tokio::time::Instant::now();
    loop {
        let job = server.get_json(&format!("/api/job/{id}"), 200).await;
        if states.contains(&job["state"].as_str().unwrap()) {
            return job;
        }
        assert!(start.elapsed() < WAIT, "job not {states:?} within {WAIT:?}: {job}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn pages(server: &TestServer, id: &str) -> HashMap<String, Value> {
    let list = server.get_json(&format!("/api/job/{id}/pages"), 200).await;
    list.as_array().unwrap().iter().map(|p| (p["url"].as_str().unwrap().to_string(), p.clone())).collect()
}

async fn search(server: &TestServer, q: &str) -> Vec<Value> {
    let q = q.replace(' ', "%20");
    server.get_json(&format!("/api/knowledge-base?q={q}"), 200).await.as_array().unwrap().clone()
}

fn page_urls(hits: &[Value]) -> Vec<String> {
    hits.iter().filter_map(|h| h["url"].as_str().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_indexes_the_site_with_exact_counts_events_and_citations() {
    let fixture = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    let mut events = server.events().await;

    let id = onboard(&server, &fixture.url("/")).await;
    // Progress events for the job, then its end.
    let mut progress = 0;
    let finished = loop {
        let e = events.next_within(WAIT).await.expect("crawl events keep coming");
        if e["job"]["id"] != id.as_str() {
            continue;
        }
        match e["type"].as_str().unwrap() {
            "crawl.progress" => progress += 1,
            "crawl.finished" => break e,
            _ => {}
        }
    };
    assert!(progress >= 2, "progress events arrive while the job runs ({progress})");
    let job = &finished["job"];
    assert_eq!(job["state"], "done", "{job}");
    assert!(job["finished_at"].is_string());
    assert_eq!(job["current_url"], Value::Null);
    assert_eq!(job["error"], Value::Null);
    assert_eq!(job["changes"], Value::Null);
    // Indexed: /, /about, /services, /festival, /gift. /copy has /about's
    // text; /missing is 404, /broken 500; /photo.jpg and /data are not HTML;
    // /private/ is disallowed by robots.txt; the tracked /about is /about.
    let counts = &job["counts"];
    assert_eq!(counts["indexed"], 5, "{counts}");
    assert_eq!(
        counts["skipped"],
        json!({
            "duplicate_content": 1,
            "http_status(404)": 1,
            "http_status(500)": 1,
            "not_html": 2,
            "robots_disallowed": 1,
        }),
        "{counts}"
    );
    assert_eq!(counts["errors"], 1, "only the 500 is a failure: {counts}");
    assert_eq!(counts["unchanged"], 0);
    // The stored job is what the event said.
    let stored = server.get_json(&format!("/api/job/{id}"), 200).await;
    assert_eq!(&stored, job);
    let listed = server.get_json("/api/jobs", 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());

    // Pages with their status.
    let p = pages(&server, &id).await;
    let status = |path: &str| p[&fixture.url(path)]["status"].as_str().unwrap().to_string();
    for path in ["/", "/about", "/services", "/festival", "/gift"] {
        assert_eq!(status(path), "indexed", "{path}");
        assert!(p[&fixture.url(path)]["chunks"].as_u64().unwrap() >= 1);
    }
    assert_eq!(p[&fixture.url("/about")]["title"], "About us");
    assert_eq!(status("/copy"), "skipped");
    assert_eq!(p[&fixture.url("/copy")]["reason"], "duplicate_content");
    assert_eq!(status("/broken"), "error");
    assert_eq!(p[&fixture.url("/missing")]["reason"], "http_status(404)");
    assert_eq!(p[&fixture.url("/private/staff")]["reason"], "robots_disallowed");
    // The duplicate URL with a tracking parameter was never fetched as such.
    assert_eq!(fixture.fetches_of("/about"), 1);

    // Search finds a crawled fact, with its URL; entries list stays entries only.
    let hits = search(&server, "lavender festival").await;
    assert_eq!(page_urls(&hits).first(), Some(&fixture.url("/festival")), "{hits:?}");
    assert_eq!(hits[0]["source"], "page");
    assert!(hits[0]["answer"].as_str().unwrap().contains("lavender festival"));
    assert!(server.get_json("/api/knowledge-base", 200).await.as_array().unwrap().is_empty());

    // The agent cites the page.
    let session =
        server.post_json("/api/sessions", &json!({"caller_name": "Grace", "caller_contact": "+1-555-0199"}), 201).await;
    let sid = session["id"].as_str().unwrap();
    let resp = server
        .post(&format!("/api/sessions/{sid}/messages"), &json!({"text": "When is the lavender festival?"}))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let out = expect(resp, 200).await;
    let cited: Vec<String> = out["reply"]["grounding"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["url"].as_str().map(str::to_string))
        .collect();
    assert!(cited.contains(&fixture.url("/festival")), "{out}");

    // A finished job cannot be cancelled or resumed.
    expect_error(server.post(&format!("/api/job/{id}/cancel"), &json!({})).send().await.unwrap(), 409, "conflict")
        .await;
    expect_error(server.post(&format!("/api/job/{id}/resume"), &json!({})).send().await.unwrap(), 409, "conflict")
        .await;

    // The index is rebuilt from the database with the page passages.
    server.stop().await;
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    assert_eq!(page_urls(&search(&server, "lavender festival").await).first(), Some(&fixture.url("/festival")));
    assert_eq!(page_urls(&search(&server, "Zephyr vouchers").await).first(), Some(&fixture.url("/gift")));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recrawl_reports_changes_and_drops_removed_pages() {
    let fixture = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    let id = onboard(&server, &fixture.url("/")).await;
    wait_state(&server, &id, &["done"]).await;
    assert_eq!(page_urls(&search(&server, "Zephyr vouchers").await), vec![fixture.url("/gift")]);

    fixture.site.v2.store(true, Ordering::SeqCst);
    let created = server.post_json(&format!("/api/job/{id}/recrawl"), &json!({}), 202).await;
    let rid = created["job_id"].as_str().unwrap().to_string();
    assert_ne!(rid, id);
    assert_eq!(created["job"]["kind"], "recrawl");
    let job = wait_state(&server, &rid, &["done", "failed"]).await;
    assert_eq!(job["state"], "done", "{job}");
    let u = |p: &str| fixture.url(p);
    assert_eq!(
        job["changes"],
        json!({
            "new": [u("/new")],
            "changed": [u("/"), u("/services")],
            "unchanged": [u("/about"), u("/festival")],
            "removed": [u("/gift")],
        }),
        "{job}"
    );
    assert_eq!(job["counts"]["removed"], 1);
    assert_eq!(job["counts"]["unchanged"], 2);
    assert_eq!(job["counts"]["indexed"], 3);
    // Removed: gone from search; changed: new text only.
    assert!(page_urls(&search(&server, "Zephyr vouchers").await).is_empty());
    let p = pages(&server, &rid).await;
    assert_eq!(p[&u("/gift")]["status"], "removed");
    assert_eq!(p[&u("/gift")]["chunks"], 0);
    assert_eq!(p[&u("/about")]["status"], "unchanged");
    assert_eq!(p[&u("/new")]["status"], "indexed");
    let hits = search(&server, "colour refresh dollars").await;
    assert!(hits.iter().any(|h| h["answer"].as_str().unwrap().contains("80 dollars")));
    assert!(!hits.iter().any(|h| h["answer"].as_str().unwrap().contains("77 dollars")));
    // Newest first.
    let listed = server.get_json("/api/jobs", 200).await;
    assert_eq!(listed[0]["id"], rid.as_str());
    assert_eq!(listed[1]["id"], id.as_str());

    // The removal survives an index rebuild.
    server.stop().await;
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    assert!(page_urls(&search(&server, "Zephyr vouchers").await).is_empty());
    assert_eq!(page_urls(&search(&server, "quarterly newsletter").await).first(), Some(&u("/new")));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_job() {
    let fixture = Fixture::start().await;
    fixture.site.slow_linked.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    let id = onboard(&server, &fixture.url("/")).await;
    eventually(WAIT, || async { (fixture.fetches_of("/slow") > 0).then_some(()) }).await;
    // A job of the same site is running: no re-crawl now.
    expect_error(server.post(&format!("/api/job/{id}/recrawl"), &json!({})).send().await.unwrap(), 409, "conflict")
        .await;
    let job = server.post_json(&format!("/api/job/{id}/cancel"), &json!({}), 200).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    assert!(job["finished_at"].is_string());
    expect_error(server.post(&format!("/api/job/{id}/cancel"), &json!({})).send().await.unwrap(), 409, "conflict")
        .await;
    // A cancelled job can be resumed, and then finishes.
    fixture.site.slow_released.store(true, Ordering::SeqCst);
    let resumed = server.post_json(&format!("/api/job/{id}/resume"), &json!({}), 200).await;
    assert_eq!(resumed["state"], "queued");
    let job = wait_state(&server, &id, &["done", "failed"]).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(pages(&server, &id).await[&fixture.url("/slow")]["status"], "indexed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_interrupts_the_job_and_resume_indexes_nothing_twice() {
    let fixture = Fixture::start().await;
    fixture.site.slow_linked.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    let id = onboard(&server, &fixture.url("/")).await;
    // Everything but the slow page is indexed; the slow page holds the job.
    let before = eventually(WAIT, || async {
        let p = pages(&server, &id).await;
        let indexed: Vec<String> =
            p.values().filter(|p| p["status"] == "indexed").map(|p| p["url"].as_str().unwrap().to_string()).collect();
        (indexed.len() == 5 && fixture.fetches_of("/slow") > 0).then_some(indexed)
    })
    .await;
    assert_eq!(server.get_json(&format!("/api/job/{id}"), 200).await["state"], "running");
    server.stop().await;

    fixture.site.slow_released.store(true, Ordering::SeqCst);
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    let job = server.get_json(&format!("/api/job/{id}"), 200).await;
    assert_eq!(job["state"], "interrupted", "{job}");
    let resumed = server.post_json(&format!("/api/job/{id}/resume"), &json!({}), 200).await;
    assert_eq!(resumed["state"], "queued");
    let job = wait_state(&server, &id, &["done", "failed"]).await;
    assert_eq!(job["state"], "done", "{job}");
    // Only the slow page is new; the five indexed before are not indexed again.
    assert_eq!(job["counts"]["indexed"], 1, "{job}");
    assert_eq!(job["counts"]["unchanged"], 5, "{job}");
    let p = pages(&server, &id).await;
    for url in &before {
        assert_eq!(p[url]["status"], "indexed", "{url}");
    }
    assert_eq!(p[&fixture.url("/slow")]["status"], "indexed");
    assert_eq!(page_urls(&search(&server, "tortoise meadow").await).first(), Some(&fixture.url("/slow")));
    // Resuming a finished job is a conflict.
    expect_error(server.post(&format!("/api/job/{id}/resume"), &json!({})).send().await.unwrap(), 409, "conflict")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_by_default() {
    let fixture = Fixture::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(crawl_config(dir.path(), false)).await;
    assert_eq!(server.get_json("/api/settings", 200).await["crawl_allow_private"], false);
    let id = onboard(&server, &fixture.url("/")).await;
    let job = wait_state(&server, &id, &["done", "failed"]).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"], "blocked_address");
    assert_eq!(job["counts"]["skipped"]["blocked_address"], 1, "{job}");
    assert_eq!(job["counts"]["indexed"], 0);
    assert_eq!(fixture.requests(), 0, "the fixture got no request");

    // The runtime setting allows them; a resume then crawls the site.
    let mut settings = server.get_json("/api/settings", 200).await;
    settings["crawl_allow_private"] = json!(true);
    let saved = server.put("/api/settings", &settings).send().await.unwrap();
    assert_eq!(expect(saved, 200).await["crawl_allow_private"], true);
    server.post_json(&format!("/api/job/{id}/resume"), &json!({}), 200).await;
    let job = wait_state(&server, &id, &["done", "failed"]).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["counts"]["indexed"], 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    for (body, field) in [
        (json!({"url": "not a url"}), "url"),
        (json!({"url": ""}), "url"),
        (json!({"url": "ftp://example.com/"}), "url"),
        (json!({"url": "file:///etc/passwd"}), "url"),
        (json!({"url": "javascript:alert(1)"}), "url"),
        (json!({"url": "http://example.com/", "max_pages": 0}), "max_pages"),
        (json!({"url": "http://example.com/", "max_pages": 10001}), "max_pages"),
        (json!({"url": "http://example.com/", "max_depth": 11}), "max_depth"),
        (json!({"url": "http://example.com/", "include": ["/a/[b"]}), "include"),
        (json!({"url": "http://example.com/", "exclude": ["  "]}), "exclude"),
    ] {
        let err =
            expect_error(server.post("/api/onboard", &body).send().await.unwrap(), 422, "validation_failed").await;
        assert!(err["message"].as_str().unwrap().starts_with(field), "{body}: {err}");
    }
    for body in [json!({"url": "http://example.com/", "depth": 2}), json!({"max_pages": 3}), json!({"url": 5})] {
        expect_error(server.post("/api/onboard", &body).send().await.unwrap(), 422, "validation_failed").await;
    }
    let malformed = server
        .client
        .post(server.url("/api/onboard"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"url\":")
        .send()
        .await
        .unwrap();
    expect_error(malformed, 400, "bad_request").await;
    let unauthenticated = server.client.post(server.url("/api/onboard")).json(&json!({"url": "http://x/"})).send();
    expect_error(unauthenticated.await.unwrap(), 401, "unauthorized").await;

    let unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
    for path in [
        "/api/job/not-a-uuid".to_string(),
        format!("/api/job/{unknown}"),
        format!("/api/job/{unknown}/pages"),
        "/api/job/nope/pages".to_string(),
    ] {
        expect_error(server.get(&path).send().await.unwrap(), 404, "not_found").await;
    }
    for action in ["cancel", "resume", "recrawl"] {
        for id in [unknown, "not-a-uuid"] {
            let r = server.post(&format!("/api/job/{id}/{action}"), &json!({})).send().await.unwrap();
            expect_error(r, 404, "not_found").await;
        }
    }
    assert_eq!(server.get_json("/api/jobs", 200).await, json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_site_is_onboarded_on_demo() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.demo = true;
    c.crawl.delay_ms = 0;
    let server = TestServer::start(c).await;
    // Served without a token.
    let page = server.client.get(server.url("/demo-site/gift-cards.html")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let job = eventually(WAIT, || async {
        let jobs = server.get_json("/api/jobs", 200).await;
        jobs.as_array().unwrap().first().filter(|j| !matches!(j["state"].as_str(), Some("queued" | "running"))).cloned()
    })
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["counts"]["indexed"], 6, "{job}");
    assert_eq!(server.get_json("/api/settings", 200).await["crawl_allow_private"], false, "only its own address");
    let hits = search(&server, "gift card front desk").await;
    let urls = page_urls(&hits);
    assert!(urls.first().is_some_and(|u| u.ends_with("/demo-site/gift-cards.html")), "{hits:?}");
    server.stop().await;

    // Once only: a restart does not onboard it again.
    let mut c = config(dir.path());
    c.demo = true;
    let server = TestServer::start(c).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.get_json("/api/jobs", 200).await.as_array().unwrap().len(), 1);
    server.stop().await;
}

/// A page with 8,000 links to pages that all say the same: the job
/// finishes after a bounded number of fetches, writes a bounded sample of
/// the URLs it skipped (the counts are exact), and the job's pages are
/// listed a page at a time with limits checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_with_endless_links_costs_bounded_rows_and_lists_by_page() {
    const LINKS: usize = 8_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(|req: Request| async move {
        if req.uri().path() == "/" {
            let links: String = (0..LINKS).map(|i| format!("<a href=\"/p/{i}\">page {i}</a> ")).collect();
            html("Links", &format!("{}<p>{links}</p>", para("A page of many links.")))
        } else {
            html("Page", &para("One of many pages, each with a little text to index."))
        }
    });
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(crawl_config(dir.path(), true)).await;
    let id = onboard(&server, &format!("http://{addr}/")).await;
    let job = wait_state(&server, &id, &["done"]).await;
    let skipped: u64 = job["counts"]["skipped"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert!(skipped as usize >= LINKS - 500, "{job}");
    // Every page has the same text, so none counts toward the page limit:
    // the fetches are bounded instead (10 per page the job may keep).
    assert!(job["counts"]["fetched"].as_u64().unwrap() <= 500, "{job}");

    // A page at a time, in URL order, never more than 1000.
    let mut listed = 0;
    let mut offset = 0;
    loop {
        let page = server.get_json(&format!("/api/job/{id}/pages?offset={offset}&limit=1000"), 200).await;
        let n = page.as_array().unwrap().len();
        assert!(n <= 1000);
        listed += n;
        if n < 1000 {
            break;
        }
        offset += 1000;
    }
    assert!(listed <= 5_000 + 60, "stored {listed} rows for one job");
    assert!(listed > 50, "{listed}");
    assert_eq!(server.get_json(&format!("/api/job/{id}/pages"), 200).await.as_array().unwrap().len(), 500);
    for bad in ["limit=0", "limit=1001", "offset=-1", "limit=ten", "page=2"] {
        let resp = server.get(&format!("/api/job/{id}/pages?{bad}")).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{bad}: {}", resp.status());
    }
    server.stop().await;
    task.abort();
}
