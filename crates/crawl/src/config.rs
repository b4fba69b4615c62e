//! Crawl settings, with conservative defaults for crawling one business site.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::CrawlError;

/// Everything a crawl job is told. Serialisable so a job can be persisted and
/// resumed with exactly the settings it started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CrawlConfig {
    /// Where the crawl starts; its host is the site. Redirects of the start
    /// page may move the site (e.g. to `https://www.`).
    pub start_url: String,
    /// Most pages kept (indexed, or unchanged since a previous crawl).
    pub max_pages: usize,
    /// Most link hops from the start page (0: the start page only).
    /// Sitemap entries count as one hop.
    pub max_depth: u32,
    /// Globs over the URL path (`/blog/**`); when non-empty, a URL must
    /// match one. The start URL is always allowed.
    pub include: Vec<String>,
    /// Globs over the URL path (`/admin/**`, `*.php`); matching URLs are skipped.
    pub exclude: Vec<String>,
    pub user_agent: String,
    pub respect_robots: bool,
    pub use_sitemaps: bool,
    /// Pages being fetched or parsed at once, over all hosts.
    pub concurrency: usize,
    /// Most requests in flight at once to one host: the ceiling of the
    /// adaptive window (see [`crate::throttle`]).
    pub per_host_concurrency: usize,
    /// The adaptive throttle's aim: about this many requests in flight to a
    /// host (AutoThrottle's target concurrency; the delay between request
    /// starts is the observed latency divided by it). Also the window a host
    /// starts with.
    pub target_concurrency: f64,
    /// Politeness floor: least time between the starts of two requests to
    /// one host, whatever the adaptive delay says (a robots.txt
    /// `Crawl-delay` raises it, up to 10 s). 0: the throttle alone decides.
    pub delay_ms: u64,
    /// The most the throttle waits: its delay, a `Retry-After` and the
    /// back-off after a 429 or 503 are capped at this.
    pub max_delay_ms: u64,
    /// The pause after a 429 or 503 without `Retry-After`, doubling with
    /// each one in a row.
    pub backoff_ms: u64,
    /// How many more times a request answered 429 or 503 is sent before the
    /// page is skipped with that status.
    pub max_retries: u8,
    /// Whole-request timeout (connect, headers and body).
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub max_redirects: u8,
    /// Bodies longer than this are abandoned (`too_large`).
    pub max_body_bytes: usize,
    /// Allow loopback, private, link-local and other internal addresses.
    /// Off by default: a crawl target is user input (SSRF).
    pub allow_private: bool,
    /// Single addresses allowed even when `allow_private` is off (an
    /// intranet host the operator trusts).
    pub allow_addresses: Vec<IpAddr>,
    /// Static name → addresses overrides, like curl's `--resolve`; still
    /// subject to the address guard.
    pub resolve: HashMap<String, Vec<IpAddr>>,
    pub traps: TrapLimits,
    pub chunking: ChunkConfig,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            start_url: String::new(),
            max_pages: 200,
            max_depth: 5,
            include: Vec::new(),
            exclude: Vec::new(),
            user_agent: concat!("SwitchboardBot/", env!("CARGO_PKG_VERSION"), " (+knowledge crawler)").into(),
            respect_robots: true,
            use_sitemaps: true,
            concurrency: 16,
            per_host_concurrency: 8,
            target_concurrency: 4.0,
            delay_ms: 0,
            max_delay_ms: 60_000,
            backoff_ms: 1_000,
            max_retries: 3,
            timeout_ms: 15_000,
            connect_timeout_ms: 5_000,
            max_redirects: 5,
            max_body_bytes: 2 * 1024 * 1024,
            allow_private: false,
            allow_addresses: Vec::new(),
            resolve: HashMap::new(),
            traps: TrapLimits::default(),
            chunking: ChunkConfig::default(),
        }
    }
}

impl CrawlConfig {
    pub fn new(start_url: impl Into<String>) -> Self {
        CrawlConfig { start_url: start_url.into(), ..Default::default() }
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Rejects settings that would make a job meaningless or unbounded.
    pub fn validate(&self) -> Result<(), CrawlError> {
        let bad = |m: &str| Err(CrawlError::InvalidConfig(m.into()));
        match url::Url::parse(self.start_url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return bad("start_url must be an absolute http(s) URL"),
        }
        if self.max_pages == 0 {
            return bad("max_pages must be at least 1");
        }
        if self.concurrency == 0 || self.per_host_concurrency == 0 {
            return bad("concurrency limits must be at least 1");
        }
        if !(self.target_concurrency.is_finite() && self.target_concurrency >= 0.1) {
            return bad("target_concurrency must be at least 0.1");
        }
        if self.max_delay_ms == 0 || self.delay_ms > self.max_delay_ms || self.backoff_ms > self.max_delay_ms {
            return bad("max_delay_ms must be positive and at least delay_ms and backoff_ms");
        }
        if self.timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return bad("timeouts must be positive");
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes must be positive");
        }
        if self.user_agent.trim().is_empty() {
            return bad("user_agent must not be empty");
        }
        if self.chunking.max_words < 20 || self.chunking.min_words > self.chunking.max_words {
            return bad("chunking needs max_words >= 20 and min_words <= max_words");
        }
        crate::canon::PathFilter::new(&self.include, &self.exclude)?;
        Ok(())
    }
}

/// Guards against infinite link spaces (calendars, session URLs, relative
/// link loops). A URL over any limit is skipped as `infinite_space`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrapLimits {
    pub max_url_len: usize,
    pub max_query_params: usize,
    pub max_path_segments: usize,
    /// Most URLs sharing one date-like template (`/calendar?month=#`,
    /// `/events/#/#`) — a calendar links to its next month forever.
    pub max_dated_variants: usize,
}

impl Default for TrapLimits {
    fn default() -> Self {
        TrapLimits { max_url_len: 1024, max_query_params: 6, max_path_segments: 12, max_dated_variants: 12 }
    }
}

/// Passage sizes, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkConfig {
    /// A chunk never exceeds this (overlap included).
    pub max_words: usize,
    /// Short sections are merged with the next one until a chunk has this many.
    pub min_words: usize,
    /// Sentences repeated at the start of the next chunk of the same section.
    pub overlap_sentences: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig { max_words: 350, min_words: 200, overlap_sentences: 1 }
    }
}
