//! `switchboard-knowledge` owns the knowledge base: the CRUD service over
//! knowledge entries, the tantivy full-text index that makes them and
//! crawled page passages searchable with BM25 scores, and the hybrid index
//! that fuses BM25 with sentence-embedding similarity.
//!
//! Invariants:
//! - The database is the source of truth; the index is derived and is rebuilt
//!   from it at start when missing, corrupt or out of step.
//! - Index writes run on one dedicated writer thread, never on the async
//!   runtime; a write's future resolves only after commit and reader reload,
//!   so what was written is searchable when the caller continues.

//! - Vectors are derived data too: stored in the database beside their
//!   documents (by text fingerprint and model), loaded into memory at start,
//!   recomputed only for changed text. Without an embedding model search is
//!   BM25 alone and `retrieval()` says why.

mod hybrid;
mod index;
mod service;

pub use hybrid::HybridIndex;
pub use index::{OpenedIndex, STOP_WORDS, TantivyIndex};
pub use service::{KnowledgeBase, KnowledgeError};
