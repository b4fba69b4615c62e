//! The crawl service: jobs that run the [`Crawler`] in the background, store
//! their progress, pages and passages through the core's [`CrawlStore`] port,
//! index passages through the [`KnowledgeIndex`] port, and publish
//! `crawl.progress` / `crawl.finished` on the event bus.
//!
//! - One job runs at a time; the others wait `queued`.
//! - Jobs are tasks owned by the service; [`Jobs::shutdown`] stops and awaits
//!   them. A job stopped by shutdown is stored `interrupted` (and, should the
//!   process die instead, [`Jobs::recover`] marks it so at the next start).
//! - The database is written first, the index second: the index can always be
//!   rebuilt from the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::crawl::{
    CrawlStore, Job, JobChanges, JobCounts, JobKind, JobRecord, JobState as StoredState, JobUpdate, MAX_MAX_DEPTH,
    MAX_MAX_PAGES, MAX_PATTERN, MAX_PATTERNS, NewJob, OnboardInput, PageStatus,
};
use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::ports::{KnowledgeIndex, StoreError};
use switchboard_core::settings::MAX_URL;
use switchboard_core::validate::ValidationError;
use switchboard_core::{Coded, ErrorCode, time};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::canon::PathFilter;
use crate::{
    Baseline, CrawlConfig, CrawlError, CrawlJob, CrawlProgress, CrawlReport, Crawler, IndexedPage, JobState,
    PageChanges, PageSink, SinkError, SkippedPage,
};

/// How often a running job's progress is stored and published.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long `cancel` waits for the job to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// Most jobs listed.
const LIST_LIMIT: u32 = 500;

/// Most pages one `pages` call lists.
pub const MAX_PAGES_LISTED: u32 = 1000;

/// Errors of the crawl service.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("crawl job not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("the crawl service is shutting down")]
    ShuttingDown,
}

impl From<StoreError> for JobsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => JobsError::NotFound,
            other => JobsError::Store(other),
        }
    }
}

impl Coded for JobsError {
    fn code(&self) -> ErrorCode {
        match self {
            JobsError::Invalid(_) => ErrorCode::ValidationFailed,
            JobsError::NotFound => ErrorCode::NotFound,
            JobsError::Conflict(_) => ErrorCode::Conflict,
            JobsError::ShuttingDown => ErrorCode::Unavailable,
            JobsError::Store(_) => ErrorCode::Internal,
        }
    }
}

/// A job of this process that is queued or running.
struct Handle {
    cancel: CancellationToken,
    /// Cancelled by a user (as opposed to shutdown).
    by_user: AtomicBool,
    /// Becomes true when the task stored the job's final state.
    done: watch::Sender<bool>,
}

struct Inner {
    store: Arc<dyn CrawlStore>,
    index: Arc<dyn KnowledgeIndex>,
    events: EventBus,
    /// Settings every job starts from (politeness, timeouts, chunking).
    template: CrawlConfig,
    allow_private: AtomicBool,
    active: std::sync::Mutex<HashMap<Uuid, Arc<Handle>>>,
    /// One job runs at a time.
    slot: Arc<Semaphore>,
    /// Serialises state checks with the changes they allow (two concurrent
    /// resumes of one job, or re-crawls of one site, start one run).
    admin: tokio::sync::Mutex<()>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// Crawl jobs: start, watch, cancel, resume, re-crawl.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

impl Jobs {
    /// `template` carries the crawler settings every job starts from; its
    /// `start_url`, limits and patterns are replaced per job.
    pub fn new(
        store: Arc<dyn CrawlStore>,
        index: Arc<dyn KnowledgeIndex>,
        events: EventBus,
        template: CrawlConfig,
        // A child of the app's token: cancelling the app stops every job.
        shutdown: CancellationToken,
    ) -> Jobs {
        let allow_private = AtomicBool::new(template.allow_private);
        Jobs {
            inner: Arc::new(Inner {
                store,
                index,
                events,
                template,
                allow_private,
                active: std::sync::Mutex::new(HashMap::new()),
                slot: Arc::new(Semaphore::new(1)),
                admin: tokio::sync::Mutex::new(()),
                tasks: TaskTracker::new(),
                shutdown,
            }),
        }
    }

