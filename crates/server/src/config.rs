//! Typed configuration. Precedence: command-line flag, then `SWITCHBOARD_*`
//! environment variable (both through clap), then the optional TOML config
//! file, then the defaults here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use switchboard_escalation::OutboxConfig;
use switchboard_llm::{EngineKind, LlmConfig};
use switchboard_session::GroundingPolicy;

/// Everything `App::start` needs.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Seed the demo business on start (idempotent).
    pub demo: bool,
    /// How long a help request waits for a supervisor.
    pub request_timeout: Duration,
    /// A session with no message from its caller for this long ends.
    pub session_idle_timeout: Duration,
    /// Where customer notifications are POSTed (an SMS gateway, say).
    pub webhook_url: Option<reqwest::Url>,
    /// Overrides the per-install token stored in the data directory.
    pub api_token: Option<String>,
    /// The built web UI, served at `/` when present.
    pub ui_dir: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    pub outbox: OutboxConfig,
    /// Which language model the agent runs on.
    pub llm: LlmConfig,
    /// A model to use instead of building one from `llm` (tests plug scripted
    /// models in here).
    pub model_override: Option<std::sync::Arc<dyn switchboard_core::llm::LanguageModel>>,
    /// Read the agent's prompts from here instead of the built-in copies.
    pub prompts_dir: Option<PathBuf>,
    /// The sentence-embedding model for hybrid search.
    pub embedder: EmbedderChoice,
    pub grounding: GroundingPolicy,
    /// Longest one model call may take before the agent falls back.
    pub llm_timeout: Duration,
    /// The crawler settings every crawl job starts from; `allow_private`
    /// (`--crawl-allow-private`) lets jobs fetch loopback and private
    /// addresses. A saved runtime setting wins over it.
    pub crawl: switchboard_crawl::CrawlConfig,
    /// `[voice]`: the offline speech engines.
    pub voice: switchboard_voice::VoiceConfig,
    /// `[call]`: voice activity, end of turn, barge-in and pacing.
    pub call: switchboard_call::CallConfig,
    /// `[cloud]`: cloud speech engines per role (offline by default), and
    /// the services' URLs. Keys come from the environment or the settings
    /// screen.
    pub cloud: switchboard_cloud_voice::select::CloudConfig,
    /// Speech engines to use instead of the configured ones (tests).
    pub speech_override: Option<switchboard_call::CallEngines>,
    /// Where the Install button puts models (tests); default
    /// `switchboard_models::models_dir()`.
    pub models_dir: Option<PathBuf>,
    /// `[livekit]` and `LIVEKIT_*`: the LiveKit server for rooms and tokens.
    pub livekit: switchboard_livekit::LiveKitConfig,
    /// `[livekit] ffi_library`: the media library the agent joins rooms
    /// with (default: where `scripts/livekit-ffi.sh` installs it).
    pub livekit_library: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("demo", &self.demo)
            .field("request_timeout", &self.request_timeout)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("webhook_url", &self.webhook_url.as_ref().map(without_credentials))
            .field("ui_dir", &self.ui_dir)
            .field("llm", &self.llm)
            .field("prompts_dir", &self.prompts_dir)
            .field("grounding", &self.grounding)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults for a data directory: the values `serve` uses with no flags.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            demo: false,
            request_timeout: Duration::from_secs(15 * 60),
            session_idle_timeout: Duration::from_secs(15 * 60),
            webhook_url: None,
            api_token: None,
            ui_dir: None,
            body_limit: 64 * 1024,
            outbox: OutboxConfig::default(),
            llm: LlmConfig::default(),
            model_override: None,
            prompts_dir: None,
            embedder: EmbedderChoice::Dir(None),
            grounding: GroundingPolicy::default(),
            llm_timeout: Duration::from_secs(60),
            crawl: switchboard_crawl::CrawlConfig::default(),
            voice: Default::default(),
            call: Default::default(),
            cloud: Default::default(),
            speech_override: None,
            models_dir: None,
            livekit: Default::default(),
            livekit_library: None,
        }
    }
}

