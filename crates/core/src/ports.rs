//! Ports: what the domain needs from the outside world. Adapters implement
//! these (`switchboard-store` for SQLite, `switchboard-knowledge` for
//! tantivy); domain services hold them as `Arc<dyn ...>`.

use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::crawl::CrawlStore;
use crate::embed::EmbeddingStore;
use crate::help::{HelpRequest, HelpStatus, HistoryTurn, SupervisorResponse, Waiter};
use crate::knowledge::{IndexDoc, KnowledgeEntry, KnowledgeSource, SearchHit, ValidKnowledge};
use crate::notify::OutboxItem;
use crate::profile::BusinessProfile;
use crate::settings::{ModelSettings, Settings};
use crate::time::Timestamp;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Failures of the storage port.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The help request already left `pending`; carries its current state.
    #[error("help request is already {}", .0.status.as_str())]
    AlreadyFinal(Box<HelpRequest>),
    /// A uniqueness rule was violated (e.g. two entries with one question).
    #[error("{0}")]
    Duplicate(String),
    /// The row is not in a state that allows the change (a session that ended).
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(#[source] BoxError),
}

/// A new help request, fully formed by the domain.
#[derive(Debug, Clone)]
pub struct HelpRequestRecord {
    pub id: Uuid,
    pub customer_name: String,
    pub customer_contact: String,
    pub channel: String,
    pub question: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub deadline_at: chrono::DateTime<chrono::Utc>,
    pub session_id: Option<String>,
    pub history: Vec<HistoryTurn>,
    pub contact_confirmed: bool,
}

/// Moving a pending request to a final state.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub id: Uuid,
    pub status: HelpStatus,
    pub answer: Option<String>,
    pub topic: Option<String>,
    pub notes: Option<String>,
    pub resolved_by: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `None` for a timeout, which is not a supervisor's response.
    pub response: Option<SupervisorResponse>,
    /// A supervisor confirmed the contact the caller gave.
    pub confirm_contact: bool,
    /// The answer waits for review before it is learned.
    pub learn_pending: bool,
}

/// What else must be written in the same transaction as a [`Resolution`],
/// computed by the domain from the request as it was just updated.
#[derive(Debug, Clone, Default)]
pub struct Consequences {
    /// A knowledge entry to create, or to merge into an existing entry with
    /// the same normalised question.
    pub learn: Option<KnowledgeEntry>,
    pub notifications: Vec<OutboxItem>,
    /// New pending requests, one per caller who had joined a request whose
    /// answer was only for its first caller.
    pub reopen: Vec<HelpRequestRecord>,
}

/// The result of a committed resolution.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub request: HelpRequest,
    pub knowledge: Option<KnowledgeEntry>,
    pub notifications: Vec<OutboxItem>,
    pub reopened: Vec<HelpRequest>,
}

/// Computes [`Consequences`] inside the store's transaction.
pub type ConsequencesFn = Box<dyn FnOnce(&HelpRequest) -> Consequences + Send>;

/// One row of the append-only audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub actor: String,
    pub detail: serde_json::Value,
}

#[async_trait]
pub trait HelpRequestStore: Send + Sync {
    async fn insert_help_request(&self, r: &HelpRequestRecord) -> Result<HelpRequest, StoreError>;
    async fn get_help_request(&self, id: Uuid) -> Result<HelpRequest, StoreError>;
    /// Newest first.
    async fn list_help_requests(&self, status: Option<HelpStatus>, limit: u32) -> Result<Vec<HelpRequest>, StoreError>;
    /// Atomically: move the request out of `pending` (or fail with
    /// [`StoreError::AlreadyFinal`]), record the response, learn, and enqueue
    /// notifications. Of concurrent calls for one request exactly one wins.
    async fn resolve_help_request(&self, r: Resolution, then: ConsequencesFn) -> Result<Resolved, StoreError>;
    /// Pending requests whose deadline is at or before `now`.
    async fn overdue_help_requests(&self, now: Timestamp) -> Result<Vec<Uuid>, StoreError>;
    /// The earliest deadline among pending requests.
    async fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError>;
    /// All requests, or those in `status`.
    async fn count_help_requests(&self, status: Option<HelpStatus>) -> Result<u64, StoreError>;
    /// Adds a waiting caller to a request while it is pending
    /// (`AlreadyFinal` once it is not).
    async fn join_help_request(&self, id: Uuid, waiter: &Waiter) -> Result<HelpRequest, StoreError>;
    /// Pending requests opened from, or joined by, a session.
    async fn pending_for_session(&self, session_id: &str) -> Result<Vec<HelpRequest>, StoreError>;
    /// Ends a request's review: with `learn`, the entry is learned (merged
    /// by question like any learned entry), in the same transaction.
    /// `Conflict` when the request has no answer waiting for review.
    async fn finish_review(
        &self,
        id: Uuid,
        learn: Option<KnowledgeEntry>,
    ) -> Result<(HelpRequest, Option<KnowledgeEntry>), StoreError>;
}