    /// Marks jobs a previous process left queued or running as `interrupted`.
    pub async fn recover(&self) -> Result<u64, JobsError> {
        Ok(self.inner.store.interrupt_active_jobs(time::now()).await?)
    }

    /// Whether new jobs may fetch loopback, private and link-local addresses.
    pub fn set_allow_private(&self, allow: bool) {
        self.inner.allow_private.store(allow, Ordering::Relaxed);
    }

    pub fn allow_private(&self) -> bool {
        self.inner.allow_private.load(Ordering::Relaxed)
    }

    /// Validates and queues an onboarding job.
    pub async fn start(&self, input: &OnboardInput) -> Result<Job, JobsError> {
        self.start_allowing(input, Vec::new()).await
    }

    /// Like [`Jobs::start`], additionally allowing the given addresses even
    /// when private addresses are refused (the demo site on the server's own
    /// loopback address).
    pub async fn start_allowing(&self, input: &OnboardInput, allow: Vec<IpAddr>) -> Result<Job, JobsError> {
        let (config, site) = self.config_for(input)?;
        let config = CrawlConfig { allow_addresses: allow, ..config };
        self.create(config, site, JobKind::Onboard, Baseline::Fresh).await
    }

    pub async fn get(&self, id: Uuid) -> Result<Job, JobsError> {
        Ok(self.inner.store.get_job(id).await?.job)
    }

    /// Newest first.
    pub async fn list(&self) -> Result<Vec<Job>, JobsError> {
        Ok(self.inner.store.list_jobs(LIST_LIMIT).await?)
    }

