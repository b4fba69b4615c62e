//! The knowledge-base service: validated CRUD that keeps database, index and
//! event stream in step.

use std::sync::Arc;

use switchboard_core::crawl::PagePassage;
use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::knowledge::{
    ContentDigest, IndexDoc, KnowledgeEntry, KnowledgeInput, KnowledgeSource, MAX_QUERY, SearchHit,
};
use switchboard_core::ports::{IndexError, KnowledgeIndex, Store, StoreError};
use switchboard_core::validate::ValidationError;
use switchboard_core::{Coded, ErrorCode, time};
use uuid::Uuid;

/// Errors of the knowledge base.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("knowledge entry not found")]
    NotFound,
    #[error("{0}")]
    Duplicate(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<StoreError> for KnowledgeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => KnowledgeError::NotFound,
            StoreError::Duplicate(m) => KnowledgeError::Duplicate(m),
            other => KnowledgeError::Store(other),
        }
    }
}

impl Coded for KnowledgeError {
    fn code(&self) -> ErrorCode {
        match self {
            KnowledgeError::Invalid(_) => ErrorCode::ValidationFailed,
            KnowledgeError::NotFound => ErrorCode::NotFound,
            KnowledgeError::Duplicate(_) => ErrorCode::Conflict,
            KnowledgeError::Store(_) | KnowledgeError::Index(_) => ErrorCode::Internal,
        }
    }
}

/// CRUD and search over knowledge entries.
#[derive(Clone)]
pub struct KnowledgeBase {
    store: Arc<dyn Store>,
    index: Arc<dyn KnowledgeIndex>,
    events: EventBus,
}

impl KnowledgeBase {
    pub fn new(store: Arc<dyn Store>, index: Arc<dyn KnowledgeIndex>, events: EventBus) -> Self {
        Self { store, index, events }
    }

    /// Makes the index match the database. Rebuilds when `force` (the index was
    /// just recreated), when the document counts disagree, or when the
    /// contents do (an edit committed to the database that a crash kept from
    /// the index changes no count). The index holds knowledge entries and
    /// crawled page passages, both stored in the database. Returns whether it
    /// rebuilt.
    pub async fn reconcile(&self, force: bool) -> Result<bool, KnowledgeError> {
        let db = self.store.count_knowledge().await? + self.store.count_page_docs().await?;
        let vectors_ok = self.index.vector_count().is_none_or(|v| v == db);
        let counts_ok = db == self.index.num_docs() && vectors_ok;
        let index_digest = if force || !counts_ok { None } else { self.index.content_digest().await? };
        if !force && counts_ok && index_digest.is_none() {
            // An index without fingerprints: the counts are all we can compare.
            return Ok(false);
        }
        let mut docs: Vec<IndexDoc> = self.store.all_knowledge().await?.iter().map(IndexDoc::from).collect();
        let entries = docs.len();
        docs.extend(self.store.all_page_docs().await?);
        if let Some(have) = index_digest
            && ContentDigest::of(&docs) == have
        {
            return Ok(false);
        }
        tracing::info!(entries, passages = docs.len() - entries, "rebuilding the search index from the database");
        self.index.rebuild(docs).await?;
        Ok(true)
    }

    /// A stored passage of a crawled page, by its index id (`None` once the
    /// page was re-crawled away).
    pub async fn page_passage(&self, id: &str) -> Result<Option<PagePassage>, KnowledgeError> {
        Ok(self.store.get_page_passage(id).await?)
    }

    pub async fn list(&self, limit: u32, offset: u32) -> Result<Vec<KnowledgeEntry>, KnowledgeError> {
        Ok(self.store.list_knowledge(limit, offset).await?)
    }

    pub async fn get(&self, id: Uuid) -> Result<KnowledgeEntry, KnowledgeError> {
        Ok(self.store.get_knowledge(id).await?)
    }

    pub async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, KnowledgeError> {
        let q = switchboard_core::validate::required("q", query, MAX_QUERY)?;
        Ok(self.index.search(&q, limit).await?)
    }

    pub async fn create(
        &self,
        input: &KnowledgeInput,
        source: KnowledgeSource,
    ) -> Result<KnowledgeEntry, KnowledgeError> {
        let valid = input.validate()?;
        let entry = self.store.insert_knowledge(Uuid::now_v7(), &valid, source, time::now()).await?;
        self.indexed(entry).await
    }

    pub async fn update(&self, id: Uuid, input: &KnowledgeInput) -> Result<KnowledgeEntry, KnowledgeError> {
        let valid = input.validate()?;
        let entry = self.store.update_knowledge(id, &valid, time::now()).await?;
        self.indexed(entry).await
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), KnowledgeError> {
        self.store.delete_knowledge(id).await?;
        self.index.remove(vec![id.to_string()]).await?;
        self.events.publish(EventKind::KnowledgeDeleted { id });
        Ok(())
    }

    async fn indexed(&self, entry: KnowledgeEntry) -> Result<KnowledgeEntry, KnowledgeError> {
        self.index.upsert(vec![IndexDoc::from(&entry)]).await?;
        self.events.publish(EventKind::KnowledgeUpdated { entry: entry.clone() });
        Ok(entry)
    }
}
