//! Hybrid retrieval: BM25 from tantivy and cosine similarity of sentence
//! embeddings, fused by reciprocal rank. Vectors are computed once per
//! document text, stored in the database beside their documents, and held in
//! memory: compared with every query exactly up to 20,000 rows, and above
//! that through a sign-bit first pass whose closest rows are compared
//! exactly. Without an embedding model the index is BM25 alone and says so.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use switchboard_core::embed::{EmbeddingStore, RetrievalStatus, StoredEmbedding, TextEmbedder, cosine};
use switchboard_core::knowledge::{IndexDoc, SearchHit};
use switchboard_core::ports::{IndexError, KnowledgeIndex};

use crate::index::TantivyIndex;

/// Reciprocal-rank-fusion constant: the usual 60 flattens the head so that
/// neither retriever's top hit wins alone.
const RRF_K: f32 = 60.0;
/// Each retriever proposes this many times the hits asked for.
const CANDIDATES: usize = 4;
/// Below this cosine a document is not a match by meaning: without a floor
/// every query would find every document (unrelated MiniLM pairs score about
/// 0 to 0.2).
const MIN_SIMILARITY: f32 = 0.3;
/// Texts per model call while indexing.
const EMBED_BATCH: usize = 32;

/// Up to this many rows every search compares the query with every row.
/// Above it a first pass compares sign bits (48 bytes a row instead of
/// 1,536, so 100,000 rows are 4.8 MB instead of 154 MB to read), and only
/// the closest rows are compared exactly.
const EXACT_ROWS: usize = 20_000;
/// Rows the sign-bit pass keeps per hit wanted, and at least this many.
const SIGN_CANDIDATES_PER_HIT: usize = 25;
const MIN_SIGN_CANDIDATES: usize = 1_000;

/// The in-memory vectors: one row per document, a question row for
/// question/answer entries.
#[derive(Default)]
struct Table {
    ids: Vec<String>,
    hashes: Vec<String>,
    /// `ids.len() * dim` floats, row-major.
    data: Vec<f32>,
    questions: HashMap<usize, Vec<f32>>,
    pos: HashMap<String, usize>,
    signs: Signs,
}

/// Sign bits of every row, taken after subtracting the rows' mean: sentence
/// embeddings share a common direction, and the signs of raw components
/// would mostly say only that.
#[derive(Default)]
struct Signs {
    center: Vec<f32>,
    /// `words_per_row(dim)` words a row.
    bits: Vec<u64>,
    /// Row count when `center` was last computed; recomputed as it doubles.
    centered_at: usize,
}

fn words_per_row(dim: usize) -> usize {
    dim.div_ceil(64)
}

fn sign_bits(v: &[f32], center: &[f32], out: &mut [u64]) {
    out.iter_mut().for_each(|w| *w = 0);
    for (i, x) in v.iter().enumerate() {
        if *x > center.get(i).copied().unwrap_or(0.0) {
            out[i / 64] |= 1 << (i % 64);
        }
    }
}

/// Hamming distances of `q` to every row, with the processor's popcount
/// instruction where it has one.
fn hamming_all(bits: &[u64], q: &[u64]) -> Vec<u16> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the feature was detected just now.
        return unsafe { hamming_popcnt(bits, q) };
    }
    hamming_plain(bits, q)
}

