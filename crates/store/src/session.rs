//! Sessions and their turns on SQLite.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use switchboard_core::ports::StoreError;
use switchboard_core::session::{
    Channel, NewTurn, Session, SessionStatus, SessionStore, Turn, TurnInput, TurnRole, TurnTimings, ValidSession,
};
use switchboard_core::time::{Timestamp, from_millis, to_millis};
use uuid::Uuid;

use crate::backend;
use crate::sqlite::SqliteStore;

const SESSION_COLUMNS: &str =
    "id, channel, status, caller_name, caller_contact, language, started_at, ended_at, turn_count, title, usage";
/// Characters of the first caller message kept as the session's title.
const TITLE_CHARS: usize = 80;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn session_row(row: &SqliteRow) -> Result<Session, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let channel: String = row.try_get("channel").map_err(backend)?;
    let status: String = row.try_get("status").map_err(backend)?;
    let ended: Option<i64> = row.try_get("ended_at").map_err(backend)?;
    let count: i64 = row.try_get("turn_count").map_err(backend)?;
    Ok(Session {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(format!("session id: {e}")))?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt(format!("channel {channel}")))?,
        status: SessionStatus::parse(&status).ok_or_else(|| corrupt(format!("session status {status}")))?,
        caller_name: row.try_get("caller_name").map_err(backend)?,
        caller_contact: row.try_get("caller_contact").map_err(backend)?,
        language: row.try_get("language").map_err(backend)?,
        started_at: from_millis(row.try_get("started_at").map_err(backend)?),
        ended_at: ended.map(from_millis),
        turn_count: u32::try_from(count).map_err(|_| corrupt("turn_count"))?,
        title: row.try_get("title").map_err(backend)?,
        usage: json_col(row, "usage")?.unwrap_or_default(),
    })
}

fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<Option<T>, StoreError> {
    let v: Option<String> = row.try_get(col).map_err(backend)?;
    v.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(format!("{col}: {e}")))).transpose()
}

fn turn_row(row: &SqliteRow) -> Result<Turn, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let session: String = row.try_get("session_id").map_err(backend)?;
    let role: String = row.try_get("role").map_err(backend)?;
    let seq: i64 = row.try_get("seq").map_err(backend)?;
    Ok(Turn {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(format!("turn id: {e}")))?,
        session_id: Uuid::parse_str(&session).map_err(|e| corrupt(format!("turn session: {e}")))?,
        seq: u32::try_from(seq).map_err(|_| corrupt("turn seq"))?,
        role: TurnRole::parse(&role).ok_or_else(|| corrupt(format!("turn role {role}")))?,
        text: row.try_get("text").map_err(backend)?,
        tool: json_col(row, "tool")?,
        grounding: json_col(row, "grounding")?,
        timings: json_col(row, "timings")?,
        input: json_col(row, "input")?,
        interrupted: row.try_get::<i64, _>("interrupted").map_err(backend)? != 0,
        created_at: from_millis(row.try_get("created_at").map_err(backend)?),
    })
}

/// An update of one row by id: none changed means no such row.
fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

