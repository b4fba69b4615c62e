//! The crawl loop: frontier, limits, dedup, politeness, and the outcome of
//! every URL.
//!
//! The frontier is walked breadth-first one depth level at a time (level
//! d + 1 starts when level d is finished), so a URL's depth is its true
//! shortest link distance and the depth limit is exact. Fetching and
//! extraction run in tasks; every decision (dedup, limits, sink calls) is made
//! in the single loop that owns the state, so no state is shared or locked.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use switchboard_core::knowledge::{IndexDoc, KnowledgeSource, MAX_KB_ANSWER, MAX_KB_QUESTION};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::canon::{self, PathFilter, Site, TrapDetector};
use crate::chunk::{Chunk, Chunker, HeadingChunker};
use crate::config::CrawlConfig;
use crate::extract::{Extractor, HtmlExtractor};
use crate::fetch::{ContentKind, Fetched, Fetcher, Purpose, ReqwestFetcher};
use crate::robots::Robots;
use crate::sink::{IndexedPage, PageChange, PageSink, SkippedPage, page_doc_id, sha256_hex};
use crate::sitemap;
use crate::throttle::{Answer, Throttle, parse_retry_after};
use crate::{CrawlError, SkipReason};

/// What a job starts from: nothing, a partial run to resume, or a finished
/// crawl to compare against. Maps are canonical URL → content hash, as
/// reported in [`IndexedPage`] and [`CrawlReport::pages`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "pages", rename_all = "snake_case")]
pub enum Baseline {
    #[default]
    Fresh,
    /// Pages an interrupted run of this job already indexed: fetched again
    /// for their links, but not re-indexed unless their content changed.
    Resume(HashMap<String, String>),
    /// The previous crawl's pages: the report sorts pages into new, changed,
    /// unchanged and removed, and the sink is told of removals.
    Recrawl(HashMap<String, String>),
}

impl Baseline {
    fn pages(&self) -> Option<&HashMap<String, String>> {
        match self {
            Baseline::Fresh => None,
            Baseline::Resume(p) | Baseline::Recrawl(p) => Some(p),
        }
    }
}

/// A crawl job as a caller persists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrawlJob {
    pub config: CrawlConfig,
    #[serde(default)]
    pub baseline: Baseline,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    #[default]
    Running,
    Done,
    Failed,
    Cancelled,
}

/// Counters, reported after every change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrawlProgress {
    pub state: JobState,
    /// Distinct same-site canonical URLs found (queued or skipped).
    pub discovered: u64,
    /// Page fetches finished (each URL once, redirect hops included in one).
    pub fetched: u64,
    /// Pages sent to the sink for indexing (new or changed).
    pub indexed: u64,
    /// Baseline pages fetched again with the same content.
    pub unchanged: u64,
    pub removed: u64,
    /// Skips by reason, keyed by the reason's display form (`not_html`,
    /// `http_status(404)`).
    pub skipped: BTreeMap<String, u64>,
    /// Skips that are failures ([`SkipReason::is_error`]).
    pub errors: u64,
    /// The depth level being crawled.
    pub depth: u32,
    /// The URL most recently sent for fetching.
    pub current_url: Option<String>,
}

impl CrawlProgress {
    pub fn skipped_for(&self, reason: SkipReason) -> u64 {
        self.skipped.get(&reason.to_string()).copied().unwrap_or(0)
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// Canonical URLs sorted by what happened to them relative to the baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageChanges {
    pub new: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

/// How a job ended. Always produced: per-page trouble is in the counters.
#[derive(Debug)]
pub struct CrawlReport {
    pub state: JobState,
    /// Set when `state` is `Failed`.
    pub error: Option<CrawlError>,
    pub progress: CrawlProgress,
    pub changes: PageChanges,
    /// The next baseline: the baseline minus removed pages plus every page
    /// kept by this run, canonical URL → content hash.
    pub pages: BTreeMap<String, String>,
}

/// Called with the counters after every change. Must be quick.
pub type ProgressFn<'a> = &'a (dyn Fn(&CrawlProgress) + Send + Sync);

/// The pipeline `Fetcher → Extractor → Chunker`, driven by [`Crawler::run`].
#[derive(Clone)]
pub struct Crawler {
    fetcher: Arc<dyn Fetcher>,
    extractor: Arc<dyn Extractor>,
    chunker: Arc<dyn Chunker>,
}

impl std::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawler").finish_non_exhaustive()
    }
}

