//! The output port: where crawled pages, skips and removals go.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_core::knowledge::IndexDoc;

use crate::{SinkError, SkipReason};

/// Whether a page is new to the job's baseline or replaces a changed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageChange {
    New,
    Changed,
}

/// One page ready to index. Its `docs` replace every earlier passage of the
/// same `url` (a changed page may have fewer passages than before: the ids of
/// the old ones are `page_doc_id(url, i)` for `i` up to the old count).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedPage {
    /// The canonical URL.
    pub url: String,
    pub title: String,
    /// Hex SHA-256 of the extracted text (title and Markdown body).
    pub content_hash: String,
    pub change: PageChange,
    /// Link hops from the start page.
    pub depth: u32,
    /// Passages: `kind = "page"`, `url = Some(url)`, `question` = title and
    /// heading path, `answer` = passage text, `id = page_doc_id(url, index)`.
    pub docs: Vec<IndexDoc>,
}

/// A URL that was not indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedPage {
    /// The canonical URL (for redirects: the URL that was requested).
    pub url: String,
    pub reason: SkipReason,
    pub depth: u32,
}

/// Receives a crawl's results, one call at a time, in the order they are
/// decided. An error stops the job (state `failed`): results the sink could not
/// store must not be reported as done.
#[async_trait]
pub trait PageSink: Send + Sync {
    async fn index_page(&self, page: IndexedPage) -> Result<(), SinkError>;

    /// A page of the baseline was fetched and its content hash is unchanged.
    async fn page_unchanged(&self, _url: &str, _content_hash: &str) -> Result<(), SinkError> {
        Ok(())
    }

    async fn page_skipped(&self, skip: SkippedPage) -> Result<(), SinkError>;

    /// A page of the baseline is gone (re-crawl only): drop its passages.
    async fn page_removed(&self, url: &str) -> Result<(), SinkError>;
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The stable id of a page passage: the same URL and index always give the
/// same id, so re-indexing replaces rather than duplicates.
pub fn page_doc_id(canonical_url: &str, index: usize) -> String {
    format!("page:{}:{index}", &sha256_hex(canonical_url.as_bytes())[..32])
}

/// A sink that stores nothing and counts what it was given: for a dry run
/// (how fast and how far a crawl goes, without an index), as the crawl
/// example and the crawl benchmark use it.
#[derive(Debug, Default)]
pub struct CountingSink {
    pub pages: std::sync::atomic::AtomicU64,
    pub passages: std::sync::atomic::AtomicU64,
    pub skipped: std::sync::atomic::AtomicU64,
}

#[async_trait]
impl PageSink for CountingSink {
    async fn index_page(&self, page: IndexedPage) -> Result<(), SinkError> {
        use std::sync::atomic::Ordering::Relaxed;
        self.pages.fetch_add(1, Relaxed);
        self.passages.fetch_add(page.docs.len() as u64, Relaxed);
        Ok(())
    }

    async fn page_skipped(&self, _skip: SkippedPage) -> Result<(), SinkError> {
        self.skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn page_removed(&self, _url: &str) -> Result<(), SinkError> {
        Ok(())
    }
}
