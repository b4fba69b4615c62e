//! `switchboard-crawl` owns turning a business website into knowledge
//! passages: fetching its pages politely and safely, extracting their main
//! content, cutting it into passages and handing them, as
//! [`switchboard_core::knowledge::IndexDoc`]s of kind `page`, to a sink.
//!
//! The pipeline is split at traits — [`Fetcher`] → [`Extractor`] →
//! [`Chunker`] → [`PageSink`] — and driven by [`Crawler::run`], which also
//! reports [`CrawlProgress`] and obeys a `CancellationToken`. Persisting jobs
//! and serving them over HTTP belong to the shells; a [`CrawlJob`] is plain
//! serialisable data and a [`CrawlReport`] carries the next [`Baseline`].
//!
//! Invariants:
//! - Framework-free: no axum, tauri, sqlx or tantivy here. The job service
//!   ([`jobs::Jobs`]) reaches storage and the index only through core ports.
//! - Every address connected to is checked after DNS resolution, on every
//!   redirect hop, by the resolver the connection itself uses (the SSRF guard,
//!   [`guard`]); internal addresses are refused unless `allow_private`.
//! - Every discovered same-site URL is decided exactly once: indexed, unchanged,
//!   or skipped with one [`SkipReason`]. Per-page trouble never fails a job;
//!   a job always ends `Done`, `Failed` or `Cancelled`.
//! - A page is identified by its canonical URL ([`canon`]); the same content
//!   under two URLs is indexed once (`duplicate_content`).
//! - The page and depth limits are exact: at most `max_pages` pages are kept,
//!   and depth is the shortest link distance (the frontier is walked one level
//!   at a time).
//! - Passage ids are stable ([`page_doc_id`]): re-indexing a page replaces its
//!   passages.
//! - Nothing blocks the runtime: HTML parsing and chunking run on blocking
//!   threads, one page per core at a time, while other pages are fetched.
//! - Politeness adapts ([`throttle`]): per host, a window of requests in
//!   flight and a delay derived from the observed latency (AutoThrottle-like),
//!   a robots.txt `Crawl-delay` as a floor, and a pause for `Retry-After` or
//!   an exponential back-off on 429/503, whose pages are tried again a
//!   bounded number of times.

pub mod canon;
pub mod chunk;
pub mod config;
pub mod crawler;
mod error;
pub mod extract;
pub mod fetch;
pub mod guard;
pub mod jobs;
pub mod robots;
pub mod sink;
pub mod sitemap;
pub mod throttle;

pub use chunk::{Chunk, Chunker, HeadingChunker};
pub use config::{ChunkConfig, CrawlConfig, TrapLimits};
pub use crawler::{
    Baseline, CrawlJob, CrawlProgress, CrawlReport, Crawler, JobState, PageChanges, ProgressFn, page_docs,
};
pub use error::{CrawlError, SinkError, SkipReason};
pub use extract::{Block, Extracted, Extractor, HtmlExtractor};
pub use fetch::{ContentKind, Fetched, Fetcher, Purpose, ReqwestFetcher};
pub use jobs::{Jobs, JobsError};
pub use sink::{CountingSink, IndexedPage, PageChange, PageSink, SkippedPage, page_doc_id};