fn hamming_plain(bits: &[u64], q: &[u64]) -> Vec<u16> {
    bits.chunks_exact(q.len()).map(|row| row.iter().zip(q).map(|(a, b)| (a ^ b).count_ones() as u16).sum()).collect()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(bits: &[u64], q: &[u64]) -> Vec<u16> {
    hamming_plain(bits, q)
}

impl Table {
    fn put(&mut self, dim: usize, e: StoredEmbedding) {
        if e.vector.len() != dim {
            return;
        }
        let w = words_per_row(dim);
        match self.pos.get(&e.doc_id) {
            Some(&i) => {
                self.data[i * dim..(i + 1) * dim].copy_from_slice(&e.vector);
                sign_bits(&e.vector, &self.signs.center, &mut self.signs.bits[i * w..(i + 1) * w]);
                self.hashes[i] = e.hash;
                match e.question_vector {
                    Some(q) => self.questions.insert(i, q),
                    None => self.questions.remove(&i),
                };
            }
            None => {
                let i = self.ids.len();
                self.pos.insert(e.doc_id.clone(), i);
                self.ids.push(e.doc_id);
                self.hashes.push(e.hash);
                self.data.extend_from_slice(&e.vector);
                self.signs.bits.resize((i + 1) * w, 0);
                sign_bits(&e.vector, &self.signs.center, &mut self.signs.bits[i * w..]);
                if let Some(q) = e.question_vector {
                    self.questions.insert(i, q);
                }
                if self.ids.len() >= (2 * self.signs.centered_at).max(EXACT_ROWS / 2) {
                    self.recenter(dim);
                }
            }
        }
    }

    /// The mean of the rows becomes the center, and every row's signs are
    /// taken again (at 100,000 rows some tens of milliseconds, and only each
    /// time the table doubles).
    fn recenter(&mut self, dim: usize) {
        let n = self.ids.len();
        let mut center = vec![0f32; dim];
        for row in self.data.chunks_exact(dim) {
            center.iter_mut().zip(row).for_each(|(c, x)| *c += x);
        }
        center.iter_mut().for_each(|c| *c /= n.max(1) as f32);
        let w = words_per_row(dim);
        for (row, out) in self.data.chunks_exact(dim).zip(self.signs.bits.chunks_exact_mut(w)) {
            sign_bits(row, &center, out);
        }
        self.signs.center = center;
        self.signs.centered_at = n;
    }

    fn remove(&mut self, dim: usize, id: &str) {
        let Some(i) = self.pos.remove(id) else { return };
        let last = self.ids.len() - 1;
        let w = words_per_row(dim);
        // Swap the last row into the hole.
        self.ids.swap_remove(i);
        self.hashes.swap_remove(i);
        if i != last {
            let (head, tail) = self.data.split_at_mut(last * dim);
            head[i * dim..(i + 1) * dim].copy_from_slice(&tail[..dim]);
            self.signs.bits.copy_within(last * w..(last + 1) * w, i * w);
            self.pos.insert(self.ids[i].clone(), i);
            match self.questions.remove(&last) {
                Some(q) => self.questions.insert(i, q),
                None => self.questions.remove(&i),
            };
        } else {
            self.questions.remove(&i);
        }
        self.data.truncate(last * dim);
        self.signs.bits.truncate(last * w);
    }

    /// The `k` rows most similar to `q` (the better of document and question
    /// similarity), best first. Question rows are always compared exactly:
    /// they are few, and they are what the learned-answer fast path needs.
    fn top(&self, dim: usize, q: &[f32], k: usize) -> Vec<(usize, f32)> {
        let mut scored: Vec<(usize, f32)> = if self.ids.len() <= EXACT_ROWS {
            self.data.chunks_exact(dim).map(|row| cosine(q, row)).enumerate().collect()
        } else {
            self.candidates(dim, q, (k * SIGN_CANDIDATES_PER_HIT).max(MIN_SIGN_CANDIDATES))
                .into_iter()
                .map(|i| (i, cosine(q, &self.data[i * dim..(i + 1) * dim])))
                .collect()
        };
        scored.extend(self.questions.iter().map(|(i, qv)| (*i, cosine(q, qv))));
        // Best first; a row scored twice keeps its better score. Only the
        // head is sorted: k rows, plus room for rows counted twice.
        let best_first = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let head = k + self.questions.len();
        if head < scored.len() {
            scored.select_nth_unstable_by(head, best_first);
            scored.truncate(head);
        }
        scored.sort_unstable_by(best_first);
        let mut seen = std::collections::HashSet::with_capacity(k);
        scored.retain(|(i, _)| seen.len() < k && seen.insert(*i));
        scored
    }

    /// The `m` rows (about) whose sign bits are closest to the query's.
    fn candidates(&self, dim: usize, q: &[f32], m: usize) -> Vec<usize> {
        let w = words_per_row(dim);
        let mut qbits = vec![0u64; w];
        sign_bits(q, &self.signs.center, &mut qbits);
        let dist = hamming_all(&self.signs.bits, &qbits);
        // A histogram of distances finds the cut without sorting every row.
        let mut counts = vec![0usize; dim + 1];
        dist.iter().for_each(|d| counts[*d as usize] += 1);
        let mut cut = 0;
        let mut taken = 0;
        while cut < dim && taken + counts[cut] < m {
            taken += counts[cut];
            cut += 1;
        }
        dist.iter().enumerate().filter(|(_, d)| **d as usize <= cut).map(|(i, _)| i).collect()
    }

    fn similarity(&self, dim: usize, q: &[f32], id: &str) -> Option<(f32, Option<f32>)> {
        let i = *self.pos.get(id)?;
        let doc = cosine(q, &self.data[i * dim..(i + 1) * dim]);
        Some((doc, self.questions.get(&i).map(|qv| cosine(q, qv))))
    }
}

struct Vectors {
    embedder: Arc<dyn TextEmbedder>,
    store: Arc<dyn EmbeddingStore>,
    table: RwLock<Table>,
    dim: usize,
}

/// The search index the app uses: tantivy plus, when an embedding model
/// loaded, the vector side.
pub struct HybridIndex {
    text: Arc<TantivyIndex>,
    vectors: Option<Arc<Vectors>>,
    status: RetrievalStatus,
}

/// What a document's vectors are computed from, and its fingerprint.
fn embed_text(d: &IndexDoc) -> String {
    match &d.topic {
        Some(t) => format!("{}\n{}\n{}", d.question, d.answer, t),
        None => format!("{}\n{}", d.question, d.answer),
    }
}

fn fingerprint(d: &IndexDoc) -> String {
    let mut h = Sha256::new();
    h.update(embed_text(d).as_bytes());
    h.update([u8::from(d.kind.is_qa())]);
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn be(e: impl std::fmt::Display) -> IndexError {
    IndexError::Backend(e.to_string().into())
}

impl HybridIndex {
    /// BM25 only; `problem` says why (shown in `/api/agent` and the UI).
    pub fn text_only(text: Arc<TantivyIndex>, problem: Option<String>) -> Self {
        HybridIndex { text, vectors: None, status: RetrievalStatus { mode: "bm25".into(), model: None, problem } }
    }

    /// Both retrievers; loads the stored vectors of `embedder`'s model.
    pub async fn hybrid(
        text: Arc<TantivyIndex>,
        embedder: Arc<dyn TextEmbedder>,
        store: Arc<dyn EmbeddingStore>,
    ) -> Result<Self, IndexError> {
        let dim = embedder.dim();
        let model = embedder.model_id().to_string();
        let stored = store.all_embeddings(&model).await.map_err(be)?;
        let mut table = Table::default();
        for e in stored {
            table.put(dim, e);
        }
        tracing::info!(vectors = table.ids.len(), model = %model, "embeddings loaded");
        Ok(HybridIndex {
            text,
            vectors: Some(Arc::new(Vectors { embedder, store, table: RwLock::new(table), dim })),
            status: RetrievalStatus { mode: "hybrid".into(), model: Some(model), problem: None },
        })
    }

    pub fn text(&self) -> &Arc<TantivyIndex> {
        &self.text
    }
}

async fn embed_blocking(embedder: Arc<dyn TextEmbedder>, texts: Vec<String>) -> Result<Vec<Vec<f32>>, IndexError> {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(EMBED_BATCH) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            out.extend(embedder.embed(&refs).map_err(be)?);
        }
        Ok(out)
    })
    .await
    .map_err(be)?
}

