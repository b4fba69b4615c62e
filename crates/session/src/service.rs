//! The sessions service: start, message, watch, end, export.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::llm::{ChatMessage, ChatRequest, LanguageModel, ModelInfo};
use switchboard_core::ports::{KnowledgeIndex, StoreError};
use switchboard_core::session::{
    HelpDesk, LIST_LIMIT, NewSession, Session, SessionStatus, SessionStore, Turn, TurnInput, TurnTimings,
    validate_message,
};
use switchboard_core::tool::Tool;
use switchboard_core::validate::ValidationError;
use switchboard_core::{Coded, ErrorCode, time};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::hub::{SessionEvent, SessionHub, TurnHandle};
use crate::policy::GroundingPolicy;
use crate::prompts::{Prompts, Rendered};
use crate::tools::{RequestHelpTool, SearchKnowledgeTool, Toolbox};
use switchboard_core::profile::BusinessProfile;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub policy: GroundingPolicy,
    /// A model call (one round of generation) must finish within this.
    pub llm_timeout: Duration,
    /// Rounds of tool calls the model may make in one turn.
    pub max_tool_rounds: u32,
    pub max_tokens: u32,
    /// Earlier turns sent to the model as context.
    pub history_turns: usize,
    /// A session with no message from its caller for this long has been
    /// abandoned: it ends, and answers to its questions go out as follow-ups.
    pub idle_timeout: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            policy: GroundingPolicy::default(),
            llm_timeout: Duration::from_secs(60),
            max_tool_rounds: 3,
            max_tokens: 160,
            history_turns: 8,
            idle_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// The language model in use; the settings screen can swap it while running.
#[derive(Clone)]
pub struct ModelSlot(Arc<RwLock<Arc<dyn LanguageModel>>>);

impl ModelSlot {
    pub fn new(model: Arc<dyn LanguageModel>) -> Self {
        Self(Arc::new(RwLock::new(model)))
    }
    pub fn get(&self) -> Arc<dyn LanguageModel> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn set(&self, model: Arc<dyn LanguageModel>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = model;
    }
    pub fn info(&self) -> ModelInfo {
        self.get().info()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("session not found")]
    NotFound,
    #[error("session has ended")]
    Ended,
    #[error("the agent is shutting down")]
    ShuttingDown,
    #[error("too many messages are waiting in this session; wait for the agent's reply")]
    Busy,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => SessionError::NotFound,
            StoreError::Conflict(_) => SessionError::Ended,
            other => SessionError::Store(other),
        }
    }
}

impl Coded for SessionError {
    fn code(&self) -> ErrorCode {
        match self {
            SessionError::Invalid(_) => ErrorCode::ValidationFailed,
            SessionError::NotFound => ErrorCode::NotFound,
            SessionError::Ended => ErrorCode::Conflict,
            SessionError::ShuttingDown => ErrorCode::Unavailable,
            SessionError::Busy => ErrorCode::Conflict,
            SessionError::Store(_) => ErrorCode::Internal,
        }
    }
}

/// A caller's message, typed or transcribed.
#[derive(Debug, Clone)]
pub struct CallerMessage {
    pub text: String,
    pub input: TurnInput,
    /// Cut off the turn in progress first (the caller spoke over the agent).
    pub interrupt: bool,
}

/// A session with its transcript.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub session: Session,
    pub turns: Vec<Turn>,
}

/// What one caller message produced.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TurnOutcome {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: Uuid,
    /// The agent's reply turn.
    pub reply: Turn,
    /// Every turn stored for this message, the caller's first.
    pub turns: Vec<Turn>,
}

#[derive(Clone)]
pub struct Sessions {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Arc<dyn SessionStore>,
    pub index: Arc<dyn KnowledgeIndex>,
    pub desk: Arc<dyn HelpDesk>,
    pub model: ModelSlot,
    pub toolbox: Toolbox,
    pub help: RequestHelpTool,
    pub prompts: Prompts,
    /// The prompts filled from the current business profile.
    pub rendered: RwLock<Arc<Rendered>>,
    pub policy: RwLock<GroundingPolicy>,
    pub config: AgentConfig,
    pub hub: SessionHub,
    pub events: EventBus,
    pub tasks: TaskTracker,
    pub cancel: CancellationToken,
    /// Embeddings of the profile's facts (and the questions they answer),
    /// by text: the same few every turn, so computed once per profile.
    pub fact_vectors: std::sync::Mutex<std::collections::HashMap<String, Vec<f32>>>,
}

