//! Help requests: what a caller asked that the agent could not answer.
//!
//! Invariant: status moves only `pending -> resolved` or
//! `pending -> unresolved`; both are final.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::validate::{ValidationError, optional, required};

pub const MAX_NAME: usize = 120;
pub const MAX_CHANNEL: usize = 32;
pub const MAX_QUESTION: usize = 2_000;
pub const MAX_CONTACT: usize = 320;
pub const MAX_SESSION_ID: usize = 128;
pub const MAX_ANSWER: usize = 4_000;
pub const MAX_TOPIC: usize = 80;
pub const MAX_NOTES: usize = 2_000;
pub const MAX_HISTORY_TURNS: usize = 200;
pub const MAX_TURN_TEXT: usize = 4_000;

/// Lifecycle state of a help request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HelpStatus {
    Pending,
    Resolved,
    Unresolved,
}

impl HelpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HelpStatus::Pending => "pending",
            HelpStatus::Resolved => "resolved",
            HelpStatus::Unresolved => "unresolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(HelpStatus::Pending),
            "resolved" => Some(HelpStatus::Resolved),
            "unresolved" => Some(HelpStatus::Unresolved),
            _ => None,
        }
    }

    /// The only legal transitions: out of `pending`, into a final state.
    pub fn can_become(self, next: HelpStatus) -> bool {
        self == HelpStatus::Pending && next != HelpStatus::Pending
    }
}

/// One turn of the conversation that led to the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryTurn {
    /// Who spoke: `caller`, `agent`, `supervisor` or `system`.
    #[schema(max_length = 32, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub role: String,
    #[schema(max_length = 4000, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A stored help request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HelpRequest {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub customer_name: String,
    pub customer_contact: String,
    pub channel: String,
    pub question: String,
    pub status: HelpStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// When a pending request times out to `unresolved`.
    pub deadline_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub answer: Option<String>,
    pub topic: Option<String>,
    pub notes: Option<String>,
    /// The supervisor who answered, or `system` for a timeout.
    pub resolved_by: Option<String>,
    pub session_id: Option<String>,
    pub history: Vec<HistoryTurn>,
    /// Other callers who asked the same thing while it was pending: each gets
    /// the answer too (live if still on the line, else a follow-up).
    #[serde(default)]
    pub waiters: Vec<Waiter>,
    /// False while the contact is only what the caller said on a call with
    /// no caller ID: follow-ups wait for a supervisor to confirm it.
    #[serde(default = "confirmed")]
    pub contact_confirmed: bool,
    /// Answered while answers are reviewed before the agent learns them:
    /// waiting for a supervisor to approve (or dismiss) the lesson.
    #[serde(default)]
    pub learn_pending: bool,
}

/// A supervisor's decision on an answer waiting for review.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LearningDecision {
    /// True: the agent learns the answer; false: it is not learned.
    pub approve: bool,
}

fn confirmed() -> bool {
    true
}

/// A caller waiting on a help request someone else opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Waiter {
    pub customer_name: String,
    pub customer_contact: String,
    pub channel: String,
    pub session_id: Option<String>,
    /// Their words, which may differ from the request's question.
    pub question: String,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

/// Input for opening a help request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHelpRequest {
    #[schema(
        max_length = 120,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub customer_name: String,
    /// Letters, digits, `-` and `_` (`phone`, `web-chat`).
    #[schema(min_length = 1, max_length = 32, pattern = r"^\s*[A-Za-z0-9_-]+\s*$")]
    pub channel: String,
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub question: String,
    #[serde(default)]
    #[schema(max_length = 320, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub customer_contact: Option<String>,
    #[serde(default)]
    #[schema(max_length = 128, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub session_id: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryTurn>,
    /// The contact came from the caller's own words (the model's arguments
    /// on a call with no caller ID), not from the channel: no follow-up goes
    /// to it until a supervisor confirms it. Never set through the API.
    #[serde(skip)]
    #[schema(ignore)]
    pub contact_unconfirmed: bool,
}

/// A [`NewHelpRequest`] that passed validation (trimmed, within limits).
#[derive(Debug, Clone)]
pub struct ValidHelpRequest {
    pub customer_name: String,
    pub channel: String,
    pub question: String,
    pub customer_contact: String,
    pub session_id: Option<String>,
    pub history: Vec<HistoryTurn>,
    pub contact_confirmed: bool,
}

