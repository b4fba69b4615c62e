//! The tool port: functions the agent offers the model. Each tool declares a
//! JSON-schema for its arguments and validates them itself; a failure is an
//! error *result* the model reads, never a crash of the turn.

use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

use crate::llm::ToolSpec;

/// Who is calling, for tools that act on the caller's behalf.
#[derive(Debug, Clone, Default)]
pub struct ToolContext {
    pub session_id: Option<Uuid>,
    pub caller_name: Option<String>,
    pub caller_contact: Option<String>,
    /// The session's channel (`text`, `voice`, `livekit`): a help request
    /// opened from a call says where the caller is.
    pub channel: Option<String>,
}

#[derive(Debug, Error, Clone, PartialEq, Serialize)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum ToolError {
    /// The arguments do not match the tool's schema or rules.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The action is not possible now (slot taken, order already shipped).
    #[error("not possible: {0}")]
    Conflict(String),
    #[error("unknown tool {0}")]
    UnknownTool(String),
    /// Something failed inside; the model is told only that it failed.
    #[error("tool failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Tool: Send + Sync {
    fn spec(&self) -> ToolSpec;
    /// `args` is the parsed JSON the model sent (an object, or `null` if it sent none).
    async fn call(&self, ctx: &ToolContext, args: serde_json::Value) -> Result<serde_json::Value, ToolError>;
}
