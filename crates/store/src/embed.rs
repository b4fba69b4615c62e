//! Stored sentence embeddings (`embeddings` table): little-endian f32 blobs.

use async_trait::async_trait;
use sqlx::Row;
use switchboard_core::embed::{EmbeddingStore, StoredEmbedding};
use switchboard_core::ports::StoreError;

use crate::backend;
use crate::sqlite::SqliteStore;

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Result<Vec<f32>, StoreError> {
    if b.len() % 4 != 0 {
        return Err(StoreError::Corrupt(format!("embedding blob of {} bytes", b.len())));
    }
    Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Rows per statement when saving: one transaction, few round trips.
const SAVE_CHUNK: usize = 200;

#[async_trait]
impl EmbeddingStore for SqliteStore {
    async fn all_embeddings(&self, model: &str) -> Result<Vec<StoredEmbedding>, StoreError> {
        let rows = sqlx::query("SELECT doc_id, model, hash, vector, question_vector FROM embeddings WHERE model = ?")
            .bind(model)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let q: Option<Vec<u8>> = r.try_get("question_vector").map_err(backend)?;
                Ok(StoredEmbedding {
                    doc_id: r.try_get("doc_id").map_err(backend)?,
                    model: r.try_get("model").map_err(backend)?,
                    hash: r.try_get("hash").map_err(backend)?,
                    vector: from_blob(&r.try_get::<Vec<u8>, _>("vector").map_err(backend)?)?,
                    question_vector: q.as_deref().map(from_blob).transpose()?,
                })
            })
            .collect()
    }

    async fn save_embeddings(&self, rows: &[StoredEmbedding]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for chunk in rows.chunks(SAVE_CHUNK) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT OR REPLACE INTO embeddings (doc_id, model, hash, vector, question_vector) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.doc_id)
                    .push_bind(&r.model)
                    .push_bind(&r.hash)
                    .push_bind(to_blob(&r.vector))
                    .push_bind(r.question_vector.as_deref().map(to_blob));
            });
            q.build().execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn delete_embeddings(&self, doc_ids: &[String]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for chunk in doc_ids.chunks(SAVE_CHUNK) {
            let mut q = sqlx::QueryBuilder::new("DELETE FROM embeddings WHERE doc_id IN (");
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip() {
        let v = vec![0.5f32, -1.25, 3.0e-7];
        assert_eq!(from_blob(&to_blob(&v)).unwrap(), v);
        assert!(from_blob(&[1, 2, 3]).is_err());
    }
}
