//! A scripted language model for tests that need the model's *behaviour*
//! pinned (a timeout, a malformed tool call) rather than a real model's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::llm::{
    ChatRequest, FinishReason, LanguageModel, LlmError, LlmEvent, LlmStream, ModelInfo, ToolCall,
};

/// One step of a scripted reply.
#[derive(Debug, Clone)]
pub enum Step {
    Token(&'static str),
    Call(&'static str, &'static str),
    /// Waits this long before the next step (a slow or hung model).
    Stall(Duration),
    /// Ends the stream with this protocol error.
    Fail(&'static str),
}

/// Replies with the scripts given, in order, one script per `chat` call;
/// records every request it received.
#[derive(Clone, Default)]
pub struct ScriptedModel {
    scripts: Arc<Mutex<VecDeque<Vec<Step>>>>,
    pub requests: Arc<Mutex<Vec<ChatRequest>>>,
}

impl ScriptedModel {
    pub fn new(scripts: Vec<Vec<Step>>) -> Self {
        Self { scripts: Arc::new(Mutex::new(scripts.into())), requests: Arc::default() }
    }

    pub fn push(&self, script: Vec<Step>) {
        self.scripts.lock().unwrap().push_back(script);
    }

    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The text of the last user message of request `i`.
    pub fn last_user_message(&self, i: usize) -> String {
        let reqs = self.requests.lock().unwrap();
        reqs[i]
            .messages
            .iter()
            .rev()
            .find(|m| m.role == switchboard_core::llm::Role::User)
            .map(|m| m.content.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl LanguageModel for ScriptedModel {
    fn info(&self) -> ModelInfo {
        ModelInfo { engine: "scripted".into(), model: "test".into(), ready: true, hint: None }
    }

    async fn chat(&self, req: ChatRequest) -> Result<LlmStream, LlmError> {
        let timeout = req.timeout;
        self.requests.lock().unwrap().push(req);
        let script = self.scripts.lock().unwrap().pop_front().unwrap_or_else(|| vec![Step::Token("(no script left)")]);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut n = 0;
            let mut calls = 0;
            for (i, step) in script.into_iter().enumerate() {
                match step {
                    Step::Token(t) => {
                        n += 1;
                        if tx.send(Ok(LlmEvent::Token(t.into()))).await.is_err() {
                            return;
                        }
                    }
                    Step::Call(name, args) => {
                        calls += 1;
                        let call = ToolCall { id: format!("call_{i}"), name: name.into(), arguments: args.into() };
                        if tx.send(Ok(LlmEvent::ToolCall(call))).await.is_err() {
                            return;
                        }
                    }
                    Step::Stall(d) => {
                        // Like a real engine: give up at the request's deadline.
                        if started.elapsed() + d > timeout {
                            tokio::time::sleep(timeout.saturating_sub(started.elapsed())).await;
                            let _ = tx.send(Err(LlmError::Timeout)).await;
                            return;
                        }
                        tokio::time::sleep(d).await;
                    }
                    Step::Fail(why) => {
                        let _ = tx.send(Err(LlmError::Protocol(why.into()))).await;
                        return;
                    }
                }
            }
            let finish = if calls > 0 { FinishReason::ToolCalls } else { FinishReason::Stop };
            let _ = tx.send(Ok(LlmEvent::Done { finish, prompt_tokens: 10, completion_tokens: n })).await;
        });
        Ok(rx)
    }
}

/// The embedded model (the one `make setup` installs), loaded once per test
/// binary and shared, with the turn to use it: tests that run it take turns,
/// since on 2 cores parallel generations only slow each other down.
///
/// `None` when the model file is missing (the test says so and passes), except
/// under CI (`CI` set), where a missing model is a failure: `make test`
/// installs it, so its absence there is a broken setup, not a reason to skip.
pub async fn embedded() -> Option<(Arc<dyn LanguageModel>, tokio::sync::MutexGuard<'static, ()>)> {
    static ENGINE: std::sync::OnceLock<Option<Arc<dyn LanguageModel>>> = std::sync::OnceLock::new();
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    let engine = ENGINE.get_or_init(|| {
        let path = std::env::var_os("SWITCHBOARD_LLM_MODEL_PATH")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(switchboard_llm::default_model_path);
        if !path.is_file() {
            assert!(
                std::env::var_os("CI").is_none(),
                "no model at {} under CI: switchboard models install did not run",
                path.display()
            );
            eprintln!("SKIPPED: no model at {} (run `make setup` or switchboard models install)", path.display());
            return None;
        }
        let engine = switchboard_llm::LlamaEngine::load(path, switchboard_llm::LlamaOptions::default())
            .expect("the model loads");
        Some(Arc::new(engine) as Arc<dyn LanguageModel>)
    });
    engine.clone().map(|e| (e, turn))
}

/// The sentence-embedding model (installed by `make setup`), loaded once per
/// test binary. `None` when it is missing (said, and a failure under CI).
pub fn embedder() -> Option<Arc<dyn switchboard_core::embed::TextEmbedder>> {
    static EMBEDDER: std::sync::OnceLock<Option<Arc<dyn switchboard_core::embed::TextEmbedder>>> =
        std::sync::OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let dir = switchboard_embed::default_model_dir();
            match switchboard_embed::Embedder::load(&dir) {
                Ok(e) => Some(Arc::new(e) as Arc<dyn switchboard_core::embed::TextEmbedder>),
                Err(e) => {
                    assert!(std::env::var_os("CI").is_none(), "no embedding model under CI: {e}");
                    eprintln!("SKIPPED: embedding model not loaded from {}: {e}", dir.display());
                    None
                }
            }
        })
        .clone()
}
