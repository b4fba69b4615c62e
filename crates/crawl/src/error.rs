//! The crate's error enum and the per-page skip reasons.

use serde::{Deserialize, Serialize};
use switchboard_core::{Coded, ErrorCode};

/// What a sink returns when it cannot store something. Sinks live in other
/// crates (database, search index), so their errors are boxed.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Why a whole crawl job could not run or had to stop. Per-page problems are
/// never errors: they are [`SkipReason`]s and the job carries on.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("invalid crawl configuration: {0}")]
    InvalidConfig(String),
    /// The start URL itself yielded no page, so there is nothing to crawl.
    #[error("the start URL could not be crawled: {0}")]
    Start(SkipReason),
    #[error("the page sink failed: {0}")]
    Sink(#[source] SinkError),
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
}

impl CrawlError {
    /// A stable, machine-readable name for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            CrawlError::InvalidConfig(_) => "invalid_config",
            CrawlError::Start(_) => "start_failed",
            CrawlError::Sink(_) => "sink_failed",
            CrawlError::Client(_) => "client_failed",
        }
    }
}

impl Coded for CrawlError {
    fn code(&self) -> ErrorCode {
        match self {
            CrawlError::InvalidConfig(_) => ErrorCode::ValidationFailed,
            // A start URL we refuse is the caller's input problem; one that
            // does not answer is the remote side's.
            CrawlError::Start(r) if !r.is_error() => ErrorCode::ValidationFailed,
            CrawlError::Start(_) => ErrorCode::Unavailable,
            CrawlError::Sink(_) | CrawlError::Client(_) => ErrorCode::Internal,
        }
    }
}

/// Why a URL was not indexed. Stable snake_case names (see [`SkipReason::code`]);
/// never rename one, jobs are persisted with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    RobotsDisallowed,
    DepthLimit,
    PageLimit,
    ExcludedPattern,
    /// A redirect left the site.
    OffSite,
    NotHtml,
    TooLarge,
    HttpStatus(u16),
    RedirectLoop,
    TooManyRedirects,
    Timeout,
    Unreachable,
    BlockedAddress,
    DuplicateContent,
    DuplicateUrl,
    InfiniteSpace,
    InvalidUrl,
    /// `<meta name="robots" content="noindex">`.
    Noindex,
    /// The page had no text worth indexing.
    Empty,
}

impl SkipReason {
    /// The reason's stable name, without the status code of `http_status`.
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::RobotsDisallowed => "robots_disallowed",
            SkipReason::DepthLimit => "depth_limit",
            SkipReason::PageLimit => "page_limit",
            SkipReason::ExcludedPattern => "excluded_pattern",
            SkipReason::OffSite => "off_site",
            SkipReason::NotHtml => "not_html",
            SkipReason::TooLarge => "too_large",
            SkipReason::HttpStatus(_) => "http_status",
            SkipReason::RedirectLoop => "redirect_loop",
            SkipReason::TooManyRedirects => "too_many_redirects",
            SkipReason::Timeout => "timeout",
            SkipReason::Unreachable => "unreachable",
            SkipReason::BlockedAddress => "blocked_address",
            SkipReason::DuplicateContent => "duplicate_content",
            SkipReason::DuplicateUrl => "duplicate_url",
            SkipReason::InfiniteSpace => "infinite_space",
            SkipReason::InvalidUrl => "invalid_url",
            SkipReason::Noindex => "noindex",
            SkipReason::Empty => "empty",
        }
    }

    /// Failures (as opposed to deliberate skips): the site or network
    /// misbehaved. Counted as `errors` in progress.
    pub fn is_error(self) -> bool {
        match self {
            SkipReason::HttpStatus(s) => s >= 500,
            SkipReason::Timeout | SkipReason::Unreachable | SkipReason::RedirectLoop | SkipReason::TooManyRedirects => {
                true
            }
            _ => false,
        }
    }

    /// Whether the outcome says the page is gone for good (as opposed to a
    /// passing failure), so a re-crawl may report a known page as removed.
    pub fn is_definitive(self) -> bool {
        match self {
            SkipReason::HttpStatus(s) => (400..500).contains(&s) && !matches!(s, 408 | 429),
            SkipReason::RobotsDisallowed
            | SkipReason::ExcludedPattern
            | SkipReason::OffSite
            | SkipReason::NotHtml
            | SkipReason::DuplicateContent
            | SkipReason::DuplicateUrl
            | SkipReason::InfiniteSpace
            | SkipReason::DepthLimit
            | SkipReason::Noindex
            | SkipReason::Empty => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::HttpStatus(s) => write!(f, "http_status({s})"),
            r => f.write_str(r.code()),
        }
    }
}
