//! The index against real SQLite and tantivy in a temp dir.

use std::sync::Arc;

use switchboard_core::EventBus;
use switchboard_core::knowledge::{KnowledgeInput, KnowledgeSource};
use switchboard_core::ports::KnowledgeIndex;
use switchboard_knowledge::{KnowledgeBase, KnowledgeError, TantivyIndex};
use switchboard_store::SqliteStore;

fn input(q: &str, a: &str) -> KnowledgeInput {
    KnowledgeInput { question: q.into(), answer: a.into(), topic: Some("hours".into()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_is_searchable_immediately_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap());
    let opened = TantivyIndex::open(&dir.path().join("index")).unwrap();
    assert!(opened.recreated, "a fresh directory is a new index");
    let index = Arc::new(opened.index);
    let kb = KnowledgeBase::new(store.clone(), index.clone(), EventBus::default());

    let sunday =
        kb.create(&input("Are you open on Sundays?", "Yes, 10am to 4pm."), KnowledgeSource::Manual).await.unwrap();
    kb.create(&input("How much is a men's cut?", "A men's cut is $32."), KnowledgeSource::Manual).await.unwrap();

    let hits = kb.search("open sunday", 5).await.unwrap();
    assert_eq!(hits[0].doc.id, sunday.id.to_string(), "stemmed match on the question ranks first");
    assert!(hits[0].score > 0.0);

    let dup = kb.create(&input("are you OPEN on sundays", "No"), KnowledgeSource::Manual).await.unwrap_err();
    assert!(matches!(dup, KnowledgeError::Duplicate(_)), "{dup:?}");

    kb.update(sunday.id, &input("Are you open on Sundays?", "Sundays we are closed.")).await.unwrap();
    let hits = kb.search("closed", 5).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].doc.answer, "Sundays we are closed.");

    kb.delete(sunday.id).await.unwrap();
    assert!(kb.search("sundays", 5).await.unwrap().is_empty());
    assert!(matches!(kb.delete(sunday.id).await.unwrap_err(), KnowledgeError::NotFound));
    assert_eq!(index.num_docs(), 1);

    // Reopen: the same documents, no rebuild needed.
    index.close();
    drop(kb);
    drop(index);
    let opened = TantivyIndex::open(&dir.path().join("index")).unwrap();
    assert!(!opened.recreated);
    let index = Arc::new(opened.index);
    let kb = KnowledgeBase::new(store.clone(), index.clone(), EventBus::default());
    assert!(!kb.reconcile(false).await.unwrap());
    assert_eq!(kb.search("men's cut price", 5).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_missing_index_is_rebuilt_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap());
    {
        let index = Arc::new(TantivyIndex::open(&index_dir).unwrap().index);
        let kb = KnowledgeBase::new(store.clone(), index.clone(), EventBus::default());
        kb.create(&input("Do you sell gift cards?", "Yes, from $25."), KnowledgeSource::Manual).await.unwrap();
        index.close();
    }
    std::fs::write(index_dir.join("meta.json"), b"{ not json").unwrap();
    let opened = TantivyIndex::open(&index_dir).unwrap();
    assert!(opened.recreated, "garbage meta.json must be detected");
    let index = Arc::new(opened.index);
    let kb = KnowledgeBase::new(store.clone(), index.clone(), EventBus::default());
    assert!(kb.reconcile(true).await.unwrap());
    assert_eq!(kb.search("gift card", 5).await.unwrap().len(), 1);
    index.close();

    std::fs::remove_dir_all(&index_dir).unwrap();
    let opened = TantivyIndex::open(&index_dir).unwrap();
    assert!(opened.recreated);
    let index = Arc::new(opened.index);
    let kb = KnowledgeBase::new(store, index.clone(), EventBus::default());
    assert!(kb.reconcile(true).await.unwrap());
    assert_eq!(index.num_docs(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_syntax_in_free_text_never_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap());
    let index = Arc::new(TantivyIndex::open(&dir.path().join("index")).unwrap().index);
    let kb = KnowledgeBase::new(store, index, EventBus::default());
    kb.create(&input("Parking?", "Free parking behind the salon."), KnowledgeSource::Manual).await.unwrap();
    for q in ["parking AND (", "\"unterminated", "topic:", "a:b:c ^^ ~", "+-+-"] {
        kb.search(q, 5).await.unwrap();
    }
    assert!(matches!(kb.search("   ", 5).await.unwrap_err(), KnowledgeError::Invalid(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_marker_forces_a_rebuild_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    TantivyIndex::open(&index_dir).unwrap().index.close();
    assert!(!TantivyIndex::open(&index_dir).unwrap().recreated, "a healthy index is reused");
    // What the writer thread leaves behind when a commit fails.
    std::fs::write(dir.path().join("index.stale"), "commit failed").unwrap();
    assert!(TantivyIndex::open(&index_dir).unwrap().recreated);
    assert!(!dir.path().join("index.stale").exists(), "marker cleared once the index is recreated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_words_alone_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap());
    let index = Arc::new(TantivyIndex::open(&dir.path().join("index")).unwrap().index);
    let kb = KnowledgeBase::new(store, index, EventBus::default());
    kb.create(&input("Do you take walk-ins?", "Yes, when a chair is free."), KnowledgeSource::Manual).await.unwrap();
    assert!(kb.search("do you have wigs", 5).await.unwrap().is_empty(), "sharing only 'do you' is no match");
    assert_eq!(kb.search("walk-ins on Saturday", 5).await.unwrap().len(), 1);
}

/// A crash between the database commit of an edit and the index commit
/// leaves every count equal; the start-up reconcile must still find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_the_index_missed_is_found_by_content_not_count() {
    use switchboard_core::ports::KnowledgeStore;
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap());
    let entry = {
        let index = Arc::new(TantivyIndex::open(&index_dir).unwrap().index);
        let kb = KnowledgeBase::new(store.clone(), index.clone(), EventBus::default());
        let e = kb.create(&input("Do you sell gift cards?", "Yes, from $25."), KnowledgeSource::Manual).await.unwrap();
        index.close();
        e
    };
    // The edit reaches the database only, as if the process died right after.
    let edited = input("Do you sell gift cards?", "Only vouchers for wrapping classes.").validate().unwrap();
    store.update_knowledge(entry.id, &edited, switchboard_core::time::now()).await.unwrap();

    let opened = TantivyIndex::open(&index_dir).unwrap();
    assert!(!opened.recreated);
    let index = Arc::new(opened.index);
    let kb = KnowledgeBase::new(store.clone(), index.clone(), EventBus::default());
    assert!(kb.reconcile(false).await.unwrap(), "same counts, different content: rebuilt");
    let hits = kb.search("wrapping vouchers", 5).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].doc.answer, "Only vouchers for wrapping classes.");
    // In step now: the next start does nothing.
    assert!(!kb.reconcile(false).await.unwrap());
}