impl Crawler {
    /// The standard pipeline for `config`: reqwest, HTML extraction, heading
    /// chunking.
    pub fn new(config: &CrawlConfig) -> Result<Crawler, CrawlError> {
        config.validate()?;
        let fetcher = ReqwestFetcher::new(config).map_err(CrawlError::Client)?;
        Ok(Crawler::from_parts(
            Arc::new(fetcher),
            Arc::new(HtmlExtractor),
            Arc::new(HeadingChunker::new(config.chunking.clone())),
        ))
    }

    pub fn from_parts(fetcher: Arc<dyn Fetcher>, extractor: Arc<dyn Extractor>, chunker: Arc<dyn Chunker>) -> Crawler {
        Crawler { fetcher, extractor, chunker }
    }

    /// Builds the standard pipeline for the job and runs it; a configuration
    /// error is a failed report, so callers have one path.
    pub async fn crawl(
        job: &CrawlJob,
        sink: &dyn PageSink,
        progress: ProgressFn<'_>,
        cancel: &CancellationToken,
    ) -> CrawlReport {
        match Crawler::new(&job.config) {
            Ok(c) => c.run(job, sink, progress, cancel).await,
            Err(e) => failed_report(e, progress),
        }
    }

    /// Runs a job to its end: `Done`, `Failed` (bad configuration, the start
    /// URL yielded nothing, or the sink failed) or `Cancelled`.
    pub async fn run(
        &self,
        job: &CrawlJob,
        sink: &dyn PageSink,
        progress: ProgressFn<'_>,
        cancel: &CancellationToken,
    ) -> CrawlReport {
        if let Err(e) = job.config.validate() {
            return failed_report(e, progress);
        }
        let mut run = match Run::new(self, job, sink, progress) {
            Ok(r) => r,
            Err(e) => return failed_report(e, progress),
        };
        // Cancellation is observed at every network wait, never in the
        // middle of a sink call, so a sink never sees a write abandoned.
        let result = match run.crawl(cancel).await {
            Ok(()) => Ok(JobState::Done),
            Err(Halt::Cancelled) => Ok(JobState::Cancelled),
            Err(Halt::Failed(e)) => Err(e),
        };
        run.finish(result).await
    }
}

fn failed_report(e: CrawlError, progress: ProgressFn<'_>) -> CrawlReport {
    let p = CrawlProgress { state: JobState::Failed, ..Default::default() };
    progress(&p);
    CrawlReport {
        state: JobState::Failed,
        error: Some(e),
        progress: p,
        changes: PageChanges::default(),
        pages: BTreeMap::new(),
    }
}

/// What tasks need; cheap to clone into each.
#[derive(Clone)]
struct TaskCtx {
    fetcher: Arc<dyn Fetcher>,
    extractor: Arc<dyn Extractor>,
    chunker: Arc<dyn Chunker>,
    throttle: Arc<Throttle>,
    /// Pages parsed at once: one per core, so parsing never starves the
    /// fetches (which go on meanwhile) nor piles up threads.
    parsers: Arc<Semaphore>,
    site: Site,
    robots: Arc<Robots>,
    respect_robots: bool,
    max_redirects: u8,
    max_retries: u8,
}

/// A URL waiting to be fetched.
#[derive(Debug, Clone)]
struct Entry {
    /// What is requested (keeps the site's trailing-slash form).
    fetch: Url,
    key: String,
    depth: u32,
}

