//! The language-model port: a chat with tools, streamed. Engines (embedded
//! llama.cpp, OpenAI-compatible HTTP) live in `switchboard-llm`; the agent
//! only sees this trait, so tests can plug a scripted model in.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::error::{Coded, ErrorCode};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A function call the model asked for. `arguments` is the raw JSON text the
/// model produced; the agent parses and validates it, so a malformed call
/// becomes an error result for the model rather than a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// Set on assistant messages that called tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Set on tool messages: the call this result answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: Role::System, content: content.into(), tool_calls: vec![], tool_call_id: None }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into(), tool_calls: vec![], tool_call_id: None }
    }
    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self { role: Role::Assistant, content: content.into(), tool_calls, tool_call_id: None }
    }
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: Role::Tool, content: content.into(), tool_calls: vec![], tool_call_id: Some(call_id.into()) }
    }
}

/// A tool offered to the model: name, description and a JSON-schema object
/// for its arguments (the OpenAI `function` shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
    pub temperature: f32,
    /// The whole generation must finish within this; engines stop and fail
    /// with [`LlmError::Timeout`] after it.
    pub timeout: Duration,
    /// A GBNF grammar (root rule `root`) the output must follow. Engines that
    /// can constrain sampling (the embedded one) enforce it; others rely on
    /// the prompt, so callers still check what comes back.
    pub grammar: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    ToolCalls,
    Length,
}

/// What a streaming chat yields, in order: text tokens and tool calls, then
/// exactly one `Done` (or an error, which ends the stream).
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// A piece of the answer's text (never part of a tool call's markup).
    Token(String),
    /// A complete tool call (streamed argument deltas already joined).
    ToolCall(ToolCall),
    Done {
        finish: FinishReason,
        prompt_tokens: u32,
        completion_tokens: u32,
    },
}

/// The receiving end of a streamed chat. Dropping it cancels generation.
pub type LlmStream = mpsc::Receiver<Result<LlmEvent, LlmError>>;

#[derive(Debug, Error)]
pub enum LlmError {
    /// No model is configured or its files are missing; the text says what to install.
    #[error("language model unavailable: {0}")]
    Unavailable(String),
    #[error("language model timed out")]
    Timeout,
    /// The engine answered something we cannot read (bad JSON, HTTP error status).
    #[error("language model protocol error: {0}")]
    Protocol(String),
    #[error("language model error: {0}")]
    Backend(#[source] BoxError),
    /// The turn was cut off (the caller spoke over it); not a failure.
    #[error("generation cancelled")]
    Cancelled,
}

impl Coded for LlmError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Unavailable
    }
}

/// Which engine answers, for the UI and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelInfo {
    /// `llama`, `openai`, `none`, or a test engine's name.
    pub engine: String,
    pub model: String,
    pub ready: bool,
    /// When not ready: what to install or configure.
    pub hint: Option<String>,
}

#[async_trait]
pub trait LanguageModel: Send + Sync {
    fn info(&self) -> ModelInfo;
    /// Whether the engine keeps an evaluated prompt prefix between calls (a
    /// local KV cache), so evaluating the system prompt once ahead of the
    /// first caller pays off.
    fn keeps_prompt_cache(&self) -> bool {
        false
    }
    /// Starts generating; events arrive on the returned stream.
    async fn chat(&self, req: ChatRequest) -> Result<LlmStream, LlmError>;
    /// Waits (bounded) until work the engine runs on its own threads has
    /// stopped, so the process may exit: a native engine still decoding
    /// when the process tears down its globals crashes it. Engines with no
    /// such threads return at once.
    async fn quiesce(&self) {}
}