impl Vectors {
    /// Computes and stores vectors for the documents whose text changed.
    async fn index(&self, docs: &[IndexDoc]) -> Result<(), IndexError> {
        let todo: Vec<(&IndexDoc, String)> = {
            let t = self.table.read().unwrap_or_else(|p| p.into_inner());
            docs.iter()
                .map(|d| (d, fingerprint(d)))
                .filter(|(d, h)| t.pos.get(&d.id).is_none_or(|&i| t.hashes[i] != *h))
                .collect()
        };
        if todo.is_empty() {
            return Ok(());
        }
        let mut texts: Vec<String> = todo.iter().map(|(d, _)| embed_text(d)).collect();
        let qa: Vec<usize> = todo.iter().enumerate().filter(|(_, (d, _))| d.kind.is_qa()).map(|(i, _)| i).collect();
        texts.extend(qa.iter().map(|&i| todo[i].0.question.clone()));
        let mut vecs = embed_blocking(self.embedder.clone(), texts).await?;
        let question_vecs = vecs.split_off(todo.len());
        let mut by_doc: HashMap<usize, Vec<f32>> = qa.into_iter().zip(question_vecs).collect();
        let model = self.embedder.model_id().to_string();
        let rows: Vec<StoredEmbedding> = todo
            .iter()
            .zip(vecs)
            .enumerate()
            .map(|(i, ((d, hash), vector))| StoredEmbedding {
                doc_id: d.id.clone(),
                model: model.clone(),
                hash: hash.clone(),
                vector,
                question_vector: by_doc.remove(&i),
            })
            .collect();
        // The database first: the table is only a copy of it.
        self.store.save_embeddings(&rows).await.map_err(be)?;
        let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
        for r in rows {
            t.put(self.dim, r);
        }
        Ok(())
    }