fn to_json<T: serde::Serialize>(v: &Option<T>) -> Result<Option<String>, StoreError> {
    v.as_ref().map(|v| serde_json::to_string(v).map_err(|e| corrupt(e.to_string()))).transpose()
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, id: Uuid, s: &ValidSession, at: Timestamp) -> Result<Session, StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, channel, status, caller_name, caller_contact, language, started_at)
             VALUES (?, ?, 'active', ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(s.channel.as_str())
        .bind(&s.caller_name)
        .bind(&s.caller_contact)
        .bind(&s.language)
        .bind(to_millis(at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(Session {
            id,
            channel: s.channel,
            status: SessionStatus::Active,
            caller_name: s.caller_name.clone(),
            caller_contact: s.caller_contact.clone(),
            language: s.language.clone(),
            started_at: from_millis(to_millis(at)),
            ended_at: None,
            turn_count: 0,
            title: None,
            usage: Default::default(),
        })
    }

    async fn get_session(&self, id: Uuid) -> Result<Session, StoreError> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        session_row(&row)
    }

    async fn list_sessions(&self, active: Option<bool>, limit: u32) -> Result<Vec<Session>, StoreError> {
        let rows =
            match active {
                None => {
                    sqlx::query(&format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions ORDER BY started_at DESC, id DESC LIMIT ?"
                    ))
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await
                }
                Some(a) => sqlx::query(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE status = ? ORDER BY started_at DESC, id DESC LIMIT ?"
                ))
                .bind(if a { "active" } else { "ended" })
                .bind(limit)
                .fetch_all(&self.reader)
                .await,
            }
            .map_err(backend)?;
        rows.iter().map(session_row).collect()
    }

    async fn append_turns(&self, session_id: Uuid, turns: &[NewTurn]) -> Result<Vec<Turn>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query("SELECT status, turn_count, title FROM sessions WHERE id = ?")
            .bind(session_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let status: String = row.try_get("status").map_err(backend)?;
        if status != "active" {
            return Err(StoreError::Conflict("session has ended".into()));
        }
        let mut seq: i64 = row.try_get("turn_count").map_err(backend)?;
        let mut title: Option<String> = row.try_get("title").map_err(backend)?;
        // The session speaks the language its caller was last heard in.
        let mut language: Option<String> = None;
        let mut stored = Vec::with_capacity(turns.len());
        for t in turns {
            seq += 1;
            sqlx::query(
                "INSERT INTO session_turns (id, session_id, seq, role, text, tool, grounding, timings, input,
                     interrupted, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(t.id.to_string())
            .bind(session_id.to_string())
            .bind(seq)
            .bind(t.role.as_str())
            .bind(&t.text)
            .bind(to_json(&t.tool)?)
            .bind(to_json(&t.grounding)?)
            .bind(to_json(&t.timings)?)
            .bind(to_json(&t.input)?)
            .bind(i64::from(t.interrupted))
            .bind(to_millis(t.at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if title.is_none() && t.role == TurnRole::Caller {
                title = Some(t.text.chars().take(TITLE_CHARS).collect());
            }
            if let Some(TurnInput::Transcribed { language: Some(l), .. }) = &t.input {
                language = Some(l.clone());
            }
            stored.push(Turn {
                id: t.id,
                session_id,
                seq: seq as u32,
                role: t.role,
                text: t.text.clone(),
                tool: t.tool.clone(),
                grounding: t.grounding.clone(),
                timings: t.timings.clone(),
                input: t.input.clone(),
                interrupted: t.interrupted,
                created_at: from_millis(to_millis(t.at)),
            });
        }
        sqlx::query("UPDATE sessions SET turn_count = ?, title = ?, language = COALESCE(?, language) WHERE id = ?")
            .bind(seq)
            .bind(&title)
            .bind(&language)
            .bind(session_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn turns(&self, session_id: Uuid) -> Result<Vec<Turn>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, session_id, seq, role, text, tool, grounding, timings, input, interrupted, created_at
             FROM session_turns WHERE session_id = ? ORDER BY seq",
        )
        .bind(session_id.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(turn_row).collect()
    }

    async fn set_turn_timings(&self, turn_id: Uuid, timings: &TurnTimings) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE session_turns SET timings = ? WHERE id = ?")
            .bind(to_json(&Some(timings.clone()))?)
            .bind(turn_id.to_string())
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        found(done.rows_affected())
    }

    async fn cut_turn(&self, turn_id: Uuid, heard: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE session_turns SET text = ?, interrupted = 1 WHERE id = ? AND role = 'agent'")
            .bind(heard)
            .bind(turn_id.to_string())
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        found(done.rows_affected())
    }

    async fn add_session_usage(
        &self,
        id: Uuid,
        usage: &std::collections::BTreeMap<String, switchboard_core::speech::ServiceUsage>,
    ) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        // Read and write in one transaction: two calls ending at once on
        // one session must both count.
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query("SELECT usage FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let mut total: std::collections::BTreeMap<String, switchboard_core::speech::ServiceUsage> =
            json_col(&row, "usage")?.unwrap_or_default();
        for (service, u) in usage {
            let t = total.entry(service.clone()).or_default();
            t.sent_seconds += u.sent_seconds;
            t.received_seconds += u.received_seconds;
        }
        sqlx::query("UPDATE sessions SET usage = ? WHERE id = ?")
            .bind(serde_json::to_string(&total).map_err(|e| corrupt(e.to_string()))?)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn end_session(&self, id: Uuid, at: Timestamp) -> Result<Session, StoreError> {
        let done = sqlx::query("UPDATE sessions SET status = 'ended', ended_at = ? WHERE id = ? AND status = 'active'")
            .bind(to_millis(at))
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        // Read through the writer: a reader might not see the commit yet.
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("session has already ended".into()));
        }
        session_row(&row)
    }
}
