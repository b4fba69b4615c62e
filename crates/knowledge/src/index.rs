//! The tantivy index and its writer thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use switchboard_core::knowledge::{ContentDigest, IndexDoc, KnowledgeSource, SearchHit};
use switchboard_core::ports::{IndexError, KnowledgeIndex};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};
use tokio::sync::oneshot;

/// Bump when the schema changes: a mismatch triggers a rebuild from the DB.
const SCHEMA_VERSION: &str = "3";
/// Our analyzer: words, lower-cased, English stop words dropped (so "do you"
/// does not make every question look alike), stemmed.
const ANALYZER: &str = "en_text";
const WRITER_MEMORY: usize = 32 * 1024 * 1024;
/// Writes queued while a commit runs are applied together in the next one.
const MAX_BATCH: usize = 256;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    question: Field,
    answer: Field,
    topic: Field,
    url: Field,
    source_request_id: Field,
    /// `IndexDoc::fingerprint`, a fast field: the content digest reads it
    /// without loading stored documents.
    fp: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // English stemming so "opening" finds "open"; positions for phrase queries.
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        question: b.add_text_field("question", text.clone()),
        answer: b.add_text_field("answer", text.clone()),
        topic: b.add_text_field("topic", text),
        url: b.add_text_field("url", STRING | STORED),
        source_request_id: b.add_text_field("source_request_id", STRING | STORED),
        fp: b.add_u64_field("fp", FAST),
    };
    (b.build(), fields)
}

enum Op {
    Upsert(Vec<IndexDoc>),
    Remove(Vec<String>),
    Rebuild(Vec<IndexDoc>),
}

struct Cmd {
    op: Op,
    done: oneshot::Sender<Result<(), String>>,
}

/// The index on disk, with a writer thread and a manually reloaded reader.
pub struct TantivyIndex {
    searcher: Arc<SearchSide>,
    tx: std::sync::Mutex<Option<mpsc::Sender<Cmd>>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// What searches need; shared with blocking tasks.
struct SearchSide {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

/// An opened index, and whether it had to be created afresh (so its content
/// must be rebuilt from the database).
pub struct OpenedIndex {
    pub index: TantivyIndex,
    pub recreated: bool,
}

impl TantivyIndex {
    /// Opens the index in `dir`; a missing, unreadable or outdated index is
    /// wiped and created empty (`recreated = true`).
    pub fn open(dir: &Path) -> Result<OpenedIndex, IndexError> {
        let (schema, fields) = schema();
        let version_file = dir.join("switchboard-schema-version");
        let stale = stale_marker(dir);
        let current = std::fs::read_to_string(&version_file).ok();
        let existing = if stale.exists() {
            tracing::warn!(dir = %dir.display(), "search index missed a write earlier; rebuilding it");
            None
        } else if current.as_deref() == Some(SCHEMA_VERSION) {
            match Index::open_in_dir(dir) {
                Ok(i) if i.schema() == schema => Some(i),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "search index unreadable; rebuilding it");
                    None
                }
            }
        } else {
            None
        };
        let recreated = existing.is_none();
        let index = match existing {
            Some(i) => i,
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(be)?;
                }
                std::fs::create_dir_all(dir).map_err(be)?;
                let i = Index::create_in_dir(dir, schema).map_err(be)?;
                std::fs::write(&version_file, SCHEMA_VERSION).map_err(be)?;
                // The fresh index is empty, so the caller rebuilds it
                // (`recreated`); a crash before that rebuild completes leaves
                // an empty index, which the count check in `reconcile` catches.
                let _ = std::fs::remove_file(&stale);
                i
            }
        };
        register_analyzer(&index);
        let writer: IndexWriter = index.writer_with_num_threads(1, WRITER_MEMORY).map_err(be)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(be)?;
        let (tx, rx) = mpsc::channel();
        let thread = {
            let reader = reader.clone();
            std::thread::Builder::new()
                .name("kb-index-writer".into())
                .spawn(move || writer_loop(writer, reader, fields, rx, stale))
                .map_err(be)?
        };
        Ok(OpenedIndex {
            index: TantivyIndex {
                searcher: Arc::new(SearchSide { index, reader, fields }),
                tx: std::sync::Mutex::new(Some(tx)),
                thread: std::sync::Mutex::new(Some(thread)),
            },
            recreated,
        })
    }

    /// Stored documents by id, off the async workers.
    pub async fn docs(&self, ids: Vec<String>) -> Result<Vec<IndexDoc>, IndexError> {
        let side = self.searcher.clone();
        tokio::task::spawn_blocking(move || side.docs_blocking(&ids))
            .await
            .map_err(|e| IndexError::Backend(Box::new(e)))?
    }

    /// Stops the writer thread after it finishes queued writes.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }

    async fn send(&self, op: Op) -> Result<(), IndexError> {
        let (done, wait) = oneshot::channel();
        {
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            let tx = tx.as_ref().ok_or(IndexError::Closed)?;
            tx.send(Cmd { op, done }).map_err(|_| IndexError::Closed)?;
        }
        wait.await.map_err(|_| IndexError::Closed)?.map_err(|e| IndexError::Backend(e.into()))
    }
}

