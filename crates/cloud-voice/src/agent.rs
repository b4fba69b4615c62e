//! The voice-to-voice port: a service that listens, thinks and speaks on its
//! own (Gemini Live, the Deepgram Voice Agent API), while Switchboard keeps
//! the conversation. The service's function calls come back here to run the
//! same tools as the offline agent; its transcripts become the session's
//! turns; its "the caller started speaking" is barge-in; a supervisor's
//! answer is injected for it to say.
//!
//! One [`VoiceAgent`] per service and configuration; [`VoiceAgent::connect`]
//! opens one conversation ([`AgentLink`]). Every failure of the service ends
//! the link with one [`AgentEvent::Failed`], never a hang, so the call can
//! move to the offline engines with its transcript kept.

use async_trait::async_trait;
use switchboard_core::llm::ToolSpec;
use switchboard_core::speech::{AudioFrame, SpeechEngineInfo};
use tokio::sync::mpsc;

use crate::CloudError;

/// What the conversation starts with.
#[derive(Debug, Clone, Default)]
pub struct AgentSetup {
    /// The system prompt (persona, rules), already rendered.
    pub instructions: String,
    /// Said by the service when the call opens; `None`: wait for the caller.
    pub greeting: Option<String>,
    /// The tools the service may call (the same specs the offline agent
    /// offers its model).
    pub tools: Vec<ToolSpec>,
    /// The caller's language (ISO 639-1), when known.
    pub language: Option<String>,
}

/// From Switchboard to the service.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    /// The result of a function call the service asked for.
    ToolResult { call_id: String, name: String, output: serde_json::Value },
    /// Text the agent must say now, as it is (a supervisor's answer, a
    /// learned answer): where the service can only be prompted, it is told
    /// to say this and nothing else.
    Say(String),
}

/// From the service to Switchboard.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The conversation is open (settings accepted).
    Ready,
    /// What the caller said: partial while they speak, then final.
    UserText { text: String, is_final: bool },
    /// The caller started speaking: whatever the agent is saying must stop
    /// (barge-in). The service has stopped generating too.
    UserStartedSpeaking,
    /// What the agent says (a whole message or a piece of one; pieces of one
    /// reply arrive in order before [`AgentEvent::AgentDone`]).
    AgentText(String),
    /// The agent's speech, at [`VoiceAgent::output_rate`].
    Audio(AudioFrame),
    /// The agent finished its reply (all its audio has been sent).
    AgentDone,
    /// The service wants a tool run; answer with [`AgentCommand::ToolResult`].
    ToolCall { call_id: String, name: String, arguments: serde_json::Value },
    /// The service withdrew tool calls it asked for (the caller cut in).
    ToolCallsCancelled(Vec<String>),
    /// The conversation is over because the service failed; nothing follows.
    Failed(CloudError),
}

/// One open conversation. Send the caller's audio at
/// [`VoiceAgent::input_rate`]; dropping `audio` (or the whole link) closes
/// the connection cleanly. `events` ends after [`AgentEvent::Failed`] or
/// once the link is closed.
pub struct AgentLink {
    pub audio: mpsc::Sender<AudioFrame>,
    pub commands: mpsc::Sender<AgentCommand>,
    pub events: mpsc::Receiver<AgentEvent>,
}

#[async_trait]
pub trait VoiceAgent: Send + Sync {
    fn info(&self) -> SpeechEngineInfo;
    /// The service's name in usage and error text ("Gemini", "Deepgram").
    fn service(&self) -> &'static str;
    /// The rate the caller's audio must be sent at.
    fn input_rate(&self) -> u32;
    /// The rate of the agent's audio.
    fn output_rate(&self) -> u32;
    /// Whether [`AgentCommand::Say`] speaks the text as it is (Deepgram's
    /// `InjectAgentMessage`) rather than asking the model to.
    fn says_verbatim(&self) -> bool;
    /// Opens a conversation; returns once the service accepted the setup
    /// (handshake refused, bad key, no answer: the error).
    async fn connect(&self, setup: AgentSetup) -> Result<AgentLink, CloudError>;
}