/// A fetched and extracted page, before the loop decides its fate.
struct PageData {
    final_url: Url,
    title: String,
    canonical: Option<Url>,
    links: Vec<Url>,
    noindex: bool,
    nofollow: bool,
    chunks: Vec<Chunk>,
    hash: String,
}

impl TaskCtx {
    /// Fetches with redirects followed by hand, each hop checked: loops,
    /// hop count, site boundary (unless `rehost`, for the start page) and
    /// robots. The address guard runs inside the fetcher on every hop.
    async fn fetch_following(&self, url: &Url, purpose: Purpose, rehost: bool) -> Result<Fetched, SkipReason> {
        let mut url = url.clone();
        let mut visited = vec![url.clone()];
        loop {
            let resp = self.fetch_hop(&url, purpose).await?;
            if !resp.is_redirect() {
                return Ok(resp);
            }
            let location = resp.location.as_deref().unwrap_or("");
            let next = url.join(location.trim()).ok().and_then(|u| canon::clean(&u)).ok_or(SkipReason::InvalidUrl)?;
            if visited.contains(&next) {
                return Err(SkipReason::RedirectLoop);
            }
            if visited.len() > usize::from(self.max_redirects) {
                return Err(SkipReason::TooManyRedirects);
            }
            if !rehost {
                if !self.site.contains(&next) {
                    return Err(SkipReason::OffSite);
                }
                if self.respect_robots && !self.robots.allowed(&next) {
                    return Err(SkipReason::RobotsDisallowed);
                }
            }
            visited.push(next.clone());
            url = next;
        }
    }

    /// One hop through the throttle; a 429 or 503 is asked again (after the
    /// pause the throttle imposes) up to `max_retries` times.
    async fn fetch_hop(&self, url: &Url, purpose: Purpose) -> Result<Fetched, SkipReason> {
        let mut retries = 0;
        loop {
            let permit = self.throttle.acquire(url).await;
            let result = self.fetcher.fetch(url, purpose).await;
            let answer = match &result {
                Ok(r) if r.is_throttled() => {
                    let wait = r.retry_after.as_deref().and_then(|v| parse_retry_after(v, SystemTime::now()));
                    permit.finish(Answer::Throttled(wait));
                    if retries < self.max_retries {
                        retries += 1;
                        tracing::debug!(%url, status = r.status, ?wait, retries, "throttled; retrying");
                        continue;
                    }
                    return result;
                }
                Ok(r) => Answer::Status(r.status),
                Err(SkipReason::Timeout) => Answer::TimedOut,
                Err(_) => Answer::Failed,
            };
            permit.finish(answer);
            return result;
        }
    }

    async fn fetch_page(self: Arc<Self>, url: Url, rehost: bool) -> Result<PageData, SkipReason> {
        let resp = self.fetch_following(&url, Purpose::Page, rehost).await?;
        if !(200..300).contains(&resp.status) {
            return Err(SkipReason::HttpStatus(resp.status));
        }
        let ctx = self.clone();
        // Parsing a large page takes milliseconds of CPU: off the runtime,
        // one page per core at a time, while other tasks go on fetching.
        let _parsing = self.parsers.acquire().await.expect("the parser semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            // Pages in legacy encodings lose their non-ASCII letters here;
            // reqwest's charset decoding would need its default features.
            let body = String::from_utf8_lossy(&resp.body);
            let kind = if resp.kind == ContentKind::Html { ContentKind::Html } else { ContentKind::Text };
            let ex = ctx.extractor.extract(&resp.url, kind, &body);
            let chunks = ctx.chunker.chunk(&ex);
            let hash = sha256_hex(format!("{}\n{}", ex.title, ex.markdown()).as_bytes());
            PageData {
                final_url: resp.url,
                title: ex.title,
                canonical: ex.canonical,
                links: ex.links,
                noindex: ex.noindex,
                nofollow: ex.nofollow,
                chunks,
                hash,
            }
        })
        .await
        .map_err(|e| {
            tracing::error!(%url, error = %e, "page extraction panicked");
            SkipReason::Empty
        })
    }
}