impl SearchSide {
    /// Stored documents by id (ids not in the index are left out).
    fn docs_blocking(&self, ids: &[String]) -> Result<Vec<IndexDoc>, IndexError> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let q = tantivy::query::TermQuery::new(Term::from_field_text(f.id, id), IndexRecordOption::Basic);
            if let Some((_, addr)) = searcher.search(&q, &TopDocs::with_limit(1)).map_err(be)?.into_iter().next() {
                let d: TantivyDocument = searcher.doc(addr).map_err(be)?;
                out.push(to_index_doc(&d, &f));
            }
        }
        Ok(out)
    }

    /// The digest of the live documents, from the `fp` fast field.
    fn digest_blocking(&self) -> Result<ContentDigest, IndexError> {
        let searcher = self.reader.searcher();
        let mut digest = ContentDigest::default();
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().u64("fp").map_err(be)?;
            for doc in segment.doc_ids_alive() {
                // Every document is written with a fingerprint; one without
                // (impossible short of corruption) counts as 0, a mismatch.
                digest.add(column.first(doc).unwrap_or(0));
            }
        }
        Ok(digest)
    }

    fn search_blocking(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.question, f.answer, f.topic]);
        // A match in the question says more than one in a long answer.
        parser.set_field_boost(f.question, 2.0);
        // Lenient: callers type free text, not query syntax; never fail on it.
        let (q, _errors) = parser.parse_query_lenient(query);
        let searcher = self.reader.searcher();
        let top = searcher.search(&q, &TopDocs::with_limit(limit.max(1))).map_err(be)?;
        top.into_iter()
            .map(|(score, addr)| {
                let d: TantivyDocument = searcher.doc(addr).map_err(be)?;
                Ok(SearchHit { doc: to_index_doc(&d, &f), score, similarity: None, question_similarity: None })
            })
            .collect()
    }
}

impl Drop for TantivyIndex {
    fn drop(&mut self) {
        self.close();
    }
}

/// Words that carry no meaning in a caller's question. Broader than Lucene's
/// list on purpose: "do you", "can I", "what is" open most questions.
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "get", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my",
    "of", "on", "or", "our", "please", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "to", "us", "was", "we", "were", "what", "when", "where", "which", "who", "will", "with",
    "would", "you", "your",
];

fn register_analyzer(index: &Index) {
    use tantivy::tokenizer::{
        Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    };
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| w.to_string())))
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(ANALYZER, analyzer);
}

/// Beside (not inside) the index directory, so wiping the index keeps it.
fn stale_marker(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".stale");
    dir.with_file_name(name)
}

fn be<E: std::error::Error + Send + Sync + 'static>(e: E) -> IndexError {
    IndexError::Backend(Box::new(e))
}

fn text(d: &TantivyDocument, f: Field) -> Option<String> {
    d.get_first(f).and_then(|v| v.as_str()).map(str::to_string)
}

fn to_index_doc(d: &TantivyDocument, f: &Fields) -> IndexDoc {
    IndexDoc {
        id: text(d, f.id).unwrap_or_default(),
        kind: text(d, f.kind).and_then(|k| KnowledgeSource::parse(&k)).unwrap_or(KnowledgeSource::Manual),
        question: text(d, f.question).unwrap_or_default(),
        answer: text(d, f.answer).unwrap_or_default(),
        topic: text(d, f.topic),
        url: text(d, f.url),
        source_request_id: text(d, f.source_request_id),
    }
}

