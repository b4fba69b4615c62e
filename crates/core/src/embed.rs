//! Sentence embeddings: the port a local model plugs into, the vectors the
//! database keeps beside their documents, and how search reports which
//! retrievers are running.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

use crate::ports::StoreError;

/// A model that turns text into unit-length vectors. Inference is CPU work:
/// callers run [`TextEmbedder::embed`] on a blocking thread, never on the
/// async runtime.
pub trait TextEmbedder: Send + Sync {
    /// Names the model, so vectors of another model are never compared.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// One L2-normalised vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedFailure>;
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("embedding failed: {0}")]
pub struct EmbedFailure(pub String);

/// Cosine similarity of two unit vectors: their dot product. Eight running
/// sums instead of one chain, so the compiler can use SIMD lanes (a float
/// sum in one chain must keep its order and is not vectorised); the search
/// scan spends its time here.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (xs, ys) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = xs.remainder().iter().zip(ys.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0f32; 8];
    for (x, y) in xs.zip(ys) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The stored vectors of one index document. `hash` fingerprints the text
/// they were computed from, so an edit is noticed and recomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    pub doc_id: String,
    pub model: String,
    pub hash: String,
    /// Of the whole document (question or title with answer or passage).
    pub vector: Vec<f32>,
    /// Of a question/answer entry's question alone.
    pub question_vector: Option<Vec<f32>>,
}

/// Where vectors are kept: beside their documents in the database, which
/// stays the source of truth; the in-memory vector index is rebuilt from it.
#[async_trait]
pub trait EmbeddingStore: Send + Sync {
    /// Every stored vector of `model`.
    async fn all_embeddings(&self, model: &str) -> Result<Vec<StoredEmbedding>, StoreError>;
    /// Inserts or replaces.
    async fn save_embeddings(&self, rows: &[StoredEmbedding]) -> Result<(), StoreError>;
    async fn delete_embeddings(&self, doc_ids: &[String]) -> Result<(), StoreError>;
}

/// Which retrievers answer searches, for `/api/agent` and the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetrievalStatus {
    /// `hybrid` (BM25 and embeddings, fused) or `bm25` (the embedding model
    /// is missing or broken).
    pub mode: String,
    pub model: Option<String>,
    /// Why search runs on BM25 alone, and what to do about it.
    pub problem: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_unit_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        // Lanes and the tail both count.
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.05).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((cosine(&a, &b) - naive).abs() < 1e-4);
    }
}