/// The longest robots.txt `Crawl-delay` obeyed: a site asking for more is
/// still crawled at this pace.
const MAX_CRAWL_DELAY: Duration = Duration::from_secs(10);
/// Distinct URLs one job remembers (a page of 100,000 links must not grow
/// the job's memory without end); beyond it new URLs are only counted.
pub const MAX_SEEN: usize = 100_000;
/// Skipped URLs one job writes to the store; beyond it they are counted only.
pub const MAX_SKIPPED_ROWS: u64 = 5_000;
/// Fetches one job may make per page it may keep (duplicates and failures
/// included), and at least [`MIN_FETCH_BUDGET`].
const FETCHES_PER_PAGE: u64 = 10;
const MIN_FETCH_BUDGET: u64 = 200;

/// Why the crawl loop stopped early.
enum Halt {
    Cancelled,
    Failed(CrawlError),
}

impl From<CrawlError> for Halt {
    fn from(e: CrawlError) -> Self {
        Halt::Failed(e)
    }
}

/// Awaits `f` unless the job is cancelled first.
async fn unless_cancelled<T>(cancel: &CancellationToken, f: impl std::future::Future<Output = T>) -> Result<T, Halt> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Halt::Cancelled),
        v = f => Ok(v),
    }
}

/// What became of a requested URL, for deciding removals.
enum Outcome {
    Kept,
    /// Indexed under another URL (redirect or `rel=canonical`).
    Moved,
    Skipped(SkipReason),
}

/// The state of one running job.
struct Run<'a> {
    cfg: &'a CrawlConfig,
    baseline: &'a Baseline,
    sink: &'a dyn PageSink,
    observer: ProgressFn<'a>,
    ctx: Arc<TaskCtx>,
    start_key: String,
    filter: PathFilter,
    traps: TrapDetector,
    /// Canonical URLs discovered (queued or skipped): each is decided once.
    seen: HashSet<String>,
    /// Canonical URLs a fetched page has answered for.
    claimed: HashSet<String>,
    hashes: HashSet<String>,
    current: VecDeque<Entry>,
    next: VecDeque<Entry>,
    kept: BTreeMap<String, String>,
    outcomes: HashMap<String, Outcome>,
    /// Some URL went unfetched for the page limit: absence proves nothing.
    truncated: bool,
    /// Skipped URLs written to the store so far (bounded by
    /// [`MAX_SKIPPED_ROWS`]; the counts go on).
    skipped_rows: u64,
    progress: CrawlProgress,
    changes: PageChanges,
}