impl Inner {
    pub fn rendered(&self) -> Arc<Rendered> {
        self.rendered.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Sessions {
    /// `business_tools` are offered to the model next to the agent's own
    /// `search_knowledge_base` and `request_help`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn SessionStore>,
        index: Arc<dyn KnowledgeIndex>,
        desk: Arc<dyn HelpDesk>,
        model: ModelSlot,
        business_tools: Vec<Arc<dyn Tool>>,
        prompts: Prompts,
        profile: &BusinessProfile,
        config: AgentConfig,
        hub: SessionHub,
        events: EventBus,
        // A child of the app's token: cancelling the app stops every turn.
        cancel: CancellationToken,
    ) -> Result<Self, crate::prompts::PromptError> {
        let rendered = RwLock::new(Arc::new(prompts.render(profile)?));
        let mut tools: Vec<Arc<dyn Tool>> =
            vec![Arc::new(SearchKnowledgeTool::new(index.clone())), Arc::new(RequestHelpTool::new(desk.clone()))];
        tools.extend(business_tools);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                index,
                desk: desk.clone(),
                model,
                toolbox: Toolbox::new(tools),
                help: RequestHelpTool::new(desk),
                prompts,
                rendered,
                policy: RwLock::new(config.policy.clone()),
                config,
                hub,
                events,
                tasks: TaskTracker::new(),
                cancel,
                fact_vectors: Default::default(),
            }),
        })
    }

    pub fn hub(&self) -> &SessionHub {
        &self.inner.hub
    }

    pub fn model(&self) -> &ModelSlot {
        &self.inner.model
    }

    pub fn prompts(&self) -> &Prompts {
        &self.inner.prompts
    }

    /// The prompts as filled from the current business profile.
    pub fn rendered(&self) -> Arc<Rendered> {
        self.inner.rendered()
    }

    /// A new business profile: prompts and phrases are filled from it from the
    /// next turn on, and the model re-evaluates the new system prompt.
    pub fn set_profile(&self, profile: &BusinessProfile) -> Result<(), crate::prompts::PromptError> {
        let r = self.inner.prompts.render(profile)?;
        *self.inner.rendered.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(r);
        self.inner.fact_vectors.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.warm_up();
        Ok(())
    }

    /// Which retrievers the agent's searches run on.
    pub fn retrieval(&self) -> switchboard_core::embed::RetrievalStatus {
        self.inner.index.retrieval()
    }

    pub fn tool_names(&self) -> Vec<String> {
        self.inner.toolbox.names()
    }

    pub fn policy(&self) -> GroundingPolicy {
        self.inner.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_policy(&self, p: GroundingPolicy) {
        *self.inner.policy.write().unwrap_or_else(|p| p.into_inner()) = p;
    }

    /// Sessions a previous run left active have lost their caller (the
    /// process that held the line is gone): end them, so answers to their
    /// questions go out as follow-ups.
    pub async fn end_orphans(&self) -> Result<usize, SessionError> {
        let active = self.inner.store.list_sessions(Some(true), u32::MAX).await?;
        let mut n = 0;
        for s in active.into_iter().filter(|s| !self.inner.hub.is_live(s.id)) {
            match self.inner.store.end_session(s.id, time::now()).await {
                Ok(_) | Err(StoreError::Conflict(_)) => n += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    pub async fn start(&self, input: &NewSession) -> Result<Session, SessionError> {
        let v = input.validate()?;
        let session = self.inner.store.insert_session(Uuid::now_v7(), &v, time::now()).await?;
        self.inner.hub.open(session.id);
        self.inner.events.publish(EventKind::SessionStarted { session: session.clone() });
        Ok(session)
    }

    pub async fn get(&self, id: Uuid) -> Result<SessionView, SessionError> {
        let session = self.inner.store.get_session(id).await?;
        let turns = self.inner.store.turns(id).await?;
        Ok(SessionView { session, turns })
    }

    pub async fn list(&self, active: Option<bool>) -> Result<Vec<Session>, SessionError> {
        Ok(self.inner.store.list_sessions(active, LIST_LIMIT).await?)
    }

    /// Stores and publishes the agent's opening line (a call's greeting), in
    /// the session's turn order.
    pub async fn greet(&self, id: Uuid) -> Result<Turn, SessionError> {
        let lock = self.inner.hub.turn_lock(id).ok_or(SessionError::Ended)?;
        let _turn = lock.lock().await;
        let text = self.rendered().phrases.greeting.clone();
        let mut turn = switchboard_core::session::NewTurn::new(switchboard_core::session::TurnRole::Agent, &text);
        turn.grounding = Some(switchboard_core::session::Grounding::bare(
            switchboard_core::session::Decision::SmallTalk,
            "the greeting that opens a call",
        ));
        self.record(id, vec![turn]).await?.into_iter().next().ok_or(SessionError::Ended)
    }

    /// Stores a note in the session's transcript that is neither the caller
    /// nor the agent (the call moved to the offline speech engines): a tool
    /// turn named `source`, which the model's history leaves out.
    pub async fn note(&self, id: Uuid, source: &str, text: &str) -> Result<Turn, SessionError> {
        let mut turn = switchboard_core::session::NewTurn::new(switchboard_core::session::TurnRole::Tool, text);
        turn.tool = Some(switchboard_core::session::ToolRecord {
            call_id: String::new(),
            name: source.to_string(),
            arguments: String::new(),
            ok: true,
            result: serde_json::json!({ "note": text }),
        });
        self.record(id, vec![turn]).await?.into_iter().next().ok_or(SessionError::Ended)
    }

    /// Stores turns a voice-to-voice service produced (what the caller said,
    /// what the service said, the tools it ran) and shows them to the
    /// session's watchers.
    pub async fn record(
        &self,
        id: Uuid,
        turns: Vec<switchboard_core::session::NewTurn>,
    ) -> Result<Vec<Turn>, SessionError> {
        let stored = self.inner.store.append_turns(id, &turns).await.map_err(|e| match e {
            StoreError::Conflict(_) => SessionError::Ended,
            e => SessionError::Store(e),
        })?;
        for turn in &stored {
            self.inner.hub.publish(id, SessionEvent::Turn { turn: turn.clone() });
            self.inner.events.publish(EventKind::SessionTurn { turn: turn.clone() });
        }
        Ok(stored)
    }

    /// The tools a voice-to-voice service is offered: the agent's own.
    pub fn tool_specs(&self) -> Vec<switchboard_core::llm::ToolSpec> {
        self.inner.toolbox.specs()
    }

    /// Runs a tool a voice-to-voice service called, for the caller on
    /// session `id`, and stores it as the session's tool turn. The result is
    /// what the service reads: a failure is an `error` field, never a crash.
    /// A knowledge search goes through the grounding policy: a learned
    /// answer comes back marked `say_as_is`, evidence that does not pass the
    /// thresholds is withheld (so the service asks for help rather than
    /// guess).
    pub async fn run_tool(
        &self,
        id: Uuid,
        call_id: &str,
        name: &str,
        arguments: &serde_json::Value,
    ) -> serde_json::Value {
        let session = match self.inner.store.get_session(id).await {
            Ok(s) => s,
            Err(e) => return serde_json::json!({ "error": format!("the call is not known: {e}") }),
        };
        let ctx = switchboard_core::tool::ToolContext {
            session_id: Some(session.id),
            caller_name: session.caller_name.clone(),
            caller_contact: session.caller_contact.clone(),
            channel: Some(session.channel.as_str().to_string()),
        };
        let raw = arguments.to_string();
        let result = if name == "search_knowledge_base" {
            self.grounded_search(arguments).await
        } else {
            let call = switchboard_core::llm::ToolCall {
                id: call_id.to_string(),
                name: name.to_string(),
                arguments: raw.clone(),
            };
            self.inner.toolbox.call(&ctx, &call).await
        };
        let (ok, value) = match result {
            Ok(v) => (true, v),
            Err(e) => (false, serde_json::json!({ "error": e.to_string() })),
        };
        let mut turn = switchboard_core::session::NewTurn::new(switchboard_core::session::TurnRole::Tool, name);
        turn.tool = Some(switchboard_core::session::ToolRecord {
            call_id: call_id.to_string(),
            name: name.to_string(),
            arguments: raw,
            ok,
            result: value.clone(),
        });
        if let Err(e) = self.record(id, vec![turn]).await {
            tracing::warn!(session = %id, error = %e, "a voice service's tool turn was not stored");
        }
        value
    }

    async fn grounded_search(
        &self,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, switchboard_core::tool::ToolError> {
        use switchboard_core::tool::ToolError;
        let query = args
            .get("query")
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .ok_or_else(|| ToolError::InvalidArguments("query is required".into()))?;
        if query.chars().count() > 500 {
            return Err(ToolError::InvalidArguments("query must be at most 500 characters".into()));
        }
        let policy = self.policy();
        let (_, retrieval) = crate::agent::retrieve(&self.inner, query, &policy).await;
        if let Some((hit, answer)) = retrieval.fast_path {
            return Ok(serde_json::json!({ "say_as_is": answer, "title": hit.title }));
        }
        // The profile's few facts go with every answer: a service's model
        // tells by itself whether the hours or the address answer it.
        let facts: Vec<serde_json::Value> = self
            .rendered()
            .facts
            .iter()
            .map(|(title, text)| serde_json::json!({ "title": title, "text": text }))
            .collect();
        let results: Vec<serde_json::Value> =
            retrieval.evidence.iter().map(|(e, text)| serde_json::json!({ "title": e.title, "text": text })).collect();
        if results.is_empty() {
            return Ok(serde_json::json!({
                "results": [],
                "business_facts": facts,
                "message": "Nothing in the knowledge base answers this. Unless the business facts do, do not guess: tell the caller you will check, and call request_help."
            }));
        }
        Ok(serde_json::json!({ "results": results, "business_facts": facts }))
    }

    /// Adds a call's cloud audio seconds to its session.
    pub async fn add_usage(
        &self,
        id: Uuid,
        usage: &std::collections::BTreeMap<String, switchboard_core::speech::ServiceUsage>,
    ) -> Result<(), SessionError> {
        Ok(self.inner.store.add_session_usage(id, usage).await?)
    }

    /// Records a spoken turn's audio timings once known (after the turn was
    /// stored); `timings` replaces what was stored.
    pub async fn set_turn_timings(&self, turn_id: Uuid, timings: &TurnTimings) -> Result<(), SessionError> {
        Ok(self.inner.store.set_turn_timings(turn_id, timings).await?)
    }

    /// Cuts a stored agent turn to what the caller heard (a caller spoke
    /// over a reply that had finished generating but was still playing).
    pub async fn cut_turn(&self, turn_id: Uuid, heard: &str) -> Result<(), SessionError> {
        Ok(self.inner.store.cut_turn(turn_id, heard.trim()).await?)
    }

    /// Keeps an idle call from being reaped while audio flows.
    pub fn touch(&self, id: Uuid) {
        self.inner.hub.touch(id);
    }

    /// Ends the session after any turn in progress has been stored.
    pub async fn end(&self, id: Uuid) -> Result<Session, SessionError> {
        let lock = self.inner.hub.turn_lock(id);
        let _guard = match &lock {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let session = self.inner.store.end_session(id, time::now()).await?;
        self.inner.hub.close(&session);
        self.inner.events.publish(EventKind::SessionEnded { session: session.clone() });
        Ok(session)
    }

    /// Ends every session idle for longer than the configured time, until
    /// `cancel`: an abandoned session must not hold memory or swallow a
    /// supervisor's answer as a "live relay" nobody hears.
    pub async fn run_idle_reaper(self, cancel: CancellationToken) {
        let idle = self.inner.config.idle_timeout;
        let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            for id in self.inner.hub.idle(idle) {
                match self.end(id).await {
                    Ok(_) => tracing::info!(session = %id, "session ended after being idle"),
                    // Ended by its caller meanwhile.
                    Err(SessionError::Ended) => self.inner.hub.forget(id),
                    Err(e) => tracing::warn!(session = %id, error = %e, "ending an idle session failed"),
                }
            }
        }
    }

    /// Follows a live session: its events from now on.
    pub fn subscribe(&self, id: Uuid) -> Option<broadcast::Receiver<SessionEvent>> {
        self.inner.hub.subscribe(id)
    }

    /// Checks the message and the session, then runs the turn as a task of
    /// the service: this turn's events arrive on the returned stream (and go
    /// to every watcher). Dropping the stream does not stop the turn.
    pub async fn send(&self, id: Uuid, text: &str) -> Result<mpsc::UnboundedReceiver<SessionEvent>, SessionError> {
        let message = CallerMessage { text: text.to_string(), input: TurnInput::Typed, interrupt: false };
        Ok(self.send_message(id, message).await?.0)
    }

    /// Like [`Sessions::send`], for any source of caller text (typed or
    /// transcribed), optionally cutting off the turn in progress first (a
    /// caller who speaks over the agent). The handle cuts off this turn.
    pub async fn send_message(
        &self,
        id: Uuid,
        message: CallerMessage,
    ) -> Result<(mpsc::UnboundedReceiver<SessionEvent>, TurnHandle), SessionError> {
        let text = validate_message(&message.text)?;
        self.inner.hub.touch(id);
        let session = self.inner.store.get_session(id).await?;
        if session.status == SessionStatus::Ended || !self.inner.hub.is_live(id) {
            return Err(SessionError::Ended);
        }
        if self.inner.cancel.is_cancelled() {
            return Err(SessionError::ShuttingDown);
        }
        let slot = self.inner.hub.enqueue(id).ok_or(SessionError::Busy)?;
        if message.interrupt {
            // The turn in progress stops at once (it stores what was heard),
            // so this one does not wait behind it.
            self.inner.hub.interrupt(id, None);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // A child of the service's token: a turn stops with the app.
        let handle = TurnHandle::new(self.inner.cancel.child_token());
        let turn_handle = handle.clone();
        let input = message.input;
        let inner = self.inner.clone();
        self.inner.tasks.spawn(async move {
            let _slot = slot;
            let Some(lock) = inner.hub.turn_lock(id) else {
                let _ = tx.send(SessionEvent::Error { code: ErrorCode::Conflict, message: "session has ended".into() });
                return;
            };
            let _turn = lock.lock().await;
            // It may have ended while this message waited for the previous turn.
            let session = match inner.store.get_session(id).await {
                Ok(s) if s.status == SessionStatus::Active => s,
                _ => {
                    let _ =
                        tx.send(SessionEvent::Error { code: ErrorCode::Conflict, message: "session has ended".into() });
                    return;
                }
            };
            inner.hub.set_current(id, Some(handle.clone()));
            let emit = |e: SessionEvent| {
                if let SessionEvent::Turn { turn } = &e {
                    inner.events.publish(EventKind::SessionTurn { turn: turn.clone() });
                }
                inner.hub.publish(id, e.clone());
                let _ = tx.send(e);
            };
            // A bug in a turn must not leave the caller without an answer.
            let turn =
                std::panic::AssertUnwindSafe(crate::agent::run_turn(&inner, &session, &text, input, &handle, &emit));
            if futures::FutureExt::catch_unwind(turn).await.is_err() {
                tracing::error!(session = %id, "the turn failed unexpectedly; saying the fallback");
                crate::agent::fallback_turn(&inner, &session, &emit).await;
            }
            inner.hub.set_current(id, None);
        });
        Ok((rx, turn_handle))
    }

    /// Shows the session's watchers what the caller is saying before their
    /// turn is final (a partial transcript); nothing is stored.
    pub fn hearing(&self, id: Uuid, text: &str) {
        self.inner.hub.publish(id, SessionEvent::Hearing { text: text.to_string() });
    }

    /// The reply the agent would give to `text` without its language model
    /// (a courtesy or a learned answer), if any. Stores and changes nothing:
    /// a voice call uses it to prepare the reply's first audio while it
    /// waits to be sure the caller has finished, and keeps that audio only
    /// if the turn then says the same.
    pub async fn foresee(&self, text: &str) -> Option<String> {
        let text = validate_message(text).ok()?;
        if let Some(reply) = crate::agent::polite_reply(&self.inner.rendered(), &text) {
            return Some(reply);
        }
        let policy = self.policy();
        let (_, retrieval) = crate::agent::retrieve(&self.inner, &text, &policy).await;
        retrieval.fast_path.map(|(_, answer)| answer)
    }

    /// Cuts off the session's turn in progress (see [`TurnHandle::interrupt`]);
    /// false when none is running.
    pub fn interrupt(&self, id: Uuid, heard: Option<String>) -> bool {
        self.inner.hub.interrupt(id, heard)
    }

    /// Sends a message and waits for the whole turn.
    pub async fn ask(&self, id: Uuid, text: &str) -> Result<TurnOutcome, SessionError> {
        let message = CallerMessage { text: text.to_string(), input: TurnInput::Typed, interrupt: false };
        self.ask_message(id, message).await
    }

    /// [`Sessions::send_message`], waiting for the whole turn.
    pub async fn ask_message(&self, id: Uuid, message: CallerMessage) -> Result<TurnOutcome, SessionError> {
        let (mut rx, _handle) = self.send_message(id, message).await?;
        let mut turns = Vec::new();
        let mut failure = None;
        while let Some(e) = rx.recv().await {
            match e {
                SessionEvent::Turn { turn } => turns.push(turn),
                SessionEvent::Error { code: ErrorCode::Conflict, .. } if turns.is_empty() => {
                    failure = Some(SessionError::Ended)
                }
                _ => {}
            }
        }
        if let Some(f) = failure {
            return Err(f);
        }
        let reply = turns
            .iter()
            .rev()
            .find(|t| t.role == switchboard_core::session::TurnRole::Agent)
            .cloned()
            .ok_or(SessionError::Ended)?;
        Ok(TurnOutcome { session_id: id, reply, turns })
    }

    /// Evaluates the system prompt once in the background, so the first
    /// caller does not wait for it: an engine that keeps its KV cache (the
    /// embedded one) then only reads each turn's new part. About 11 s of
    /// prefill on 2 cores for the demo prompt; a no-op for engines without
    /// such a cache (HTTP APIs) or without a model.
    pub fn warm_up(&self) {
        let model = self.inner.model.get();
        if !model.info().ready || !model.keeps_prompt_cache() {
            return;
        }
        let req = ChatRequest {
            // Most turns are questions answered from facts: their prompt is the one
            // to keep evaluated.
            messages: vec![
                ChatMessage::system(self.inner.rendered().answer_system.clone()),
                ChatMessage::user("Hello"),
            ],
            tools: vec![],
            max_tokens: 1,
            temperature: 0.0,
            timeout: Duration::from_secs(300),
            grammar: None,
        };
        let cancel = self.inner.cancel.clone();
        self.inner.tasks.spawn(async move {
            let started = std::time::Instant::now();
            let drained = async {
                let mut rx = model.chat(req).await?;
                while let Some(event) = rx.recv().await {
                    event?;
                }
                Ok::<_, switchboard_core::llm::LlmError>(())
            };
            tokio::select! {
                // Dropping the stream stops the generation.
                _ = cancel.cancelled() => {}
                done = drained => match done {
                    Ok(()) => tracing::info!(ms = started.elapsed().as_millis() as u64, "system prompt evaluated"),
                    Err(e) => tracing::warn!(error = %e, "warming the language model failed"),
                },
            }
        });
    }

    /// Stops accepting messages and waits for turns in progress.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}