    async fn remove(&self, ids: &[String]) -> Result<(), IndexError> {
        self.store.delete_embeddings(ids).await.map_err(be)?;
        let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            t.remove(self.dim, id);
        }
        Ok(())
    }
}

/// Reciprocal rank fusion of two best-first lists of ids.
fn fuse(bm25: &[String], dense: &[String]) -> Vec<(String, f32)> {
    let mut score: HashMap<&str, f32> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for list in [bm25, dense] {
        for (rank, id) in list.iter().enumerate() {
            let e = score.entry(id.as_str()).or_insert_with(|| {
                order.push(id.as_str());
                0.0
            });
            *e += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(String, f32)> = order.into_iter().map(|id| (id.to_string(), score[id])).collect();
    // Stable: ties keep BM25's order.
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

#[async_trait]
impl KnowledgeIndex for HybridIndex {
    async fn upsert(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError> {
        if let Some(v) = &self.vectors
            && let Err(e) = v.index(&docs).await
        {
            // Search still finds the documents by their words.
            tracing::warn!(error = %e, "embedding documents failed; they are searchable by BM25 only");
        }
        self.text.upsert(docs).await
    }

    async fn remove(&self, ids: Vec<String>) -> Result<(), IndexError> {
        if let Some(v) = &self.vectors {
            v.remove(&ids).await?;
        }
        self.text.remove(ids).await
    }

    async fn rebuild(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError> {
        if let Some(v) = &self.vectors {
            let keep: std::collections::HashSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
            let orphans: Vec<String> = {
                let t = v.table.read().unwrap_or_else(|p| p.into_inner());
                t.ids.iter().filter(|id| !keep.contains(id.as_str())).cloned().collect()
            };
            v.remove(&orphans).await?;
            if let Err(e) = v.index(&docs).await {
                tracing::warn!(error = %e, "embedding documents failed; they are searchable by BM25 only");
            }
        }
        self.text.rebuild(docs).await
    }

    async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        let Some(v) = &self.vectors else { return self.text.search(query, limit).await };
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let wide = limit.max(1) * CANDIDATES;
        let (bm25, qv) =
            tokio::join!(self.text.search(query, wide), embed_blocking(v.embedder.clone(), vec![query.to_string()]));
        let bm25 = bm25?;
        let qv = match qv {
            Ok(mut q) if !q.is_empty() => q.swap_remove(0),
            Ok(_) | Err(_) => return Ok(bm25.into_iter().take(limit).collect()),
        };
        let bm25_ids: Vec<String> = bm25.iter().map(|h| h.doc.id.clone()).collect();
        // The scan, and the similarities of every candidate, off the runtime;
        // the BM25 ids go along and come back for the fusion.
        let (dense_ids, sims, bm25_ids): (Vec<String>, HashMap<String, (f32, Option<f32>)>, Vec<String>) = {
            let vectors = v.clone();
            tokio::task::spawn_blocking(move || {
                let t = vectors.table.read().unwrap_or_else(|p| p.into_inner());
                let top = t.top(vectors.dim, &qv, wide);
                let ids: Vec<String> =
                    top.iter().filter(|(_, s)| *s >= MIN_SIMILARITY).map(|(i, _)| t.ids[*i].clone()).collect();
                let sims = ids
                    .iter()
                    .chain(bm25_ids.iter())
                    .filter_map(|id| t.similarity(vectors.dim, &qv, id).map(|s| (id.clone(), s)))
                    .collect();
                (ids, sims, bm25_ids)
            })
            .await
            .map_err(be)?
        };
        let fused = fuse(&bm25_ids, &dense_ids);
        let chosen: Vec<String> = fused.into_iter().take(limit).map(|(id, _)| id).collect();
        let mut by_id: HashMap<String, SearchHit> = bm25.into_iter().map(|h| (h.doc.id.clone(), h)).collect();
        let missing: Vec<String> = chosen.iter().filter(|id| !by_id.contains_key(*id)).cloned().collect();
        for doc in self.text.docs(missing).await? {
            by_id.insert(doc.id.clone(), SearchHit { doc, score: 0.0, similarity: None, question_similarity: None });
        }
        Ok(chosen
            .into_iter()
            .filter_map(|id| {
                let mut hit = by_id.remove(&id)?;
                if let Some((doc, question)) = sims.get(&id) {
                    hit.similarity = Some(*doc);
                    hit.question_similarity = *question;
                }
                Some(hit)
            })
            .collect())
    }

    fn terms(&self, text: &str) -> Vec<(String, f32)> {
        self.text.terms(text)
    }

    fn num_docs(&self) -> u64 {
        self.text.num_docs()
    }

    async fn content_digest(&self) -> Result<Option<switchboard_core::knowledge::ContentDigest>, IndexError> {
        self.text.content_digest().await
    }

    fn vector_count(&self) -> Option<u64> {
        let v = self.vectors.as_ref()?;
        Some(v.table.read().unwrap_or_else(|p| p.into_inner()).ids.len() as u64)
    }

    fn retrieval(&self) -> RetrievalStatus {
        self.status.clone()
    }

    async fn embed(&self, texts: Vec<String>) -> Option<Vec<Vec<f32>>> {
        let v = self.vectors.as_ref()?;
        embed_blocking(v.embedder.clone(), texts).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_rewards_agreement() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = fuse(&a(&["x", "y", "z"]), &a(&["y", "w"]));
        assert_eq!(f[0].0, "y", "found by both");
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn table_rows_are_replaced_and_removed() {
        let row = |id: &str, v: [f32; 2], q: Option<[f32; 2]>| StoredEmbedding {
            doc_id: id.into(),
            model: "m".into(),
            hash: id.into(),
            vector: v.to_vec(),
            question_vector: q.map(|q| q.to_vec()),
        };
        let mut t = Table::default();
        t.put(2, row("a", [1.0, 0.0], Some([0.0, 1.0])));
        t.put(2, row("b", [0.0, 1.0], None));
        t.put(2, row("c", [0.6, 0.8], None));
        // a's question matches [0,1] best, like b's document.
        let top = t.top(2, &[0.0, 1.0], 2);
        assert_eq!(top.len(), 2);
        assert!((top[0].1 - 1.0).abs() < 1e-6);
        t.remove(2, "a");
        assert_eq!(t.ids.len(), 2);
        assert_eq!(t.similarity(2, &[0.6, 0.8], "c").unwrap().0, 1.0);
        assert!(t.similarity(2, &[1.0, 0.0], "a").is_none());
        // c moved into a's row and lost a's question vector.
        assert_eq!(t.similarity(2, &[0.0, 1.0], "c").unwrap().1, None);
        t.put(2, row("b", [1.0, 0.0], None));
        assert!((t.similarity(2, &[1.0, 0.0], "b").unwrap().0 - 1.0).abs() < 1e-6);
        // A vector of the wrong size is ignored.
        t.put(2, StoredEmbedding { vector: vec![1.0], ..row("d", [0.0, 0.0], None) });
        assert!(t.similarity(2, &[1.0, 0.0], "d").is_none());
    }

    /// Unit vectors shaped like sentence embeddings: a direction they all
    /// share, one of 30 topics (1,000 rows each), and noise.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let shared: Vec<f32> = (0..dim).map(|_| next()).collect();
        let topics: Vec<Vec<f32>> = (0..30).map(|_| (0..dim).map(|_| next()).collect()).collect();
        (0..n)
            .map(|i| {
                let t = &topics[(i * 7919) % topics.len()];
                let mut v: Vec<f32> = (0..dim).map(|d| 1.5 * shared[d] + t[d] + 0.6 * next()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect()
    }

    #[test]
    fn a_large_table_finds_what_the_exact_scan_finds() {
        let dim = 384;
        // Queries come from the same topics as the rows, as a caller's
        // questions come from the business's own subjects.
        let mut rows = clustered(EXACT_ROWS + 10_050, dim, 1);
        let queries = rows.split_off(EXACT_ROWS + 10_000);
        let mut t = Table::default();
        for (i, v) in rows.iter().enumerate() {
            let question = (i % 1000 == 0).then(|| rows[(i + 1) % rows.len()].clone());
            t.put(
                dim,
                StoredEmbedding {
                    doc_id: format!("d{i}"),
                    model: "m".into(),
                    hash: String::new(),
                    vector: v.clone(),
                    question_vector: question,
                },
            );
        }
        assert!(t.signs.centered_at >= EXACT_ROWS, "recentred as the table grew");
        let (mut found, mut wanted) = (0, 0);
        for q in &queries {
            let mut exact: Vec<(usize, f32)> = rows.iter().map(|r| cosine(q, r)).enumerate().collect();
            for (i, qv) in &t.questions {
                exact[*i].1 = exact[*i].1.max(cosine(q, qv));
            }
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            let got: std::collections::HashSet<usize> = t.top(dim, q, 40).into_iter().map(|(i, _)| i).collect();
            assert_eq!(got.len(), 40);
            wanted += 40;
            found += exact.iter().take(40).filter(|(i, _)| got.contains(i)).count();
        }
        let recall = found as f64 / wanted as f64;
        eprintln!("sign-bit first pass: recall@40 {recall:.3}");
        assert!(recall >= 0.9, "recall@40 {recall:.3}");
        // Removing rows keeps the signs in step with the rows.
        for i in 0..5000 {
            t.remove(dim, &format!("d{i}"));
        }
        let q = &rows[7000];
        assert_eq!(t.top(dim, q, 1)[0].0, t.pos["d7000"], "a row finds itself");
    }
}
