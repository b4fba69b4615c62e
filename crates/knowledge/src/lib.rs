//! `switchboard-knowledge` owns the knowledge base: the CRUD service over
//! knowledge entries and the tantivy full-text index that makes them (and,
//! later, crawled page chunks) searchable with BM25 scores.
//!
//! Invariants:
//! - The database is the source of truth; the index is derived and is rebuilt
//!   from it at start when missing, corrupt or out of step.
//! - Index writes run on one dedicated writer thread, never on the async
//!   runtime; a write's future resolves only after commit and reader reload,
//!   so what was written is searchable when the caller continues.

mod index;
mod service;

pub use index::{OpenedIndex, TantivyIndex};
pub use service::{KnowledgeBase, KnowledgeError};