    /// The pages the job touched, with their status, by URL: `limit` (at
    /// most [`MAX_PAGES_LISTED`]) from `offset`.
    pub async fn pages(
        &self,
        id: Uuid,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<switchboard_core::crawl::CrawledPage>, JobsError> {
        if !(1..=MAX_PAGES_LISTED).contains(&limit) {
            return Err(ValidationError::new("limit", format!("must be between 1 and {MAX_PAGES_LISTED}")).into());
        }
        self.inner.store.get_job(id).await?;
        Ok(self.inner.store.job_pages(id, offset, limit).await?)
    }

    /// Stops a queued or running job; answers once it is stored `cancelled`.
    pub async fn cancel(&self, id: Uuid) -> Result<Job, JobsError> {
        let rec = self.inner.store.get_job(id).await?;
        if !rec.job.state.is_active() {
            return Err(JobsError::Conflict(format!("the job is already {}", rec.job.state.as_str())));
        }
        let handle = self.inner.active.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned();
        match handle {
            Some(h) => {
                h.by_user.store(true, Ordering::SeqCst);
                h.cancel.cancel();
                let mut done = h.done.subscribe();
                let _ = tokio::time::timeout(CANCEL_WAIT, done.wait_for(|d| *d)).await;
            }
            // Not run by this process (it cannot be: `recover` ran at start),
            // so nothing else will finish it.
            None => {
                let u = final_update(StoredState::Cancelled, rec.job.counts.clone(), None, rec.job.changes.clone());
                let job = self.inner.store.update_job(id, &u).await?;
                self.inner.events.publish(EventKind::CrawlFinished { job });
            }
        }
        Ok(self.inner.store.get_job(id).await?.job)
    }

    /// Runs an interrupted, cancelled or failed job again. Pages it already
    /// indexed are fetched for their links but not indexed again unless they
    /// changed.
    pub async fn resume(&self, id: Uuid) -> Result<Job, JobsError> {
        let _admin = self.inner.admin.lock().await;
        let rec = self.inner.store.get_job(id).await?;
        if !rec.job.state.can_resume() {
            return Err(JobsError::Conflict(format!(
                "only an interrupted, cancelled or failed job can be resumed; this one is {}",
                rec.job.state.as_str()
            )));
        }
        let mut config = self.stored_config(&rec)?;
        config.allow_private = self.allow_private();
        let done: HashMap<String, String> =
            self.inner.store.site_baseline(&rec.site, Some(id)).await?.into_iter().collect();
        let baseline = match rec.job.kind {
            // A re-crawl compares with the site as it was before it started.
            JobKind::Recrawl => {
                let mut before: HashMap<String, String> =
                    self.inner.store.site_baseline(&rec.site, None).await?.into_iter().collect();
                before.extend(done);
                Baseline::Recrawl(before)
            }
            JobKind::Onboard => Baseline::Resume(done),
        };
        let u = JobUpdate {
            state: StoredState::Queued,
            counts: rec.job.counts.clone(),
            current_url: None,
            error: None,
            changes: None,
            finished_at: None,
            at: time::now(),
        };
        let job = self.inner.store.update_job(id, &u).await?;
        self.inner.events.publish(EventKind::CrawlProgress { job: job.clone() });
        self.spawn(id, rec.site, rec.job.kind, CrawlJob { config, baseline })?;
        Ok(job)
    }

    /// Starts a new job over the same site and settings, comparing against
    /// what is indexed: new, changed, unchanged and removed pages.
    pub async fn recrawl(&self, id: Uuid) -> Result<Job, JobsError> {
        let _admin = self.inner.admin.lock().await;
        let rec = self.inner.store.get_job(id).await?;
        if self.inner.store.site_busy(&rec.site).await? {
            return Err(JobsError::Conflict("a job for this site is already queued or running".into()));
        }
        let mut config = self.stored_config(&rec)?;
        config.allow_private = self.allow_private();
        let before: HashMap<String, String> =
            self.inner.store.site_baseline(&rec.site, None).await?.into_iter().collect();
        self.create(config, rec.site, JobKind::Recrawl, Baseline::Recrawl(before)).await
    }

    /// Stops every job (they are stored `interrupted`) and waits for them.
    pub async fn shutdown(&self) {
        self.inner.tasks.close();
        self.inner.shutdown.cancel();
        self.inner.tasks.wait().await;
    }

    fn stored_config(&self, rec: &JobRecord) -> Result<CrawlConfig, JobsError> {
        serde_json::from_str(&rec.config)
            .map_err(|e| JobsError::Store(StoreError::Corrupt(format!("crawl job config: {e}"))))
    }

    /// The crawler settings for an input, and the site it belongs to.
    fn config_for(&self, input: &OnboardInput) -> Result<(CrawlConfig, String), JobsError> {
        let raw = switchboard_core::validate::required("url", &input.url, MAX_URL)?;
        let url =
            url::Url::parse(&raw).map_err(|e| ValidationError::new("url", format!("is not a valid URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::new("url", "must be an http:// or https:// URL").into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValidationError::new("url", "must name a host").into());
        }
        let max_pages = input.max_pages.unwrap_or(switchboard_core::crawl::DEFAULT_MAX_PAGES);
        if !(1..=MAX_MAX_PAGES).contains(&max_pages) {
            return Err(ValidationError::new("max_pages", format!("must be between 1 and {MAX_MAX_PAGES}")).into());
        }
        let max_depth = input.max_depth.unwrap_or(switchboard_core::crawl::DEFAULT_MAX_DEPTH);
        if max_depth > MAX_MAX_DEPTH {
            return Err(ValidationError::new("max_depth", format!("must be between 0 and {MAX_MAX_DEPTH}")).into());
        }
        let include = patterns("include", input.include.as_deref())?;
        let exclude = patterns("exclude", input.exclude.as_deref())?;
        if PathFilter::new(&include, &[]).is_err() {
            return Err(ValidationError::new("include", "contains a pattern that is not a valid glob").into());
        }
        if PathFilter::new(&[], &exclude).is_err() {
            return Err(ValidationError::new("exclude", "contains a pattern that is not a valid glob").into());
        }
        let config = CrawlConfig {
            start_url: url.to_string(),
            max_pages: max_pages as usize,
            max_depth,
            include,
            exclude,
            allow_private: self.allow_private(),
            ..self.inner.template.clone()
        };
        config.validate().map_err(|e| ValidationError::new("url", e.to_string()))?;
        Ok((config, url.origin().ascii_serialization()))
    }

    async fn create(
        &self,
        config: CrawlConfig,
        site: String,
        kind: JobKind,
        baseline: Baseline,
    ) -> Result<Job, JobsError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(JobsError::ShuttingDown);
        }
        let new = NewJob {
            id: Uuid::now_v7(),
            url: config.start_url.clone(),
            site: site.clone(),
            kind,
            max_pages: config.max_pages as u32,
            max_depth: config.max_depth,
            include: config.include.clone(),
            exclude: config.exclude.clone(),
            config: serde_json::to_string(&config)
                .map_err(|e| JobsError::Store(StoreError::Corrupt(format!("crawl job config: {e}"))))?,
            at: time::now(),
        };
        let rec = self.inner.store.insert_job(&new).await?;
        // Published before the task can publish `running`.
        self.inner.events.publish(EventKind::CrawlProgress { job: rec.job.clone() });
        self.spawn(new.id, site, kind, CrawlJob { config, baseline })?;
        Ok(rec.job)
    }

    fn spawn(&self, id: Uuid, site: String, kind: JobKind, job: CrawlJob) -> Result<(), JobsError> {
        let handle = Arc::new(Handle {
            cancel: self.inner.shutdown.child_token(),
            by_user: AtomicBool::new(false),
            done: watch::Sender::new(false),
        });
        self.inner.active.lock().unwrap_or_else(|p| p.into_inner()).insert(id, handle.clone());
        let inner = self.inner.clone();
        // A closed tracker still runs the task; the shutdown token stops it.
        inner.tasks.clone().spawn(async move {
            run_job(&inner, id, &site, kind, &job, &handle).await;
            {
                // A resume may already have registered the job's next run.
                let mut active = inner.active.lock().unwrap_or_else(|p| p.into_inner());
                if active.get(&id).is_some_and(|h| Arc::ptr_eq(h, &handle)) {
                    active.remove(&id);
                }
            }
            handle.done.send_replace(true);
        });
        Ok(())
    }
}

fn patterns(field: &'static str, list: Option<&[String]>) -> Result<Vec<String>, ValidationError> {
    let list = list.unwrap_or_default();
    if list.len() > MAX_PATTERNS {
        return Err(ValidationError::new(field, format!("must have at most {MAX_PATTERNS} patterns")));
    }
    list.iter().map(|p| switchboard_core::validate::required(field, p, MAX_PATTERN)).collect()
}

fn counts(p: &CrawlProgress) -> JobCounts {
    JobCounts {
        discovered: p.discovered,
        fetched: p.fetched,
        indexed: p.indexed,
        unchanged: p.unchanged,
        removed: p.removed,
        errors: p.errors,
        skipped: p.skipped.clone(),
    }
}

/// Sorted, so a report does not depend on the order fetches finished in.
fn changes(c: PageChanges) -> JobChanges {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    JobChanges {
        new: sorted(c.new),
        changed: sorted(c.changed),
        unchanged: sorted(c.unchanged),
        removed: sorted(c.removed),
    }
}

fn final_update(
    state: StoredState,
    counts: JobCounts,
    error: Option<String>,
    changes: Option<JobChanges>,
) -> JobUpdate {
    let at = time::now();
    JobUpdate { state, counts, current_url: None, error, changes, finished_at: Some(at), at }
}

/// The stable reason a job failed.
fn failure(e: &CrawlError) -> String {
    match e {
        CrawlError::Start(reason) => reason.to_string(),
        other => other.kind().to_string(),
    }
}

async fn run_job(inner: &Inner, id: Uuid, site: &str, kind: JobKind, job: &CrawlJob, handle: &Handle) {
    // Wait for the slot, unless stopped first.
    let permit = tokio::select! {
        p = inner.slot.clone().acquire_owned() => p.ok(),
        _ = handle.cancel.cancelled() => None,
    };
    let stopped =
        |h: &Handle| if h.by_user.load(Ordering::SeqCst) { StoredState::Cancelled } else { StoredState::Interrupted };
    let Some(_permit) = permit.filter(|_| !handle.cancel.is_cancelled()) else {
        let prev = inner.store.get_job(id).await.map(|r| r.job.counts).unwrap_or_default();
        finish(inner, id, final_update(stopped(handle), prev, None, None)).await;
        return;
    };
    let running = JobUpdate {
        state: StoredState::Running,
        counts: JobCounts::default(),
        current_url: None,
        error: None,
        changes: None,
        finished_at: None,
        at: time::now(),
    };
    match inner.store.update_job(id, &running).await {
        Ok(job) => {
            inner.events.publish(EventKind::CrawlProgress { job });
        }
        Err(e) => tracing::error!(job = %id, error = %e, "cannot store a crawl job's start"),
    }

    let sink = JobSink { store: inner.store.clone(), index: inner.index.clone(), site: site.to_string(), job: id };
    let (tx, mut rx) = watch::channel(CrawlProgress::default());
    let mut saver_done = false;
    let observe = move |p: &CrawlProgress| {
        tx.send_replace(p.clone());
    };
    // Progress is saved by its own future, polled together with the crawl:
    // neither waits for the other (the crawl's sink and the saver share the
    // database writer, so a saver run *instead of* polling the crawl could
    // wait for a connection the paused crawl holds).
    let saver = async {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match rx.has_changed() {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            let p = rx.borrow_and_update().clone();
            let u = JobUpdate {
                state: StoredState::Running,
                counts: counts(&p),
                current_url: p.current_url.clone(),
                error: None,
                changes: None,
                finished_at: None,
                at: time::now(),
            };
            match inner.store.update_job(id, &u).await {
                Ok(job) => {
                    inner.events.publish(EventKind::CrawlProgress { job });
                }
                Err(e) => tracing::warn!(job = %id, error = %e, "cannot store crawl progress"),
            }
        }
    };
    let crawl = Crawler::crawl(job, &sink, &observe, &handle.cancel);
    // Both futures are dropped at the end of this block, before the final
    // state is stored: a saver paused mid-write would hold the writer.
    let report: CrawlReport = {
        tokio::pin!(saver, crawl);
        loop {
            tokio::select! {
                r = &mut crawl => break r,
                () = &mut saver, if !saver_done => saver_done = true,
            }
        }
    };
    let state = match report.state {
        JobState::Done => StoredState::Done,
        JobState::Failed => StoredState::Failed,
        JobState::Cancelled => stopped(handle),
        // A report is never `Running`.
        JobState::Running => StoredState::Failed,
    };
    if let Some(e) = &report.error {
        tracing::warn!(job = %id, error = %e, "crawl job failed");
    }
    let error = report.error.as_ref().map(failure);
    let changes = (kind == JobKind::Recrawl && state == StoredState::Done).then(|| changes(report.changes));
    finish(inner, id, final_update(state, counts(&report.progress), error, changes)).await;
}

async fn finish(inner: &Inner, id: Uuid, u: JobUpdate) {
    match inner.store.update_job(id, &u).await {
        Ok(job) => {
            tracing::info!(job = %id, state = job.state.as_str(), indexed = job.counts.indexed, "crawl job finished");
            inner.events.publish(EventKind::CrawlProgress { job: job.clone() });
            inner.events.publish(EventKind::CrawlFinished { job });
        }
        Err(e) => tracing::error!(job = %id, error = %e, "cannot store a crawl job's end"),
    }
}

/// Where a job's pages go: the database first (the source of truth), then
/// the search index.
struct JobSink {
    store: Arc<dyn CrawlStore>,
    index: Arc<dyn KnowledgeIndex>,
    site: String,
    job: Uuid,
}

#[async_trait]
impl PageSink for JobSink {
    async fn index_page(&self, page: IndexedPage) -> Result<(), SinkError> {
        let gone = self
            .store
            .save_indexed_page(&self.site, self.job, &page.title, &page.content_hash, &page.docs, time::now())
            .await?;
        self.index.upsert(page.docs).await?;
        if !gone.is_empty() {
            self.index.remove(gone).await?;
        }
        Ok(())
    }

    async fn page_unchanged(&self, url: &str, _content_hash: &str) -> Result<(), SinkError> {
        Ok(self.store.save_unchanged_page(&self.site, self.job, url, time::now()).await?)
    }

    async fn page_skipped(&self, skip: SkippedPage) -> Result<(), SinkError> {
        let status = if skip.reason.is_error() { PageStatus::Error } else { PageStatus::Skipped };
        Ok(self
            .store
            .save_skipped_page(&self.site, self.job, &skip.url, status, &skip.reason.to_string(), time::now())
            .await?)
    }

    async fn page_removed(&self, url: &str) -> Result<(), SinkError> {
        let ids = self.store.remove_page(&self.site, self.job, url, time::now()).await?;
        if !ids.is_empty() {
            self.index.remove(ids).await?;
        }
        Ok(())
    }
}
