//! Crawl jobs and crawled pages: what the API shows of onboarding a website,
//! and the storage port that keeps jobs, pages and page passages.
//!
//! Page passages are index documents of kind `page`; the database keeps them
//! so the search index can always be rebuilt from it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::knowledge::IndexDoc;
use crate::ports::StoreError;
use crate::time::Timestamp;

/// Why a job was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// First crawl of a site (`POST /api/onboard`).
    Onboard,
    /// A later crawl compared against what is indexed.
    Recrawl,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Onboard => "onboard",
            JobKind::Recrawl => "recrawl",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "onboard" => Some(JobKind::Onboard),
            "recrawl" => Some(JobKind::Recrawl),
            _ => None,
        }
    }
}

/// Where a job is. `queued → running → done | failed | cancelled`; a job a
/// stopped process left queued or running becomes `interrupted`, and
/// `interrupted`, `cancelled` and `failed` jobs may be resumed (back to `queued`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "failed" => Some(JobState::Failed),
            "cancelled" => Some(JobState::Cancelled),
            "interrupted" => Some(JobState::Interrupted),
            _ => None,
        }
    }

    /// Queued or running.
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }

    /// A job in this state may be run again with `resume`.
    pub fn can_resume(self) -> bool {
        matches!(self, JobState::Interrupted | JobState::Cancelled | JobState::Failed)
    }
}

/// A job's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobCounts {
    /// Distinct same-site URLs found.
    pub discovered: u64,
    /// Page fetches finished.
    pub fetched: u64,
    /// Pages indexed (new or changed).
    pub indexed: u64,
    /// Pages fetched again with the content already indexed.
    pub unchanged: u64,
    /// Pages gone since the previous crawl (re-crawl only).
    pub removed: u64,
    /// Skips that are failures (timeouts, unreachable, server errors…).
    pub errors: u64,
    /// Skips by reason (`robots_disallowed`, `http_status(404)`, …).
    pub skipped: BTreeMap<String, u64>,
}

/// URLs sorted by what a re-crawl found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobChanges {
    pub new: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

/// A crawl job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// The start URL.
    pub url: String,
    pub kind: JobKind,
    pub state: JobState,
    pub max_pages: u32,
    pub max_depth: u32,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub counts: JobCounts,
    /// The URL being fetched, while running.
    pub current_url: Option<String>,
    /// Why the job failed (a stable reason such as `blocked_address`).
    pub error: Option<String>,
    /// What a re-crawl found; null for onboarding jobs.
    pub changes: Option<JobChanges>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A new job, fully formed by the crawl service.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub url: String,
    /// The site the job's pages belong to (the start URL's origin).
    pub site: String,
    pub kind: JobKind,
    pub max_pages: u32,
    pub max_depth: u32,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// The crawler's whole configuration, as JSON, so a resume runs with
    /// exactly the settings the job started with.
    pub config: String,
    pub at: Timestamp,
}

/// A job as stored: what the API shows, plus what the service needs.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job: Job,
    pub site: String,
    pub config: String,
}

/// A progress or state change of a job.
#[derive(Debug, Clone)]
pub struct JobUpdate {
    pub state: JobState,
    pub counts: JobCounts,
    pub current_url: Option<String>,
    pub error: Option<String>,
    pub changes: Option<JobChanges>,
    /// Set when the job reached a final state.
    pub finished_at: Option<Timestamp>,
    pub at: Timestamp,
}

/// What happened to a page in its latest crawl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PageStatus {
    Indexed,
    Unchanged,
    Skipped,
    Removed,
    Error,
}

impl PageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PageStatus::Indexed => "indexed",
            PageStatus::Unchanged => "unchanged",
            PageStatus::Skipped => "skipped",
            PageStatus::Removed => "removed",
            PageStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "indexed" => Some(PageStatus::Indexed),
            "unchanged" => Some(PageStatus::Unchanged),
            "skipped" => Some(PageStatus::Skipped),
            "removed" => Some(PageStatus::Removed),
            "error" => Some(PageStatus::Error),
            _ => None,
        }
    }
}

