//! Agent sessions: one conversation with a caller over some channel, as an
//! ordered list of turns (what the caller said, what the agent answered, the
//! tools it called), each with its timings and the evidence behind it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::help::{HelpRequest, NewHelpRequest};
use crate::ports::StoreError;
use crate::time::Timestamp;
use crate::validate::{ValidationError, optional, required};

/// Longest caller message accepted, in characters.
pub const MAX_MESSAGE: usize = 2_000;
pub const MAX_CALLER_NAME: usize = 120;
pub const MAX_CALLER_CONTACT: usize = 200;
pub const MAX_LANGUAGE: usize = 16;
/// Most sessions a list returns.
pub const LIST_LIMIT: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Text,
    Voice,
    Livekit,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Text => "text",
            Channel::Voice => "voice",
            Channel::Livekit => "livekit",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(Channel::Text),
            "voice" => Some(Channel::Voice),
            "livekit" => Some(Channel::Livekit),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Ended,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Ended => "ended",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(SessionStatus::Active),
            "ended" => Some(SessionStatus::Ended),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub channel: Channel,
    pub status: SessionStatus,
    pub caller_name: Option<String>,
    pub caller_contact: Option<String>,
    pub language: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Turns stored so far.
    pub turn_count: u32,
    /// The caller's first words, for lists.
    pub title: Option<String>,
    /// Audio seconds per cloud speech service, once a call on it ended
    /// (empty when only offline engines ran).
    #[serde(default)]
    pub usage: std::collections::BTreeMap<String, crate::speech::ServiceUsage>,
}

/// Input of `POST /api/sessions`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    #[schema(max_length = 120, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub caller_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub caller_contact: Option<String>,
    /// BCP-47 tag such as `en` or `en-GB`.
    #[serde(default)]
    #[schema(max_length = 16, pattern = r"^[ \t\r\n]*[A-Za-z0-9-]*[ \t\r\n]*$")]
    pub language: Option<String>,
}

/// A validated [`NewSession`].
#[derive(Debug, Clone)]
pub struct ValidSession {
    pub channel: Channel,
    pub caller_name: Option<String>,
    pub caller_contact: Option<String>,
    pub language: Option<String>,
}

impl NewSession {
    pub fn validate(&self) -> Result<ValidSession, ValidationError> {
        let language = optional("language", self.language.as_deref(), MAX_LANGUAGE)?;
        if let Some(l) = &language
            && !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ValidationError::new("language", "must be a language tag such as en or en-GB"));
        }
        Ok(ValidSession {
            channel: self.channel.unwrap_or(Channel::Text),
            caller_name: optional("caller_name", self.caller_name.as_deref(), MAX_CALLER_NAME)?,
            caller_contact: optional("caller_contact", self.caller_contact.as_deref(), MAX_CALLER_CONTACT)?,
            language,
        })
    }
}

/// A caller's message, checked: not empty, not huge.
pub fn validate_message(text: &str) -> Result<String, ValidationError> {
    let t = required("text", text, MAX_MESSAGE)?;
    Ok(t.to_string())
}

/// Who produced a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnRole {
    Caller,
    Agent,
    /// A tool call and its result.
    Tool,
    /// A supervisor's answer relayed into the session.
    Supervisor,
}

impl TurnRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnRole::Caller => "caller",
            TurnRole::Agent => "agent",
            TurnRole::Tool => "tool",
            TurnRole::Supervisor => "supervisor",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "caller" => Some(TurnRole::Caller),
            "agent" => Some(TurnRole::Agent),
            "tool" => Some(TurnRole::Tool),
            "supervisor" => Some(TurnRole::Supervisor),
            _ => None,
        }
    }
}

/// How the agent arrived at a reply: the grounding policy's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A learned or curated answer matched with high confidence: returned as
    /// is, no model call.
    FastPath,
    /// The model answered from retrieved evidence.
    Grounded,
    /// No model is available: the best evidence is read back.
    Extractive,
    /// The model used the business's tools (bookings, orders, ...).
    Tools,
    /// Not enough evidence: the agent said it would check and opened a help request.
    Escalated,
    /// Greetings and thanks: no business facts involved.
    SmallTalk,
    /// The model failed or timed out; a fallback was said.
    Fallback,
    /// A supervisor's answer relayed while the caller was still here.
    Relay,
    /// The caller asked the agent to break its rules (reveal instructions or
    /// private pages): declined, nobody bothered.
    Refused,
}

/// One retrieved piece of evidence and how well it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub id: String,
    pub kind: crate::knowledge::KnowledgeSource,
    /// The entry's question or the page's title.
    pub title: String,
    pub snippet: String,
    pub url: Option<String>,
    /// BM25 score from the index.
    pub score: f32,
    /// Share of the question's terms found in this evidence (0..1).
    pub coverage: f32,
    /// Cosine similarity of question and evidence embeddings (absent when
    /// search runs on BM25 alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// For a question/answer entry, the similarity to its question alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_similarity: Option<f32>,
}

/// Why a reply is what it is; shown to supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Grounding {
    pub decision: Decision,
    /// The best hits, best first, with their scores.
    pub hits: Vec<Evidence>,
    /// Evidence ids the reply rests on.
    pub cited: Vec<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub help_request_id: Option<Uuid>,
    /// One sentence for the supervisor.
    pub reason: String,
}

/// Where a caller turn's text came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TurnInput {
    /// Typed in a chat.
    #[default]
    Typed,
    /// Speech-to-text of what the caller said.
    Transcribed {
        /// The recogniser's confidence, 0..1, when it gives one.
        confidence: Option<f32>,
        /// The language it heard (ISO 639-1, e.g. `en`, `hi`).
        language: Option<String>,
    },
}