/// Where hybrid search gets its sentence embeddings.
#[derive(Clone)]
pub enum EmbedderChoice {
    /// Load all-MiniLM-L6-v2 from this folder (`None`: where the setup
    /// script installs it). Missing or broken: search runs on BM25 alone.
    Dir(Option<PathBuf>),
    /// BM25 alone.
    Off,
    /// A model already loaded (tests share one).
    Given(std::sync::Arc<dyn switchboard_core::embed::TextEmbedder>),
}

/// The default data directory: `$XDG_DATA_HOME/switchboard` or equivalent.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("switchboard")
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8787";

/// The start-up options of `switchboard serve` and `switchboard-desktop`:
/// one definition, so both read the same flags, `SWITCHBOARD_*` variables
/// and config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787]
    #[arg(long, env = "SWITCHBOARD_BIND")]
    pub bind: Option<SocketAddr>,
    /// Where the database, index and API token live [default: the user's data dir]
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seed the fictional demo business (idempotent)
    #[arg(long, env = "SWITCHBOARD_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,
    /// A TOML config file; flags and environment override it
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// How long a help request waits before timing out, e.g. 15m, 90s
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT", value_parser = humantime::parse_duration)]
    pub request_timeout: Option<Duration>,
    /// How long a session may go without a message from its caller before
    /// it ends (its answers then go out as follow-ups), e.g. 15m
    #[arg(long, env = "SWITCHBOARD_SESSION_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub session_idle_timeout: Option<Duration>,
    /// POST customer notifications (answers, apologies) to this URL
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// The built web UI to serve at /
    #[arg(long, env = "SWITCHBOARD_UI_DIR")]
    pub ui_dir: Option<PathBuf>,
    /// Language model engine: auto (embedded model if installed), llama, openai or none.
    #[arg(long, env = "SWITCHBOARD_LLM_ENGINE")]
    pub llm_engine: Option<String>,
    /// The GGUF model file for the embedded engine.
    #[arg(long, env = "SWITCHBOARD_LLM_MODEL_PATH")]
    pub llm_model_path: Option<PathBuf>,
    /// API root of an OpenAI-compatible server, e.g. http://localhost:11434/v1.
    #[arg(long, env = "SWITCHBOARD_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// Model name for the OpenAI-compatible engine.
    #[arg(long, env = "SWITCHBOARD_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Folder with the agent's prompt files (default: the built-in copies of prompts/).
    #[arg(long, env = "SWITCHBOARD_PROMPTS_DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Folder of the sentence-embedding model (default: where the setup script installs it).
    #[arg(long, env = "SWITCHBOARD_EMBED_MODEL_DIR")]
    pub embed_model_dir: Option<PathBuf>,
    /// Let crawl jobs fetch loopback, private and link-local addresses
    /// (onboarding a site on the local network).
    #[arg(long, env = "SWITCHBOARD_CRAWL_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub crawl_allow_private: bool,
    /// The LiveKit server for rooms and tokens (`ws://` or `wss://`; also
    /// `LIVEKIT_URL`). Its key and secret come only from the environment
    /// (`LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`) or the config file.
    #[arg(long)]
    pub livekit_url: Option<String>,
}

/// Resolved start-up options. `bind` and `config.ui_dir` stay `None` when
/// nobody chose them: the headless server and the desktop shell default
/// them differently.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub bind: Option<SocketAddr>,
    pub config: Config,
}