#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Oldest first, paged.
    async fn list_knowledge(&self, limit: u32, offset: u32) -> Result<Vec<KnowledgeEntry>, StoreError>;
    async fn all_knowledge(&self) -> Result<Vec<KnowledgeEntry>, StoreError>;
    async fn get_knowledge(&self, id: Uuid) -> Result<KnowledgeEntry, StoreError>;
    /// Fails with [`StoreError::Duplicate`] when the normalised question exists.
    async fn insert_knowledge(
        &self,
        id: Uuid,
        input: &ValidKnowledge,
        source: KnowledgeSource,
        at: Timestamp,
    ) -> Result<KnowledgeEntry, StoreError>;
    async fn update_knowledge(
        &self,
        id: Uuid,
        input: &ValidKnowledge,
        at: Timestamp,
    ) -> Result<KnowledgeEntry, StoreError>;
    async fn delete_knowledge(&self, id: Uuid) -> Result<(), StoreError>;
    async fn count_knowledge(&self) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Pending rows due at or before `now`, oldest first.
    async fn due_outbox(&self, now: Timestamp, limit: u32) -> Result<Vec<OutboxItem>, StoreError>;
    async fn next_outbox_attempt(&self) -> Result<Option<Timestamp>, StoreError>;
    async fn outbox_sent(&self, id: Uuid, attempts: u32, at: Timestamp) -> Result<(), StoreError>;
    /// Records a failed attempt; `next` = `None` gives up (status `failed`).
    async fn outbox_failed_attempt(
        &self,
        id: Uuid,
        attempts: u32,
        error: &str,
        next: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn outbox_for_request(&self, request_id: Uuid) -> Result<Vec<OutboxItem>, StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn audit_for(&self, entity_id: &str) -> Result<Vec<AuditRecord>, StoreError>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The saved runtime settings, if a supervisor ever saved any.
    async fn load_settings(&self) -> Result<Option<Settings>, StoreError>;
    async fn save_settings(&self, s: &Settings, at: Timestamp) -> Result<(), StoreError>;
    /// The saved language-model choice, if a supervisor ever saved one.
    async fn load_model_settings(&self) -> Result<Option<ModelSettings>, StoreError>;
    async fn save_model_settings(&self, s: &ModelSettings, at: Timestamp) -> Result<(), StoreError>;
    /// The saved business profile, if anyone ever saved one.
    async fn load_profile(&self) -> Result<Option<BusinessProfile>, StoreError>;
    async fn save_profile(&self, p: &BusinessProfile, at: Timestamp) -> Result<(), StoreError>;
    /// The LiveKit server saved from the settings screen, if any.
    async fn load_livekit_settings(&self) -> Result<Option<crate::settings::LiveKitSettings>, StoreError>;
    async fn save_livekit_settings(
        &self,
        s: &crate::settings::LiveKitSettings,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The speech engines saved from the settings screen, keys included.
    async fn load_speech_settings(&self) -> Result<Option<crate::settings::SpeechSettings>, StoreError>;
    async fn save_speech_settings(&self, s: &crate::settings::SpeechSettings, at: Timestamp) -> Result<(), StoreError>;
}

/// Everything the domain stores. Implemented by each database adapter.
/// [`CrawlStore`] is part of it because page passages are knowledge too: the
/// search index is rebuilt from entries and passages together.
pub trait Store:
    HelpRequestStore + KnowledgeStore + OutboxStore + AuditStore + SettingsStore + CrawlStore + EmbeddingStore
{
}
impl<T> Store for T where
    T: HelpRequestStore + KnowledgeStore + OutboxStore + AuditStore + SettingsStore + CrawlStore + EmbeddingStore
{
}

/// Failures of the search-index port.
#[derive(Debug, Error)]
pub enum IndexError {
    #[error("search index error: {0}")]
    Backend(#[source] BoxError),
    #[error("search index is shut down")]
    Closed,
}

/// The full-text index over knowledge. Writes are durable and visible to
/// `search` when the returned future completes.
#[async_trait]
pub trait KnowledgeIndex: Send + Sync {
    async fn upsert(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError>;
    async fn remove(&self, ids: Vec<String>) -> Result<(), IndexError>;
    /// Replaces the whole index content with `docs`.
    async fn rebuild(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError>;
    /// BM25-scored hits, best first.
    async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError>;
    /// The distinct terms the index's analyzer makes of `text` (stop words
    /// dropped, stemmed), each with its inverse document frequency, so callers
    /// can weigh how much of a question a hit covers. Rare words weigh more.
    fn terms(&self, text: &str) -> Vec<(String, f32)> {
        let mut seen = Vec::new();
        for w in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let w = w.to_lowercase();
            if !seen.iter().any(|(t, _)| *t == w) {
                seen.push((w, 1.0));
            }
        }
        seen
    }
    fn num_docs(&self) -> u64;
    /// The digest of every document the index holds (see
    /// `IndexDoc::fingerprint`), for indexes that keep fingerprints (`None`
    /// otherwise): the start-up reconcile compares it with the database's,
    /// so an edit the index missed is found although no count changed.
    async fn content_digest(&self) -> Result<Option<crate::knowledge::ContentDigest>, IndexError> {
        Ok(None)
    }
    /// Documents with a stored embedding, for indexes that keep vectors
    /// (`None` otherwise): a count that disagrees with the database's
    /// documents makes the start-up reconcile rebuild.
    fn vector_count(&self) -> Option<u64> {
        None
    }
    /// Sentence embeddings of `texts` from the index's model (computed off
    /// the async runtime), `None` when search runs without one.
    async fn embed(&self, _texts: Vec<String>) -> Option<Vec<Vec<f32>>> {
        None
    }
    /// Which retrievers answer searches.
    fn retrieval(&self) -> crate::embed::RetrievalStatus {
        crate::embed::RetrievalStatus { mode: "bm25".into(), model: None, problem: None }
    }
}