/// Per-turn timings in milliseconds (agent turns), each from the turn's
/// origin: the message's arrival for typed turns, the caller's end of speech
/// (last voiced frame) for spoken ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TurnTimings {
    /// The end-of-turn decision (spoken turns): the caller has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_turn_ms: Option<f64>,
    /// The final transcript (spoken turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_final_ms: Option<f64>,
    /// The first synthesised audio of the reply (spoken turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_audio_ms: Option<f64>,
    /// The first audio sent to the caller or played (spoken turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playback_start_ms: Option<f64>,
    /// The transcript was made while the caller paused, before the end of
    /// their turn was decided (spoken turns; see the call's
    /// `preempt_after_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempted: Option<bool>,
    pub retrieval_ms: Option<f64>,
    /// Message received → first token of the reply.
    pub first_token_ms: Option<f64>,
    pub llm_ms: Option<f64>,
    pub total_ms: Option<f64>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// A tool call with its result, stored on `tool` turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolRecord {
    pub call_id: String,
    pub name: String,
    /// The raw arguments text the model produced.
    pub arguments: String,
    pub ok: bool,
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Turn {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub session_id: Uuid,
    /// 1, 2, 3... in conversation order, without gaps.
    pub seq: u32,
    pub role: TurnRole,
    pub text: String,
    pub tool: Option<ToolRecord>,
    pub grounding: Option<Grounding>,
    pub timings: Option<TurnTimings>,
    /// Caller turns: typed or transcribed (absent on turns stored before
    /// the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<TurnInput>,
    /// Agent turns the caller cut off: `text` is only what they heard.
    #[serde(default)]
    pub interrupted: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A turn to append; the store assigns `seq`.
#[derive(Debug, Clone)]
pub struct NewTurn {
    pub id: Uuid,
    pub role: TurnRole,
    pub text: String,
    pub tool: Option<ToolRecord>,
    pub grounding: Option<Grounding>,
    pub timings: Option<TurnTimings>,
    pub input: Option<TurnInput>,
    pub interrupted: bool,
    pub at: Timestamp,
}

impl NewTurn {
    /// A turn of `role` saying `text`, now, with nothing else recorded yet.
    pub fn new(role: TurnRole, text: &str) -> NewTurn {
        NewTurn {
            id: Uuid::now_v7(),
            role,
            text: text.to_string(),
            tool: None,
            grounding: None,
            timings: None,
            input: None,
            interrupted: false,
            at: crate::time::now(),
        }
    }
}

impl Grounding {
    /// A decision that rests on no evidence, with its reason.
    pub fn bare(decision: Decision, reason: &str) -> Grounding {
        Grounding { decision, hits: vec![], cited: vec![], help_request_id: None, reason: reason.into() }
    }
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, id: Uuid, s: &ValidSession, at: Timestamp) -> Result<Session, StoreError>;
    async fn get_session(&self, id: Uuid) -> Result<Session, StoreError>;
    /// Newest first; `active` filters by status.
    async fn list_sessions(&self, active: Option<bool>, limit: u32) -> Result<Vec<Session>, StoreError>;
    /// Appends turns in order, atomically, to an active session. Fails with
    /// [`StoreError::Conflict`] once the session has ended, so no turn is ever
    /// stored after the end.
    async fn append_turns(&self, session_id: Uuid, turns: &[NewTurn]) -> Result<Vec<Turn>, StoreError>;
    async fn turns(&self, session_id: Uuid) -> Result<Vec<Turn>, StoreError>;
    /// Replaces a stored turn's timings: the voice loop learns when the
    /// reply's audio started only after the turn was stored.
    async fn set_turn_timings(&self, turn_id: Uuid, timings: &TurnTimings) -> Result<(), StoreError>;
    /// Cuts a stored agent turn to what the caller heard before speaking
    /// over it (the turn had finished generating but not playing).
    async fn cut_turn(&self, turn_id: Uuid, heard: &str) -> Result<(), StoreError>;
    /// Adds a call's cloud audio seconds to the session's (a session may
    /// hold more than one call).
    async fn add_session_usage(
        &self,
        id: Uuid,
        usage: &std::collections::BTreeMap<String, crate::speech::ServiceUsage>,
    ) -> Result<(), StoreError>;
    /// Active → ended; `Conflict` if already ended.
    async fn end_session(&self, id: Uuid, at: Timestamp) -> Result<Session, StoreError>;
}

/// Opening help requests, as the agent needs it (implemented by the
/// escalation service).
#[async_trait]
pub trait HelpDesk: Send + Sync {
    async fn open(&self, r: NewHelpRequest) -> Result<HelpRequest, HelpDeskError>;
    /// Pending requests opened from, or joined by, this session.
    async fn pending_for_session(&self, session_id: &str) -> Result<Vec<HelpRequest>, HelpDeskError>;
    /// The newest pending requests, for a new question to join one that asks
    /// the same thing.
    async fn pending(&self, limit: u32) -> Result<Vec<HelpRequest>, HelpDeskError>;
    /// Adds a caller to a pending request; they get its answer too.
    async fn join(&self, id: uuid::Uuid, waiter: crate::help::Waiter) -> Result<HelpRequest, HelpDeskError>;
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HelpDeskError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_sessions_are_validated() {
        assert!(validate_message("   ").is_err());
        assert!(validate_message(&"x".repeat(MAX_MESSAGE + 1)).is_err());
        assert_eq!(validate_message(" hi ").unwrap(), "hi");
        let s = NewSession { language: Some("en GB".into()), ..Default::default() };
        assert_eq!(s.validate().unwrap_err().field, "language");
        let s = NewSession { caller_name: Some("  ".into()), ..Default::default() }.validate().unwrap();
        assert_eq!((s.channel, s.caller_name), (Channel::Text, None));
    }
}
