//! Row <-> domain conversions. Kept apart so a PostgreSQL adapter can reuse
//! the same shape.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use switchboard_core::help::{HelpRequest, HelpStatus, HistoryTurn};
use switchboard_core::knowledge::{KnowledgeEntry, KnowledgeSource};
use switchboard_core::notify::{Notification, OutboxItem, OutboxStatus};
use switchboard_core::ports::{AuditRecord, StoreError};
use switchboard_core::time::from_millis;
use uuid::Uuid;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn uuid(row: &SqliteRow, col: &str) -> Result<Uuid, StoreError> {
    let s: String = row.try_get(col).map_err(crate::backend)?;
    Uuid::parse_str(&s).map_err(|e| corrupt(format!("{col}: {e}")))
}

fn opt_uuid(row: &SqliteRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    let s: Option<String> = row.try_get(col).map_err(crate::backend)?;
    s.map(|s| Uuid::parse_str(&s).map_err(|e| corrupt(format!("{col}: {e}")))).transpose()
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T, StoreError> {
    row.try_get(col).map_err(crate::backend)
}

pub fn help_request(row: &SqliteRow) -> Result<HelpRequest, StoreError> {
    let status: String = get(row, "status")?;
    let history: String = get(row, "history")?;
    let history: Vec<HistoryTurn> = serde_json::from_str(&history).map_err(|e| corrupt(format!("history: {e}")))?;
    Ok(HelpRequest {
        id: uuid(row, "id")?,
        customer_name: get(row, "customer_name")?,
        customer_contact: get(row, "customer_contact")?,
        channel: get(row, "channel")?,
        question: get(row, "question")?,
        status: HelpStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        created_at: from_millis(get(row, "created_at")?),
        updated_at: from_millis(get(row, "updated_at")?),
        deadline_at: from_millis(get(row, "deadline_at")?),
        resolved_at: get::<Option<i64>>(row, "resolved_at")?.map(from_millis),
        answer: get(row, "answer")?,
        topic: get(row, "topic")?,
        notes: get(row, "notes")?,
        resolved_by: get(row, "resolved_by")?,
        session_id: get(row, "session_id")?,
        history,
        waiters: serde_json::from_str(&get::<String>(row, "waiters")?).map_err(|e| corrupt(format!("waiters: {e}")))?,
        contact_confirmed: get(row, "contact_confirmed")?,
        learn_pending: get(row, "learn_pending")?,
    })
}

pub fn knowledge(row: &SqliteRow) -> Result<KnowledgeEntry, StoreError> {
    let source: String = get(row, "source")?;
    Ok(KnowledgeEntry {
        id: uuid(row, "id")?,
        question: get(row, "question")?,
        answer: get(row, "answer")?,
        topic: get(row, "topic")?,
        source: KnowledgeSource::parse(&source).ok_or_else(|| corrupt(format!("source {source}")))?,
        source_request_id: opt_uuid(row, "source_request_id")?,
        created_at: from_millis(get(row, "created_at")?),
        updated_at: from_millis(get(row, "updated_at")?),
    })
}

pub fn outbox(row: &SqliteRow) -> Result<OutboxItem, StoreError> {
    let status: String = get(row, "status")?;
    let payload: String = get(row, "payload")?;
    let payload: Notification = serde_json::from_str(&payload).map_err(|e| corrupt(format!("payload: {e}")))?;
    Ok(OutboxItem {
        id: uuid(row, "id")?,
        target: get(row, "target")?,
        payload,
        status: OutboxStatus::parse(&status).ok_or_else(|| corrupt(format!("outbox status {status}")))?,
        attempts: get::<i64>(row, "attempts")?.try_into().unwrap_or(u32::MAX),
        next_attempt_at: from_millis(get(row, "next_attempt_at")?),
        last_error: get(row, "last_error")?,
        created_at: from_millis(get(row, "created_at")?),
    })
}

pub fn audit(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    let detail: String = get(row, "detail")?;
    Ok(AuditRecord {
        id: get(row, "id")?,
        at: from_millis(get(row, "at")?),
        entity: get(row, "entity")?,
        entity_id: get(row, "entity_id")?,
        action: get(row, "action")?,
        actor: get(row, "actor")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
    })
}
