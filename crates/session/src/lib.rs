//! `switchboard-session` owns agent sessions: a caller's conversation with
//! the AI receptionist, turn by turn. For each caller message it retrieves
//! evidence from the knowledge index, lets the grounding policy decide
//! (learned answer as is, model answer from evidence, business tools, or a
//! help request to a human), streams the reply, and stores every turn with
//! its timings and the evidence behind it. It also relays a supervisor's
//! answer into a session whose caller is still there.
//!
//! Invariants:
//! - Turns of a session are stored in order with gap-free `seq`, and never
//!   after the session ended (the store refuses).
//! - The caller's turn is stored before any work on it; whatever fails later,
//!   an agent turn (possibly a fallback) follows it.
//! - A business question without sufficient evidence is never answered by the
//!   model: the policy escalates before any generation.
//! - One turn at a time per session; turns run as tasks owned by the service,
//!   so a client that disconnects mid-reply leaves a complete turn behind.
//! - No framework: the model, tools, store, index and help desk are ports.

mod agent;
mod export;
mod guard;
mod hub;
mod policy;
mod prompts;
mod relay;
mod service;
mod speak;
mod tools;

pub use export::{to_json as export_json, to_markdown as export_markdown};
pub use hub::{MAX_QUEUED, SessionEvent, SessionHub, TurnHandle};
pub use policy::{GroundingPolicy, Intent, Retrieval, intent};
pub use prompts::{Phrases, Prompt, PromptError, Prompts, Rendered};
pub use relay::SessionRelay;
pub use service::{AgentConfig, CallerMessage, ModelSlot, SessionError, SessionView, Sessions, TurnOutcome};
pub use speak::speakable;
pub use tools::{RequestHelpTool, SearchKnowledgeTool, Toolbox};