impl ServeArgs {
    /// Merges flags and environment (already in `self`) over the config file
    /// over the defaults. The API token comes only from the environment
    /// (`SWITCHBOARD_API_TOKEN`): a flag would show it in the process list.
    pub fn resolve(self) -> Result<Resolved, ConfigError> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let mut cfg = Config::new(self.data_dir.or(file.data_dir).unwrap_or_else(default_data_dir));
        cfg.demo = self.demo || file.demo.unwrap_or(false);
        if let Some(t) = self.request_timeout.or(file.request_timeout) {
            if t < Duration::from_secs(1) {
                return Err(ConfigError::Invalid("request timeout must be at least 1s".into()));
            }
            cfg.request_timeout = t;
        }
        if let Some(t) = self.session_idle_timeout.or(file.session_idle_timeout) {
            if t < Duration::from_secs(1) {
                return Err(ConfigError::Invalid("session idle timeout must be at least 1s".into()));
            }
            cfg.session_idle_timeout = t;
        }
        if let Some(u) = self.webhook_url.or(file.webhook_url).filter(|u| !u.trim().is_empty()) {
            cfg.webhook_url = Some(parse_webhook(u.trim())?);
        }
        cfg.api_token =
            std::env::var("SWITCHBOARD_API_TOKEN").ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        cfg.ui_dir = self.ui_dir.or(file.ui_dir);
        if let Some(b) = file.body_limit {
            cfg.body_limit = b;
        }
        if let Some(v) = file.outbox.base_backoff {
            cfg.outbox.base_backoff = v;
        }
        if let Some(v) = file.outbox.max_backoff {
            cfg.outbox.max_backoff = v;
        }
        if let Some(v) = file.outbox.max_attempts {
            cfg.outbox.max_attempts = v.max(1);
        }
        let mut llm = file.llm;
        if let Some(e) = self.llm_engine {
            llm.engine = e.parse::<EngineKind>().map_err(ConfigError::Invalid)?;
        }
        llm.model_path = self.llm_model_path.or(llm.model_path);
        llm.base_url = self.llm_base_url.or(llm.base_url);
        llm.model = self.llm_model.or(llm.model);
        // Keys come from the environment (or the file), never from a flag that
        // would show in `ps`.
        if let Some(k) = env_api_key() {
            llm.api_key = Some(k);
        }
        cfg.llm = llm;
        cfg.prompts_dir = self.prompts_dir.or(file.prompts_dir);
        cfg.embedder = EmbedderChoice::Dir(self.embed_model_dir.or(file.embed_model_dir));
        if let Some(g) = file.grounding {
            g.validate().map_err(|e| ConfigError::Invalid(format!("grounding: {e}")))?;
            cfg.grounding = g;
        }
        if let Some(t) = file.llm_timeout {
            cfg.llm_timeout = t;
        }
        cfg.crawl.allow_private = self.crawl_allow_private || file.crawl_allow_private.unwrap_or(false);
        cfg.voice = file.voice;
        cfg.cloud = file.cloud;
        cfg.call = file.call;
        // The environment wins over the file; the secret is never a flag.
        let from_file = switchboard_livekit::LiveKitConfig {
            url: file.livekit.url,
            api_key: file.livekit.api_key,
            api_secret: file.livekit.api_secret,
        };
        let mut from_env = switchboard_livekit::LiveKitConfig::from_env();
        if let Some(u) = self.livekit_url {
            from_env.url = Some(u);
        }
        cfg.livekit = from_env.or(from_file);
        cfg.livekit_library = file.livekit.ffi_library;
        cfg.livekit.validate().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(Resolved { bind: self.bind.or(file.bind), config: cfg })
    }
}