impl NewHelpRequest {
    pub fn validate(&self) -> Result<ValidHelpRequest, ValidationError> {
        let channel = required("channel", &self.channel, MAX_CHANNEL)?.to_ascii_lowercase();
        if !channel.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ValidationError::new("channel", "may contain only letters, digits, '-' and '_'"));
        }
        if self.history.len() > MAX_HISTORY_TURNS {
            return Err(ValidationError::new("history", format!("must have at most {MAX_HISTORY_TURNS} turns")));
        }
        let history = self
            .history
            .iter()
            .map(|t| {
                Ok(HistoryTurn {
                    role: required("history.role", &t.role, 32)?,
                    text: required("history.text", &t.text, MAX_TURN_TEXT)?,
                    at: t.at,
                })
            })
            .collect::<Result<Vec<_>, ValidationError>>()?;
        Ok(ValidHelpRequest {
            customer_name: required("customer_name", &self.customer_name, MAX_NAME)?,
            channel,
            question: required("question", &self.question, MAX_QUESTION)?,
            customer_contact: optional("customer_contact", self.customer_contact.as_deref(), MAX_CONTACT)?
                .unwrap_or_default(),
            session_id: optional("session_id", self.session_id.as_deref(), MAX_SESSION_ID)?,
            history,
            contact_confirmed: !self.contact_unconfirmed,
        })
    }
}

/// A supervisor's response: an answer, or "can't answer" with notes.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondInput {
    #[serde(default)]
    #[schema(max_length = 4000, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub answer: Option<String>,
    #[serde(default)]
    #[schema(max_length = 80, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub topic: Option<String>,
    /// True marks the request unresolved instead of answering it.
    #[serde(default)]
    pub unresolved: bool,
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub notes: Option<String>,
    /// Who is answering; shown to a colleague who loses a race.
    #[serde(default)]
    #[schema(max_length = 120, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub supervisor: Option<String>,
    /// The answer is private to the caller who asked ("your order shipped to
    /// 12 Elm St"): it reaches them only, is not learned, and callers who
    /// joined the request get requests of their own.
    #[serde(default)]
    pub only_for_caller: bool,
    /// The supervisor confirms a contact the caller only said (no caller
    /// ID): the follow-up may go to it.
    #[serde(default)]
    pub confirm_contact: bool,
}

/// A [`RespondInput`] that passed validation.
#[derive(Debug, Clone)]
pub struct ValidResponse {
    pub answer: Option<String>,
    pub topic: Option<String>,
    pub unresolved: bool,
    pub notes: Option<String>,
    pub supervisor: String,
    pub only_for_caller: bool,
    pub confirm_contact: bool,
}

impl RespondInput {
    pub fn validate(&self) -> Result<ValidResponse, ValidationError> {
        let answer = optional("answer", self.answer.as_deref(), MAX_ANSWER)?;
        if !self.unresolved && answer.is_none() {
            return Err(ValidationError::new("answer", "must not be empty unless the request is marked unresolved"));
        }
        Ok(ValidResponse {
            answer,
            topic: optional("topic", self.topic.as_deref(), MAX_TOPIC)?,
            unresolved: self.unresolved,
            notes: optional("notes", self.notes.as_deref(), MAX_NOTES)?,
            supervisor: optional("supervisor", self.supervisor.as_deref(), MAX_NAME)?
                .unwrap_or_else(|| "supervisor".into()),
            only_for_caller: self.only_for_caller && !self.unresolved,
            confirm_contact: self.confirm_contact,
        })
    }
}

/// A stored supervisor response (one per answered request).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SupervisorResponse {
    #[schema(value_type = String, format = Uuid)]
    pub request_id: Uuid,
    pub answer: Option<String>,
    pub topic: Option<String>,
    pub unresolved: bool,
    pub notes: Option<String>,
    pub supervisor: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewHelpRequest {
        NewHelpRequest {
            customer_name: " Ada ".into(),
            channel: "Phone".into(),
            question: " Do you open on Sundays? ".into(),
            ..Default::default()
        }
    }

    #[test]
    fn transitions_only_leave_pending() {
        use HelpStatus::*;
        assert!(Pending.can_become(Resolved));
        assert!(Pending.can_become(Unresolved));
        assert!(!Pending.can_become(Pending));
        for s in [Resolved, Unresolved] {
            for n in [Pending, Resolved, Unresolved] {
                assert!(!s.can_become(n), "{s:?} -> {n:?} must be refused");
            }
        }
    }

    #[test]
    fn new_request_is_trimmed_and_normalised() {
        let v = input().validate().unwrap();
        assert_eq!(v.customer_name, "Ada");
        assert_eq!(v.channel, "phone");
        assert_eq!(v.question, "Do you open on Sundays?");
        assert_eq!(v.customer_contact, "");
    }

    #[test]
    fn bad_channel_and_long_question_are_refused() {
        let mut i = input();
        i.channel = "sms gateway".into();
        assert_eq!(i.validate().unwrap_err().field, "channel");
        let mut i = input();
        i.question = "x".repeat(MAX_QUESTION + 1);
        assert_eq!(i.validate().unwrap_err().field, "question");
    }

    #[test]
    fn answer_required_unless_unresolved() {
        let r = RespondInput { answer: Some("  ".into()), ..Default::default() };
        assert_eq!(r.validate().unwrap_err().field, "answer");
        let r = RespondInput { unresolved: true, notes: Some("no idea".into()), ..Default::default() };
        let v = r.validate().unwrap();
        assert!(v.unresolved && v.answer.is_none());
        assert_eq!(v.supervisor, "supervisor");
    }
}