impl<'a> Run<'a> {
    fn new(
        crawler: &Crawler,
        job: &'a CrawlJob,
        sink: &'a dyn PageSink,
        observer: ProgressFn<'a>,
    ) -> Result<Run<'a>, CrawlError> {
        let cfg = &job.config;
        let start = Url::parse(cfg.start_url.trim()).map_err(|e| CrawlError::InvalidConfig(e.to_string()))?;
        let start = canon::clean(&start).ok_or_else(|| CrawlError::InvalidConfig("start_url is not http(s)".into()))?;
        let parsers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(cfg.concurrency);
        let ctx = TaskCtx {
            fetcher: crawler.fetcher.clone(),
            extractor: crawler.extractor.clone(),
            chunker: crawler.chunker.clone(),
            throttle: Arc::new(Throttle::new(cfg)),
            parsers: Arc::new(Semaphore::new(parsers)),
            site: Site::of(&start),
            robots: Arc::new(Robots::allow_all()),
            respect_robots: cfg.respect_robots,
            max_redirects: cfg.max_redirects,
            max_retries: cfg.max_retries,
        };
        let key = canon::canonical(&start).to_string();
        Ok(Run {
            cfg,
            baseline: &job.baseline,
            sink,
            observer,
            ctx: Arc::new(ctx),
            start_key: key.clone(),
            filter: PathFilter::new(&cfg.include, &cfg.exclude)?,
            traps: TrapDetector::new(cfg.traps.clone()),
            seen: HashSet::from([key.clone()]),
            claimed: HashSet::new(),
            hashes: HashSet::new(),
            current: VecDeque::from([Entry { fetch: start, key, depth: 0 }]),
            next: VecDeque::new(),
            kept: BTreeMap::new(),
            outcomes: HashMap::new(),
            skipped_rows: 0,
            truncated: false,
            progress: CrawlProgress { discovered: 1, ..Default::default() },
            changes: PageChanges::default(),
        })
    }

    fn report(&self) {
        (self.observer)(&self.progress);
    }

    /// Tasks hold the old context until they finish; new tasks get the new one.
    fn with_ctx(&mut self, f: impl FnOnce(&mut TaskCtx)) {
        let mut ctx = (*self.ctx).clone();
        f(&mut ctx);
        self.ctx = Arc::new(ctx);
    }

    async fn crawl(&mut self, cancel: &CancellationToken) -> Result<(), Halt> {
        self.report();
        self.load_robots(cancel).await?;

        // The start page alone: its redirects may move the site (to https,
        // to www.), and it must yield a page for the job to mean anything.
        let start = self.current.pop_front().expect("the start entry is queued by new()");
        if self.cfg.respect_robots && !self.ctx.robots.allowed(&start.fetch) {
            self.skip(&start.key, SkipReason::RobotsDisallowed, 0).await?;
            return Err(CrawlError::Start(SkipReason::RobotsDisallowed).into());
        }
        self.progress.current_url = Some(start.key.clone());
        self.report();
        let result = unless_cancelled(cancel, self.ctx.clone().fetch_page(start.fetch.clone(), true)).await?;
        if let Ok(page) = &result {
            let site = Site::of(&page.final_url);
            if site.origin() != self.ctx.site.origin() {
                self.with_ctx(|c| c.site = site);
                self.load_robots(cancel).await?;
            }
        }
        if let Err(reason) = result {
            self.progress.fetched += 1;
            self.skip(&start.key, reason, 0).await?;
            return Err(CrawlError::Start(reason).into());
        }
        self.handle(start, result).await?;

        if self.cfg.use_sitemaps && self.cfg.max_depth >= 1 {
            self.load_sitemaps(cancel).await?;
        }

        let mut tasks: JoinSet<(Entry, Result<PageData, SkipReason>)> = JoinSet::new();
        let mut level = 0u32;
        // Pages that are all duplicates (or all fail) never reach the page
        // limit: fetches are bounded too.
        let budget = (self.cfg.max_pages as u64).saturating_mul(FETCHES_PER_PAGE).max(MIN_FETCH_BUDGET);
        loop {
            if cancel.is_cancelled() {
                return Err(Halt::Cancelled);
            }
            let spent = |run: &Self, running: usize| run.progress.fetched + running as u64 >= budget;
            while tasks.len() < self.cfg.concurrency
                && self.kept.len() + tasks.len() < self.cfg.max_pages
                && !spent(self, tasks.len())
            {
                let Some(entry) = self.current.pop_front() else { break };
                if self.claimed.contains(&entry.key) {
                    self.skip(&entry.key, SkipReason::DuplicateUrl, entry.depth).await?;
                    continue;
                }
                self.progress.current_url = Some(entry.key.clone());
                self.report();
                let ctx = self.ctx.clone();
                tasks.spawn(async move {
                    let r = ctx.fetch_page(entry.fetch.clone(), false).await;
                    (entry, r)
                });
            }
            if self.kept.len() >= self.cfg.max_pages || spent(self, 0) {
                let rest: Vec<Entry> = self.current.drain(..).chain(self.next.drain(..)).collect();
                for e in rest {
                    self.truncated = true;
                    self.skip(&e.key, SkipReason::PageLimit, e.depth).await?;
                }
            }
            if tasks.is_empty() {
                if !self.current.is_empty() {
                    continue;
                }
                if self.next.is_empty() {
                    return Ok(());
                }
                self.current = std::mem::take(&mut self.next);
                level += 1;
                self.progress.depth = level;
                self.report();
                continue;
            }
            // Dropping the JoinSet on return aborts the tasks still running.
            let joined = unless_cancelled(cancel, tasks.join_next()).await?;
            match joined {
                Some(Ok((entry, result))) => self.handle(entry, result).await?,
                Some(Err(e)) => tracing::error!(error = %e, "crawl task failed"),
                None => {}
            }
        }
    }

    /// Fetches a small resource (robots.txt, a sitemap) on the site.
    async fn resource(&self, url: &Url) -> Result<Fetched, SkipReason> {
        self.ctx.fetch_following(url, Purpose::Resource, false).await
    }

    async fn load_robots(&mut self, cancel: &CancellationToken) -> Result<(), Halt> {
        if !self.cfg.respect_robots && !self.cfg.use_sitemaps {
            return Ok(());
        }
        let url = Url::parse(&format!("{}/robots.txt", self.ctx.site.origin()))
            .map_err(|e| CrawlError::InvalidConfig(e.to_string()))?;
        let robots = match unless_cancelled(cancel, self.resource(&url)).await? {
            Ok(r) if (200..300).contains(&r.status) => {
                Robots::parse(&String::from_utf8_lossy(&r.body), &self.cfg.user_agent)
            }
            // RFC 9309: a server error means "assume everything is disallowed".
            Ok(r) if r.status >= 500 => Robots::disallow_all(),
            Ok(_) => Robots::allow_all(),
            // The site does not answer at all: nothing to crawl.
            Err(reason @ (SkipReason::Timeout | SkipReason::Unreachable | SkipReason::BlockedAddress)) => {
                self.progress.fetched += 1;
                let key = self.start_key.clone();
                self.skip(&key, reason, 0).await?;
                return Err(CrawlError::Start(reason).into());
            }
            Err(_) => Robots::allow_all(),
        };
        let crawl_delay = robots.crawl_delay.unwrap_or_default().min(MAX_CRAWL_DELAY);
        self.ctx.throttle.set_floor(self.cfg.delay().max(crawl_delay));
        self.with_ctx(|c| c.robots = Arc::new(robots));
        Ok(())
    }

    async fn load_sitemaps(&mut self, cancel: &CancellationToken) -> Result<(), Halt> {
        /// Sitemap documents read per job; indexes can nest deeply.
        const MAX_SITEMAPS: usize = 10;
        let origin = self.ctx.site.origin();
        let mut queue: VecDeque<Url> = self
            .ctx
            .robots
            .sitemaps
            .iter()
            .filter_map(|s| Url::parse(s).ok())
            .filter(|u| self.ctx.site.contains(u))
            .collect();
        if queue.is_empty()
            && let Ok(u) = Url::parse(&format!("{origin}/sitemap.xml"))
        {
            queue.push_back(u);
        }
        let mut read = HashSet::new();
        while let Some(url) = queue.pop_front() {
            if read.len() >= MAX_SITEMAPS || !read.insert(url.clone()) {
                continue;
            }
            let Ok(resp) = unless_cancelled(cancel, self.resource(&url)).await? else { continue };
            if !(200..300).contains(&resp.status) {
                continue;
            }
            let map = sitemap::parse(&String::from_utf8_lossy(&resp.body));
            for s in map.sitemaps.iter().filter_map(|s| Url::parse(s).ok()) {
                if self.ctx.site.contains(&s) {
                    queue.push_back(s);
                }
            }
            for p in map.pages.iter().filter_map(|p| Url::parse(p).ok()) {
                self.discover(&p, 1).await?;
            }
        }
        Ok(())
    }

    /// Decides a newly found URL: ignored (off-site, not http, seen before),
    /// skipped with a reason, or queued for the next level.
    async fn discover(&mut self, url: &Url, depth: u32) -> Result<(), CrawlError> {
        let Some(fetch) = canon::clean(url).and_then(|u| self.ctx.site.adopt(&u)) else { return Ok(()) };
        let canonical = canon::canonical(&fetch);
        let key = canonical.to_string();
        if self.seen.len() >= MAX_SEEN && !self.seen.contains(&key) {
            // A site of endless links: counted, not remembered.
            self.truncated = true;
            *self.progress.skipped.entry(SkipReason::PageLimit.to_string()).or_insert(0) += 1;
            return Ok(());
        }
        if !self.seen.insert(key.clone()) {
            return Ok(());
        }
        self.progress.discovered += 1;
        let reason = if !self.filter.allows(&canonical) {
            Some(SkipReason::ExcludedPattern)
        } else if canon::has_binary_extension(&canonical) {
            Some(SkipReason::NotHtml)
        } else if self.cfg.respect_robots && !self.ctx.robots.allowed(&fetch) {
            Some(SkipReason::RobotsDisallowed)
        } else if let Err(r) = self.traps.check(&canonical) {
            Some(r)
        } else if depth > self.cfg.max_depth {
            Some(SkipReason::DepthLimit)
        } else if self.kept.len() >= self.cfg.max_pages {
            self.truncated = true;
            Some(SkipReason::PageLimit)
        } else {
            None
        };
        match reason {
            Some(r) => self.skip(&key, r, depth).await,
            None => {
                self.next.push_back(Entry { fetch, key, depth });
                self.report();
                Ok(())
            }
        }
    }

    async fn skip(&mut self, key: &str, reason: SkipReason, depth: u32) -> Result<(), CrawlError> {
        *self.progress.skipped.entry(reason.to_string()).or_insert(0) += 1;
        if reason.is_error() {
            self.progress.errors += 1;
        }
        if self.outcomes.len() < MAX_SEEN {
            self.outcomes.entry(key.to_string()).or_insert(Outcome::Skipped(reason));
        }
        self.report();
        if self.skipped_rows >= MAX_SKIPPED_ROWS {
            // The store keeps a sample; what was not kept proves nothing.
            self.truncated = true;
            return Ok(());
        }
        self.skipped_rows += 1;
        self.sink.page_skipped(SkippedPage { url: key.to_string(), reason, depth }).await.map_err(CrawlError::Sink)
    }

    /// The fate of a fetched URL.
    async fn handle(&mut self, entry: Entry, result: Result<PageData, SkipReason>) -> Result<(), CrawlError> {
        self.progress.fetched += 1;
        let page = match result {
            Ok(p) => p,
            Err(reason) => {
                self.claimed.insert(entry.key.clone());
                return self.skip(&entry.key, reason, entry.depth).await;
            }
        };
        let site = &self.ctx.site;
        let landed = canon::canonical(&site.adopt(&page.final_url).unwrap_or_else(|| page.final_url.clone()));
        // `rel=canonical` is honoured on the site only, and not when it names
        // the home page for an inner page (a common template mistake that
        // would fold a whole site into one URL).
        let declared = page
            .canonical
            .as_ref()
            .and_then(canon::clean)
            .and_then(|u| site.adopt(&u))
            .map(|u| canon::canonical(&u))
            .filter(|c| !(c.path() == "/" && landed.path() != "/"));
        let target = declared.unwrap_or_else(|| landed.clone());
        let (landed, target) = (landed.to_string(), target.to_string());
        if self.claimed.contains(&landed) || self.claimed.contains(&target) {
            self.claimed.insert(entry.key.clone());
            return self.skip(&entry.key, SkipReason::DuplicateUrl, entry.depth).await;
        }
        for k in [&entry.key, &landed, &target] {
            self.claimed.insert(k.clone());
        }
        if !self.hashes.insert(page.hash.clone()) {
            return self.skip(&entry.key, SkipReason::DuplicateContent, entry.depth).await;
        }

        let verdict = if page.noindex {
            Err(SkipReason::Noindex)
        } else if page.chunks.is_empty() {
            Err(SkipReason::Empty)
        } else {
            Ok(())
        };
        match verdict {
            Err(r) => self.skip(&entry.key, r, entry.depth).await?,
            Ok(()) => self.keep(&entry, &target, &page).await?,
        }
        if !page.nofollow {
            for link in &page.links {
                self.discover(link, entry.depth + 1).await?;
            }
        }
        Ok(())
    }

    async fn keep(&mut self, entry: &Entry, url: &str, page: &PageData) -> Result<(), CrawlError> {
        self.kept.insert(url.to_string(), page.hash.clone());
        self.outcomes.insert(entry.key.clone(), if entry.key == url { Outcome::Kept } else { Outcome::Moved });
        self.outcomes.insert(url.to_string(), Outcome::Kept);
        let before = self.baseline.pages().and_then(|p| p.get(url));
        if before == Some(&page.hash) {
            self.progress.unchanged += 1;
            self.changes.unchanged.push(url.to_string());
            self.report();
            return self.sink.page_unchanged(url, &page.hash).await.map_err(CrawlError::Sink);
        }
        let change = if before.is_some() { PageChange::Changed } else { PageChange::New };
        match change {
            PageChange::New => self.changes.new.push(url.to_string()),
            PageChange::Changed => self.changes.changed.push(url.to_string()),
        }
        let docs = page_docs(url, &page.title, &page.chunks);
        self.progress.indexed += 1;
        self.report();
        let indexed = IndexedPage {
            url: url.to_string(),
            title: page.title.clone(),
            content_hash: page.hash.clone(),
            change,
            depth: entry.depth,
            docs,
        };
        self.sink.index_page(indexed).await.map_err(CrawlError::Sink)
    }

    /// Removals, final state and the next baseline.
    async fn finish(mut self, result: Result<JobState, CrawlError>) -> CrawlReport {
        let (mut state, mut error) = match result {
            Ok(s) => (s, None),
            Err(e) => (JobState::Failed, Some(e)),
        };
        let mut pages: BTreeMap<String, String> =
            self.baseline.pages().map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        if let (JobState::Done, Baseline::Recrawl(before)) = (state, self.baseline) {
            let mut gone: Vec<String> = before
                .keys()
                .filter(|url| !self.kept.contains_key(*url))
                .filter(|url| match self.outcomes.get(*url) {
                    Some(Outcome::Kept) => false,
                    Some(Outcome::Moved) => true,
                    Some(Outcome::Skipped(r)) => r.is_definitive(),
                    // Never reached: gone only if the crawl saw everything
                    // (no page limit hit, and no failure that may have hidden
                    // the links to it); otherwise a later crawl decides.
                    None => !self.truncated && self.progress.errors == 0,
                })
                .cloned()
                .collect();
            gone.sort();
            for url in gone {
                if let Err(e) = self.sink.page_removed(&url).await {
                    state = JobState::Failed;
                    error = Some(CrawlError::Sink(e));
                    break;
                }
                pages.remove(&url);
                self.progress.removed += 1;
                self.changes.removed.push(url);
            }
        }
        pages.extend(self.kept.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.progress.state = state;
        self.progress.current_url = None;
        self.report();
        CrawlReport { state, error, progress: self.progress, changes: self.changes, pages }
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The index documents of a page's passages.
pub fn page_docs(url: &str, title: &str, chunks: &[Chunk]) -> Vec<IndexDoc> {
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut question = title.to_string();
            for h in c.heading_path.iter().filter(|h| !h.eq_ignore_ascii_case(title)) {
                question.push_str(" › ");
                question.push_str(h);
            }
            IndexDoc {
                id: page_doc_id(url, i),
                kind: KnowledgeSource::Page,
                question: truncate_chars(&question, MAX_KB_QUESTION),
                answer: truncate_chars(&c.text, MAX_KB_ANSWER),
                topic: None,
                url: Some(url.to_string()),
                source_request_id: None,
            }
        })
        .collect()
}