/// The config file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub demo: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub session_idle_timeout: Option<Duration>,
    pub webhook_url: Option<String>,
    pub ui_dir: Option<PathBuf>,
    pub body_limit: Option<usize>,
    #[serde(default)]
    pub outbox: FileOutbox,
    /// `[llm]`: engine, model_path, base_url, model, api_key, threads.
    #[serde(default)]
    pub llm: LlmConfig,
    #[serde(default, with = "humantime_serde")]
    pub llm_timeout: Option<Duration>,
    pub prompts_dir: Option<PathBuf>,
    /// `[grounding]`: the agent's evidence thresholds.
    pub grounding: Option<GroundingPolicy>,
    /// Let crawl jobs fetch loopback and private addresses.
    pub crawl_allow_private: Option<bool>,
    pub embed_model_dir: Option<PathBuf>,
    #[serde(default)]
    pub voice: switchboard_voice::VoiceConfig,
    #[serde(default)]
    pub call: switchboard_call::CallConfig,
    /// `[livekit]`: url, api_key, api_secret (`LIVEKIT_*` win).
    #[serde(default)]
    pub livekit: FileLiveKit,
    /// `[cloud]`: stt, tts, voice_agent, service URLs and voices.
    #[serde(default)]
    pub cloud: switchboard_cloud_voice::select::CloudConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLiveKit {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub ffi_library: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutbox {
    #[serde(default, with = "humantime_serde")]
    pub base_backoff: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub max_backoff: Option<Duration>,
    pub max_attempts: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The cause is part of the message (and not a `source`), so reports
    // print it once.
    #[error("cannot read config file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("invalid config file {path}: {error}")]
    Parse { path: String, error: toml::de::Error },
    #[error("invalid webhook URL {url:?}: {reason}")]
    Webhook { url: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::Read { path: path.display().to_string(), error })?;
        toml::from_str(&text).map_err(|error| ConfigError::Parse { path: path.display().to_string(), error })
    }
}

/// Parses and checks a webhook URL: http(s) only.
pub fn parse_webhook(url: &str) -> Result<reqwest::Url, ConfigError> {
    let bad = |reason: &str| ConfigError::Webhook { url: url.into(), reason: reason.into() };
    let u = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("only http and https are supported"));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_config_parses_durations_and_rejects_unknown_keys() {
        let f: FileConfig = toml::from_str("request_timeout = \"90s\"\n[outbox]\nmax_attempts = 3\n").unwrap();
        assert_eq!(f.request_timeout, Some(Duration::from_secs(90)));
        assert_eq!(f.outbox.max_attempts, Some(3));
        assert!(toml::from_str::<FileConfig>("request_timeot = \"1s\"").is_err());
    }

    #[test]
    fn resolve_prefers_arguments_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sb.toml");
        std::fs::write(&file, "request_timeout = \"90s\"\nbind = \"127.0.0.1:9001\"\nui_dir = \"/srv/ui\"\n").unwrap();
        let from_file = ServeArgs { config: Some(file.clone()), ..Default::default() }.resolve().unwrap();
        assert_eq!(from_file.config.request_timeout, Duration::from_secs(90));
        assert_eq!(from_file.bind, Some("127.0.0.1:9001".parse().unwrap()));
        assert_eq!(from_file.config.ui_dir, Some(PathBuf::from("/srv/ui")));
        let args =
            ServeArgs { config: Some(file), request_timeout: Some(Duration::from_secs(120)), ..Default::default() };
        assert_eq!(args.resolve().unwrap().config.request_timeout, Duration::from_secs(120));
        let unset = ServeArgs::default().resolve().unwrap();
        assert_eq!((unset.bind, unset.config.ui_dir), (None, None), "left for the caller to default");
        let too_short = ServeArgs { request_timeout: Some(Duration::from_millis(10)), ..Default::default() };
        assert!(matches!(too_short.resolve(), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn webhook_must_be_http() {
        assert!(parse_webhook("https://sms.example/send").is_ok());
        assert!(parse_webhook("ftp://x").is_err());
        assert!(parse_webhook("not a url").is_err());
    }
}

/// A URL as it may be logged: user name and password replaced.
pub fn without_credentials(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    if !u.username().is_empty() {
        let _ = u.set_username(MASKED_CREDENTIAL);
    }
    if u.password().is_some() {
        let _ = u.set_password(Some(MASKED_CREDENTIAL));
    }
    u.to_string()
}

/// What stands for a URL's user name and password wherever they are shown.
pub const MASKED_CREDENTIAL: &str = "redacted";

/// The model's API key from the environment (`SWITCHBOARD_LLM_API_KEY`, else
/// `OPENAI_API_KEY`), trimmed; blank counts as none.
pub fn env_api_key() -> Option<String> {
    ["SWITCHBOARD_LLM_API_KEY", "OPENAI_API_KEY"]
        .iter()
        .find_map(|v| std::env::var(v).ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()))
}