fn to_tantivy(d: &IndexDoc, f: &Fields) -> TantivyDocument {
    let mut doc = doc!(
        f.id => d.id.as_str(),
        f.kind => d.kind.as_str(),
        f.question => d.question.as_str(),
        f.answer => d.answer.as_str(),
        f.fp => d.fingerprint(),
    );
    if let Some(t) = &d.topic {
        doc.add_text(f.topic, t);
    }
    if let Some(u) = &d.url {
        doc.add_text(f.url, u);
    }
    if let Some(s) = &d.source_request_id {
        doc.add_text(f.source_request_id, s);
    }
    doc
}

fn apply(writer: &mut IndexWriter, f: &Fields, op: &Op) -> tantivy::Result<()> {
    match op {
        Op::Upsert(docs) => {
            for d in docs {
                writer.delete_term(Term::from_field_text(f.id, &d.id));
                writer.add_document(to_tantivy(d, f))?;
            }
        }
        Op::Remove(ids) => {
            for id in ids {
                writer.delete_term(Term::from_field_text(f.id, id));
            }
        }
        Op::Rebuild(docs) => {
            writer.delete_all_documents()?;
            for d in docs {
                writer.add_document(to_tantivy(d, f))?;
            }
        }
    }
    Ok(())
}

/// Runs until every sender is gone. Group commit: all commands waiting when
/// one arrives share a single commit and reload.
fn writer_loop(mut writer: IndexWriter, reader: IndexReader, f: Fields, rx: mpsc::Receiver<Cmd>, stale: PathBuf) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut result = batch.iter().try_for_each(|c| apply(&mut writer, &f, &c.op));
        if result.is_ok() {
            result = writer.commit().map(|_| ()).and_then(|_| reader.reload());
        }
        let outcome = match result {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "search index write failed; it will be rebuilt at next start");
                // The database committed what the index missed; the marker
                // makes the next `open` rebuild from it.
                let _ = std::fs::write(&stale, e.to_string());
                // Drop the uncommitted part so the next batch starts clean.
                let _ = writer.rollback();
                Err(e.to_string())
            }
        };
        for c in batch {
            let _ = c.done.send(outcome.clone());
        }
    }
    let _ = writer.wait_merging_threads();
}

#[async_trait]
impl KnowledgeIndex for TantivyIndex {
    async fn upsert(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError> {
        self.send(Op::Upsert(docs)).await
    }

    async fn remove(&self, ids: Vec<String>) -> Result<(), IndexError> {
        self.send(Op::Remove(ids)).await
    }

    async fn rebuild(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError> {
        self.send(Op::Rebuild(docs)).await
    }

    async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        // Searching touches mmapped segments; keep it off the async workers.
        let side = self.searcher.clone();
        let query = query.to_string();
        tokio::task::spawn_blocking(move || side.search_blocking(&query, limit))
            .await
            .map_err(|e| IndexError::Backend(Box::new(e)))?
    }

    fn num_docs(&self) -> u64 {
        self.searcher.reader.searcher().num_docs()
    }

    async fn content_digest(&self) -> Result<Option<ContentDigest>, IndexError> {
        let side = self.searcher.clone();
        let digest = tokio::task::spawn_blocking(move || side.digest_blocking())
            .await
            .map_err(|e| IndexError::Backend(Box::new(e)))??;
        Ok(Some(digest))
    }

    fn terms(&self, text: &str) -> Vec<(String, f32)> {
        self.searcher.terms(text)
    }
}

impl SearchSide {
    /// Analyzed terms with a BM25-style IDF over questions and answers; a term
    /// the index has never seen weighs as much as the rarest.
    fn terms(&self, text: &str) -> Vec<(String, f32)> {
        let Some(mut analyzer) = self.index.tokenizers().get(ANALYZER) else { return Vec::new() };
        let mut words: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let t = stream.token().text.clone();
            if !words.contains(&t) {
                words.push(t);
            }
        }
        let searcher = self.reader.searcher();
        let n = searcher.num_docs() as f32;
        let f = self.fields;
        words
            .into_iter()
            .map(|w| {
                let df = [f.question, f.answer]
                    .iter()
                    .map(|field| searcher.doc_freq(&tantivy::Term::from_field_text(*field, &w)).unwrap_or(0))
                    .max()
                    .unwrap_or(0) as f32;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                (w, idf)
            })
            .collect()
    }
}