/// A page of a crawled site as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CrawledPage {
    /// The canonical URL.
    pub url: String,
    pub title: Option<String>,
    pub status: PageStatus,
    /// Why it was skipped, failed or removed.
    pub reason: Option<String>,
    /// Passages indexed for it.
    pub chunks: u32,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One stored page passage (the source of a `page` index document).
#[derive(Debug, Clone, PartialEq)]
pub struct PagePassage {
    pub doc: IndexDoc,
    pub updated_at: Timestamp,
}

/// Jobs, pages and page passages.
#[async_trait]
pub trait CrawlStore: Send + Sync {
    async fn insert_job(&self, job: &NewJob) -> Result<JobRecord, StoreError>;
    async fn get_job(&self, id: Uuid) -> Result<JobRecord, StoreError>;
    /// Newest first.
    async fn list_jobs(&self, limit: u32) -> Result<Vec<Job>, StoreError>;
    async fn update_job(&self, id: Uuid, u: &JobUpdate) -> Result<Job, StoreError>;
    /// Moves every queued or running job to `interrupted`; returns how many.
    async fn interrupt_active_jobs(&self, at: Timestamp) -> Result<u64, StoreError>;
    /// Whether a job of `site` is queued or running.
    async fn site_busy(&self, site: &str) -> Result<bool, StoreError>;
    /// Pages last touched by the job, by URL: `limit` of them from `offset`.
    async fn job_pages(&self, job: Uuid, offset: u32, limit: u32) -> Result<Vec<CrawledPage>, StoreError>;
    /// Canonical URL → content hash of the site's pages that have passages;
    /// with `kept_by`, only those the given job indexed or found unchanged.
    async fn site_baseline(&self, site: &str, kept_by: Option<Uuid>) -> Result<Vec<(String, String)>, StoreError>;
    /// Records an indexed page and replaces its passages with `docs` in one
    /// transaction. Returns the ids of the passages it no longer has.
    async fn save_indexed_page(
        &self,
        site: &str,
        job: Uuid,
        title: &str,
        content_hash: &str,
        docs: &[IndexDoc],
        at: Timestamp,
    ) -> Result<Vec<String>, StoreError>;
    /// Records that a kept page is unchanged (its passages stay).
    async fn save_unchanged_page(&self, site: &str, job: Uuid, url: &str, at: Timestamp) -> Result<(), StoreError>;
    /// Records a skipped URL (`error` for failures). A page that has
    /// passages keeps them: only a removal drops them.
    async fn save_skipped_page(
        &self,
        site: &str,
        job: Uuid,
        url: &str,
        status: PageStatus,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Marks the page removed and deletes its passages; returns their ids.
    async fn remove_page(&self, site: &str, job: Uuid, url: &str, at: Timestamp) -> Result<Vec<String>, StoreError>;
    /// Every stored passage, as index documents (kind `page`).
    async fn all_page_docs(&self) -> Result<Vec<IndexDoc>, StoreError>;
    async fn count_page_docs(&self) -> Result<u64, StoreError>;
    async fn get_page_passage(&self, id: &str) -> Result<Option<PagePassage>, StoreError>;
}

/// Input of `POST /api/onboard`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardInput {
    /// The site's start page, `http://` or `https://`.
    #[schema(max_length = 2000, pattern = r"^[ \t\r\n]*[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z][A-Za-z0-9.\-]*(:[0-9]{1,4})?([/?#][^\s\x00-\x1F\x7F-\x9F]*)?[ \t\r\n]*$")]
    pub url: String,
    /// Most pages kept (default 50, 1..=10000).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub max_pages: Option<u32>,
    /// Most link hops from the start page (default 3, 0..=10).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10)]
    pub max_depth: Option<u32>,
    /// Globs over URL paths (`/services/**`); when given, a page must match one.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub include: Option<Vec<String>>,
    /// Globs over URL paths whose pages are skipped.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub exclude: Option<Vec<String>>,
}

pub const DEFAULT_MAX_PAGES: u32 = 50;
pub const MAX_MAX_PAGES: u32 = 10_000;
pub const DEFAULT_MAX_DEPTH: u32 = 3;
pub const MAX_MAX_DEPTH: u32 = 10;
pub const MAX_PATTERNS: usize = 50;
pub const MAX_PATTERN: usize = 200;
