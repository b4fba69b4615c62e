//! The SQLite adapter.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use switchboard_core::help::{HelpRequest, HelpStatus, Waiter};
use switchboard_core::knowledge::{KnowledgeEntry, KnowledgeSource, ValidKnowledge, question_key};
use switchboard_core::notify::OutboxItem;
use switchboard_core::ports::{
    AuditRecord, AuditStore, ConsequencesFn, HelpRequestRecord, HelpRequestStore, KnowledgeStore, OutboxStore,
    Resolution, Resolved, SettingsStore, StoreError,
};
use switchboard_core::profile::BusinessProfile;
use switchboard_core::settings::{ModelSettings, Settings};
use switchboard_core::time::{Timestamp, to_millis};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{OpenError, backend, rows};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// SQLite behind the `Store` port: one writer connection, a small pool of
/// readers, WAL so readers never wait for the writer.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    inserts: Arc<Mutex<Option<mpsc::UnboundedSender<PendingInsert>>>>,
    batcher: Arc<Mutex<Option<JoinHandle<()>>>>,
}

type PendingInsert = (HelpRequestRecord, oneshot::Sender<Result<HelpRequest, StoreError>>);

/// Most inserts committed together.
const MAX_INSERT_BATCH: usize = 256;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let url = format!("sqlite://{}", path.display());
        let connect = |e| OpenError::Connect { path: path.display().to_string(), source: e };
        private_files(path).map_err(|e| connect(sqlx::Error::Io(e)))?;
        let opts = SqliteConnectOptions::from_str(&url)
            .map_err(connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a write the API acknowledged survives a power cut or an
            // OS crash too, not only a process crash (NORMAL in WAL mode
            // could lose the last transactions then). Group commit keeps the
            // cost to one WAL fsync per batch of writes.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Fewer, larger checkpoints: each one fsyncs the database file.
            .pragma("wal_autocheckpoint", "4000")
            .pragma("cache_size", "-16000")
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(connect)?;
        MIGRATOR.run(&writer).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(found) => OpenError::Newer {
                path: path.display().to_string(),
                found,
                known: MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0),
            },
            e => OpenError::Migrate(e),
        })?;
        let reader =
            SqlitePoolOptions::new().max_connections(4).connect_with(opts.read_only(true)).await.map_err(connect)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let batcher = tokio::spawn(insert_batcher(writer.clone(), rx));
        Ok(Self {
            writer,
            reader,
            inserts: Arc::new(Mutex::new(Some(tx))),
            batcher: Arc::new(Mutex::new(Some(batcher))),
        })
    }

    /// Finishes queued inserts, then closes the connections.
    pub async fn close(&self) {
        self.inserts.lock().unwrap_or_else(|p| p.into_inner()).take();
        let batcher = self.batcher.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(b) = batcher {
            let _ = b.await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Group commit for new help requests: inserts queued while a transaction
/// commits share the next one, so concurrent callers pay for one WAL commit
/// between them instead of one each. Each caller still gets its own result.
async fn insert_batcher(writer: SqlitePool, mut rx: mpsc::UnboundedReceiver<PendingInsert>) {
    let mut batch = Vec::with_capacity(MAX_INSERT_BATCH);
    while rx.recv_many(&mut batch, MAX_INSERT_BATCH).await > 0 {
        let results = insert_batch(&writer, &batch).await;
        for ((_, done), result) in batch.drain(..).zip(results) {
            let _ = done.send(result);
        }
    }
}

async fn insert_batch(writer: &SqlitePool, batch: &[PendingInsert]) -> Vec<Result<HelpRequest, StoreError>> {
    let fail_all = |e: sqlx::Error| -> Vec<Result<HelpRequest, StoreError>> {
        let msg = e.to_string();
        batch.iter().map(|_| Err(StoreError::Backend(msg.clone().into()))).collect()
    };
    if let [(r, _)] = batch {
        // Alone: autocommit saves the BEGIN and COMMIT round trips.
        return match writer.acquire().await {
            Ok(mut conn) => vec![insert_one(&mut conn, r).await],
            Err(e) => fail_all(e),
        };
    }
    let mut tx = match writer.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(e),
    };
    let mut results = Vec::with_capacity(batch.len());
    for (r, _) in batch {
        // A failed statement leaves the transaction usable: only that caller fails.
        results.push(insert_one(&mut tx, r).await);
    }
    match tx.commit().await {
        Ok(()) => results,
        Err(e) => fail_all(e),
    }
}

/// A learned entry, merged by normalised question into any existing one.
async fn upsert_learned(tx: &mut sqlx::SqliteConnection, e: &KnowledgeEntry) -> Result<KnowledgeEntry, StoreError> {
    let row = sqlx::query(
        "INSERT INTO knowledge_entries (id, question, question_key, answer, topic, source,
             source_request_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (question_key) DO UPDATE SET
             answer = excluded.answer,
             topic = COALESCE(excluded.topic, knowledge_entries.topic),
             source = excluded.source,
             source_request_id = excluded.source_request_id,
             updated_at = excluded.updated_at
         RETURNING *",
    )
    .bind(e.id.to_string())
    .bind(&e.question)
    .bind(question_key(&e.question))
    .bind(&e.answer)
    .bind(&e.topic)
    .bind(e.source.as_str())
    .bind(e.source_request_id.map(|u| u.to_string()))
    .bind(to_millis(e.created_at))
    .bind(to_millis(e.updated_at))
    .fetch_one(&mut *tx)
    .await
    .map_err(backend)?;
    rows::knowledge(&row)
}

async fn insert_one(tx: &mut sqlx::SqliteConnection, r: &HelpRequestRecord) -> Result<HelpRequest, StoreError> {
    let history = serde_json::to_string(&r.history).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO help_requests (id, customer_name, customer_contact, channel, question, status,
             created_at, updated_at, deadline_at, session_id, history, contact_confirmed)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
    )
    .bind(r.id.to_string())
    .bind(&r.customer_name)
    .bind(&r.customer_contact)
    .bind(&r.channel)
    .bind(&r.question)
    .bind(to_millis(r.created_at))
    .bind(to_millis(r.created_at))
    .bind(to_millis(r.deadline_at))
    .bind(&r.session_id)
    .bind(history)
    .bind(r.contact_confirmed)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    // Exactly what was written: no need to read it back.
    Ok(HelpRequest {
        id: r.id,
        customer_name: r.customer_name.clone(),
        customer_contact: r.customer_contact.clone(),
        channel: r.channel.clone(),
        question: r.question.clone(),
        status: HelpStatus::Pending,
        created_at: r.created_at,
        updated_at: r.created_at,
        deadline_at: r.deadline_at,
        resolved_at: None,
        answer: None,
        topic: None,
        notes: None,
        resolved_by: None,
        session_id: r.session_id.clone(),
        history: r.history.clone(),
        waiters: Vec::new(),
        contact_confirmed: r.contact_confirmed,
        learn_pending: false,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait]
impl HelpRequestStore for SqliteStore {
    async fn insert_help_request(&self, r: &HelpRequestRecord) -> Result<HelpRequest, StoreError> {
        let (done, wait) = oneshot::channel();
        {
            let tx = self.inserts.lock().unwrap_or_else(|p| p.into_inner());
            let tx = tx.as_ref().ok_or(StoreError::Backend("store is closed".into()))?;
            tx.send((r.clone(), done)).map_err(|_| StoreError::Backend("store is closed".into()))?;
        }
        wait.await.map_err(|_| StoreError::Backend("store is closed".into()))?
    }

    async fn get_help_request(&self, id: Uuid) -> Result<HelpRequest, StoreError> {
        let row = sqlx::query("SELECT * FROM help_requests WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        rows::help_request(&row)
    }

    async fn list_help_requests(&self, status: Option<HelpStatus>, limit: u32) -> Result<Vec<HelpRequest>, StoreError> {
        let rows = match status {
            Some(s) => {
                sqlx::query("SELECT * FROM help_requests WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?")
                    .bind(s.as_str())
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM help_requests ORDER BY created_at DESC, id DESC LIMIT ?")
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await
            }
        }
        .map_err(backend)?;
        rows.iter().map(rows::help_request).collect()
    }

    async fn resolve_help_request(&self, r: Resolution, then: ConsequencesFn) -> Result<Resolved, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let at = to_millis(r.at);
        // The WHERE clause is the race arbiter: of concurrent resolutions only
        // the first to reach the single writer matches a pending row.
        let row = sqlx::query(
            "UPDATE help_requests SET status = ?, answer = ?, topic = ?, notes = ?, resolved_by = ?,
                 resolved_at = ?, updated_at = ?, contact_confirmed = MAX(contact_confirmed, ?),
                 learn_pending = ?
             WHERE id = ? AND status = 'pending' RETURNING *",
        )
        .bind(r.status.as_str())
        .bind(&r.answer)
        .bind(&r.topic)
        .bind(&r.notes)
        .bind(&r.resolved_by)
        .bind(at)
        .bind(at)
        .bind(r.confirm_contact)
        .bind(r.learn_pending)
        .bind(r.id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            drop(tx);
            return Err(match self.get_help_request(r.id).await {
                Ok(current) => StoreError::AlreadyFinal(Box::new(current)),
                Err(e) => e,
            });
        };
        let request = rows::help_request(&row)?;

        if let Some(resp) = &r.response {
            sqlx::query(
                "INSERT INTO supervisor_responses (request_id, answer, topic, unresolved, notes, supervisor, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(resp.request_id.to_string())
            .bind(&resp.answer)
            .bind(&resp.topic)
            .bind(resp.unresolved)
            .bind(&resp.notes)
            .bind(&resp.supervisor)
            .bind(to_millis(resp.created_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }

        let consequences = then(&request);
        let knowledge = match &consequences.learn {
            Some(e) => Some(upsert_learned(&mut tx, e).await?),
            None => None,
        };

        for n in &consequences.notifications {
            let payload = serde_json::to_string(&n.payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO notification_outbox (id, request_id, target, payload, status, attempts,
                     next_attempt_at, created_at, updated_at)
                 VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            )
            .bind(n.id.to_string())
            .bind(request.id.to_string())
            .bind(&n.target)
            .bind(payload)
            .bind(to_millis(n.next_attempt_at))
            .bind(to_millis(n.created_at))
            .bind(to_millis(n.created_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        // Requests reopened for callers who joined a privately answered one:
        // in the same transaction, so a crash loses none of them.
        let mut reopened = Vec::with_capacity(consequences.reopen.len());
        for r in &consequences.reopen {
            reopened.push(insert_one(&mut tx, r).await?);
        }
        tx.commit().await.map_err(backend)?;
        Ok(Resolved { request, knowledge, notifications: consequences.notifications, reopened })
    }

    async fn overdue_help_requests(&self, now: Timestamp) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM help_requests WHERE status = 'pending' AND deadline_at <= ? ORDER BY deadline_at",
        )
        .bind(to_millis(now))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        ids.iter().map(|s| Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
    }

    async fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar("SELECT MIN(deadline_at) FROM help_requests WHERE status = 'pending'")
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(ms.map(switchboard_core::time::from_millis))
    }

    async fn join_help_request(&self, id: Uuid, waiter: &Waiter) -> Result<HelpRequest, StoreError> {
        let w = serde_json::to_string(waiter).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // Conditional, like a resolution: a request answered meanwhile is final.
        let row = sqlx::query(
            "UPDATE help_requests SET waiters = json_insert(waiters, '$[#]', json(?)), updated_at = ?
             WHERE id = ? AND status = 'pending' RETURNING *",
        )
        .bind(w)
        .bind(to_millis(waiter.joined_at))
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        match row {
            Some(r) => rows::help_request(&r),
            None => Err(match self.get_help_request(id).await {
                Ok(current) => StoreError::AlreadyFinal(Box::new(current)),
                Err(e) => e,
            }),
        }
    }

    async fn pending_for_session(&self, session_id: &str) -> Result<Vec<HelpRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM help_requests WHERE status = 'pending' AND (session_id = ?1
                 OR EXISTS (SELECT 1 FROM json_each(waiters) WHERE json_extract(value, '$.session_id') = ?1))
             ORDER BY created_at DESC",
        )
        .bind(session_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::help_request).collect()
    }

    async fn finish_review(
        &self,
        id: Uuid,
        learn: Option<KnowledgeEntry>,
    ) -> Result<(HelpRequest, Option<KnowledgeEntry>), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        // The conditional update is the arbiter: of two reviewers one wins.
        let row = sqlx::query(
            "UPDATE help_requests SET learn_pending = 0, updated_at = ?
             WHERE id = ? AND learn_pending = 1 RETURNING *",
        )
        .bind(to_millis(switchboard_core::time::now()))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            drop(tx);
            self.get_help_request(id).await?;
            return Err(StoreError::Conflict("no answer of this request is waiting for review".into()));
        };
        let request = rows::help_request(&row)?;
        let learned = match &learn {
            Some(e) => Some(upsert_learned(&mut tx, e).await?),
            None => None,
        };
        tx.commit().await.map_err(backend)?;
        Ok((request, learned))
    }

    async fn count_help_requests(&self, status: Option<HelpStatus>) -> Result<u64, StoreError> {
        let n: i64 = match status {
            Some(s) => sqlx::query_scalar("SELECT COUNT(*) FROM help_requests WHERE status = ?").bind(s.as_str()),
            None => sqlx::query_scalar("SELECT COUNT(*) FROM help_requests"),
        }
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        Ok(n as u64)
    }
}

#[async_trait]
impl KnowledgeStore for SqliteStore {
    async fn list_knowledge(&self, limit: u32, offset: u32) -> Result<Vec<KnowledgeEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM knowledge_entries ORDER BY created_at, id LIMIT ? OFFSET ?")
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(rows::knowledge).collect()
    }

    async fn all_knowledge(&self) -> Result<Vec<KnowledgeEntry>, StoreError> {
        self.list_knowledge(u32::MAX, 0).await
    }

    async fn get_knowledge(&self, id: Uuid) -> Result<KnowledgeEntry, StoreError> {
        let row = sqlx::query("SELECT * FROM knowledge_entries WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        rows::knowledge(&row)
    }

    async fn insert_knowledge(
        &self,
        id: Uuid,
        input: &ValidKnowledge,
        source: KnowledgeSource,
        at: Timestamp,
    ) -> Result<KnowledgeEntry, StoreError> {
        let row = sqlx::query(
            "INSERT INTO knowledge_entries (id, question, question_key, answer, topic, source, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(id.to_string())
        .bind(&input.question)
        .bind(question_key(&input.question))
        .bind(&input.answer)
        .bind(&input.topic)
        .bind(source.as_str())
        .bind(to_millis(at))
        .bind(to_millis(at))
        .fetch_one(&self.writer)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Duplicate("an entry with this question already exists".into())
            } else {
                backend(e)
            }
        })?;
        rows::knowledge(&row)
    }

    async fn update_knowledge(
        &self,
        id: Uuid,
        input: &ValidKnowledge,
        at: Timestamp,
    ) -> Result<KnowledgeEntry, StoreError> {
        let row = sqlx::query(
            "UPDATE knowledge_entries SET question = ?, question_key = ?, answer = ?, topic = ?, updated_at = ?
             WHERE id = ? RETURNING *",
        )
        .bind(&input.question)
        .bind(question_key(&input.question))
        .bind(&input.answer)
        .bind(&input.topic)
        .bind(to_millis(at))
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Duplicate("another entry already has this question".into())
            } else {
                backend(e)
            }
        })?
        .ok_or(StoreError::NotFound)?;
        rows::knowledge(&row)
    }

    async fn delete_knowledge(&self, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM knowledge_entries WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn count_knowledge(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM knowledge_entries")
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(n as u64)
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn due_outbox(&self, now: Timestamp, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM notification_outbox WHERE status = 'pending' AND next_attempt_at <= ?
             ORDER BY next_attempt_at, created_at LIMIT ?",
        )
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::outbox).collect()
    }

    async fn next_outbox_attempt(&self) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> =
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM notification_outbox WHERE status = 'pending'")
                .fetch_one(&self.reader)
                .await
                .map_err(backend)?;
        Ok(ms.map(switchboard_core::time::from_millis))
    }

    async fn outbox_sent(&self, id: Uuid, attempts: u32, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notification_outbox SET status = 'sent', attempts = ?, last_error = NULL, updated_at = ?
             WHERE id = ? AND status = 'pending'",
        )
        .bind(attempts)
        .bind(to_millis(at))
        .bind(id.to_string())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn outbox_failed_attempt(
        &self,
        id: Uuid,
        attempts: u32,
        error: &str,
        next: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (status, next_ms) = match next {
            Some(t) => ("pending", to_millis(t)),
            None => ("failed", to_millis(at)),
        };
        sqlx::query(
            "UPDATE notification_outbox SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, updated_at = ?
             WHERE id = ? AND status = 'pending'",
        )
        .bind(status)
        .bind(attempts)
        .bind(error)
        .bind(next_ms)
        .bind(to_millis(at))
        .bind(id.to_string())
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn outbox_for_request(&self, request_id: Uuid) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query("SELECT * FROM notification_outbox WHERE request_id = ? ORDER BY created_at, target")
            .bind(request_id.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(rows::outbox).collect()
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_for(&self, entity_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE entity_id = ? ORDER BY id")
            .bind(entity_id)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(rows::audit).collect()
    }
}

impl SqliteStore {
    /// One JSON document of the `settings` table.
    async fn load_doc<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        v.map(|v| serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(format!("settings {key}: {e}")))).transpose()
    }

    async fn save_doc<T: serde::Serialize>(&self, key: &str, doc: &T, at: Timestamp) -> Result<(), StoreError> {
        let v = serde_json::to_string(doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(v)
        .bind(to_millis(at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn load_settings(&self) -> Result<Option<Settings>, StoreError> {
        self.load_doc("runtime").await
    }

    async fn save_settings(&self, s: &Settings, at: Timestamp) -> Result<(), StoreError> {
        self.save_doc("runtime", s, at).await
    }

    async fn load_model_settings(&self) -> Result<Option<ModelSettings>, StoreError> {
        self.load_doc("model").await
    }

    async fn save_model_settings(&self, s: &ModelSettings, at: Timestamp) -> Result<(), StoreError> {
        self.save_doc("model", s, at).await
    }

    async fn load_profile(&self) -> Result<Option<BusinessProfile>, StoreError> {
        self.load_doc("profile").await
    }

    async fn save_profile(&self, p: &BusinessProfile, at: Timestamp) -> Result<(), StoreError> {
        self.save_doc("profile", p, at).await
    }

    async fn load_livekit_settings(&self) -> Result<Option<switchboard_core::settings::LiveKitSettings>, StoreError> {
        self.load_doc("livekit").await
    }

    async fn save_livekit_settings(
        &self,
        s: &switchboard_core::settings::LiveKitSettings,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.save_doc("livekit", s, at).await
    }

    async fn load_speech_settings(&self) -> Result<Option<switchboard_core::settings::SpeechSettings>, StoreError> {
        self.load_doc("speech").await
    }

    // The keys sit under `api_key`, which the audit triggers strip.
    async fn save_speech_settings(
        &self,
        s: &switchboard_core::settings::SpeechSettings,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.save_doc("speech", s, at).await
    }
}

/// The database and its WAL and shared-memory files are the owner's alone
/// (0600). The file is created here with that mode: SQLite gives the WAL and
/// shm files the database file's mode. Existing files are narrowed too.
fn private_files(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database a newer version migrated is refused, untouched, with why.
    #[tokio::test]
    async fn a_database_from_a_newer_version_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = SqliteStore::open(&path).await.unwrap();
        let known: i64 =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&store.writer).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (?, 'from the future', 1, x'00', 0)",
        )
        .bind(known + 1)
        .execute(&store.writer)
        .await
        .unwrap();
        store.writer.close().await;
        store.reader.close().await;
        drop(store);
        let e = SqliteStore::open(&path).await.err().expect("refused");
        match &e {
            OpenError::Newer { found, known: k, .. } => assert_eq!((*found, *k), (known + 1, known)),
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("newer Switchboard"), "{e}");
        // Nothing was migrated or dropped: the newer version can still open it.
        let pool = SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
        assert_eq!(n, known + 1);
    }

    /// Acknowledged means on disk: every connection commits with
    /// `synchronous = FULL` (2), and the files are the owner's alone.
    #[tokio::test]
    async fn commits_are_fully_synchronous_and_files_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = SqliteStore::open(&path).await.unwrap();
        for pool in [&store.writer, &store.reader] {
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap();
            assert_eq!(level, 2);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
