//! Runtime settings: saved in the database, applied to the running services
//! at once, and re-applied at start (saved settings override the start-up
//! configuration).

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::llm::ModelInfo;
use switchboard_core::ports::{Store, StoreError};
use switchboard_core::profile::BusinessProfile;
use switchboard_core::settings::{ModelSettings, Settings};
use switchboard_core::validate::ValidationError;
use switchboard_core::{Coded, ErrorCode, time};
use switchboard_escalation::{Escalation, WebhookNotifier};
use switchboard_llm::{EngineKind, LlmConfig};
use switchboard_session::{ModelSlot, Sessions};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("language model start-up failed: {0}")]
    Engine(String),
    #[error("prompt templates: {0}")]
    Prompts(String),
    #[error("{0}")]
    Conflict(String),
}

impl Coded for SettingsError {
    fn code(&self) -> ErrorCode {
        match self {
            SettingsError::Invalid(_) => ErrorCode::ValidationFailed,
            SettingsError::Conflict(_) => ErrorCode::Conflict,
            SettingsError::Store(_) | SettingsError::Engine(_) | SettingsError::Prompts(_) => ErrorCode::Internal,
        }
    }
}

#[derive(Clone)]
pub struct SettingsService {
    store: Arc<dyn Store>,
    escalation: Escalation,
    webhook: Arc<WebhookNotifier>,
    model: ModelSlot,
    crawl: switchboard_crawl::Jobs,
    /// The language-model choice in force (start-up configuration, or what
    /// was saved since), key included.
    llm: Arc<std::sync::Mutex<LlmConfig>>,
}

/// The language-model settings as the API shows them: the choice (never the
/// key), whether a key is set, and the engine's state.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModelView {
    pub settings: ModelSettings,
    pub api_key_set: bool,
    pub status: ModelInfo,
}

impl SettingsService {
    pub fn new(
        store: Arc<dyn Store>,
        escalation: Escalation,
        webhook: Arc<WebhookNotifier>,
        model: ModelSlot,
        crawl: switchboard_crawl::Jobs,
        llm: LlmConfig,
    ) -> Self {
        Self { store, escalation, webhook, model, crawl, llm: Arc::new(std::sync::Mutex::new(llm)) }
    }

    fn llm(&self) -> LlmConfig {
        self.llm.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn model_view(&self) -> ModelView {
        let c = self.llm();
        let engine = match c.engine {
            EngineKind::Auto => "auto",
            EngineKind::Llama => "llama",
            EngineKind::OpenAi => "openai",
            EngineKind::None => "none",
        };
        ModelView {
            settings: ModelSettings {
                engine: engine.into(),
                base_url: c.base_url.clone(),
                model: c.model.clone(),
                api_key: None,
            },
            api_key_set: c.api_key.is_some(),
            status: self.model.info(),
        }
    }

    /// Validates, starts the chosen engine (off the runtime: loading a model
    /// maps and warms it), swaps it in for the next turns, and saves.
    pub async fn update_model(&self, input: ModelSettings) -> Result<ModelView, SettingsError> {
        let mut valid = input.validate()?;
        let current = self.llm();
        // No key given: keep the one in force, but only for the server it
        // was given for. A key must never follow a new base URL to a server
        // its owner did not send it to.
        if valid.api_key.is_none() && same_server(current.base_url.as_deref(), valid.base_url.as_deref()) {
            valid.api_key = current.api_key.clone();
        }
        let cfg = llm_config(&current, &valid);
        let built = cfg.clone();
        let engine = tokio::task::spawn_blocking(move || switchboard_llm::engine_from_config(&built))
            .await
            .map_err(|e| SettingsError::Engine(e.to_string()))?;
        // A key from the environment stays there: the database keeps only
        // keys typed into the settings screen.
        let mut saved = valid.clone();
        if saved.api_key.is_some() && saved.api_key == crate::config::env_api_key() {
            saved.api_key = None;
        }
        self.store.save_model_settings(&saved, time::now()).await?;
        self.model.set(engine);
        *self.llm.lock().unwrap_or_else(|p| p.into_inner()) = cfg;
        Ok(self.model_view())
    }

    /// The saved business profile, or an empty one (the first-run screen
    /// asks for it).
    pub async fn profile(&self) -> Result<BusinessProfile, SettingsError> {
        Ok(self.store.load_profile().await?.unwrap_or_default())
    }

    /// Validates, fills the agent's prompts from it (refused if the prompt
    /// templates cannot render it), then saves.
    pub async fn update_profile(
        &self,
        sessions: &Sessions,
        input: BusinessProfile,
    ) -> Result<BusinessProfile, SettingsError> {
        let valid = input.validate()?;
        sessions.set_profile(&valid).map_err(|e| SettingsError::Prompts(e.to_string()))?;
        self.store.save_profile(&valid, time::now()).await?;
        Ok(valid)
    }

    /// The settings in force.
    pub fn current(&self) -> Settings {
        Settings {
            request_timeout_secs: self.escalation.request_timeout().as_secs(),
            // Credentials in the URL are write-only: shown masked, and a masked
            // URL sent back keeps them (see `update`).
            webhook_url: self.webhook.url().map(|u| crate::config::without_credentials(&u)),
            crawl_allow_private: self.crawl.allow_private(),
            review_learned: self.escalation.review_learned(),
        }
    }

    /// Validates, saves, then applies.
    pub async fn update(&self, input: Settings) -> Result<Settings, SettingsError> {
        let mut valid = input.validate()?;
        valid.webhook_url = unmask(valid.webhook_url.take(), self.webhook.url());
        let url = parse_url(valid.webhook_url.as_deref())?;
        self.store.save_settings(&valid, time::now()).await?;
        self.apply(&valid, url);
        Ok(self.current())
    }

    /// Applies what was saved before, if anything.
    pub async fn apply_saved(&self) -> Result<(), SettingsError> {
        if let Some(saved) = self.store.load_settings().await? {
            let valid = saved.validate()?;
            let url = parse_url(valid.webhook_url.as_deref())?;
            self.apply(&valid, url);
        }
        Ok(())
    }

    fn apply(&self, s: &Settings, url: Option<reqwest::Url>) {
        self.escalation.set_request_timeout(Duration::from_secs(s.request_timeout_secs));
        self.webhook.set_url(url);
        self.crawl.set_allow_private(s.crawl_allow_private);
        self.escalation.set_review_learned(s.review_learned);
    }
}

/// The LiveKit settings as the API shows them: never the secret.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LiveKitView {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub api_secret_set: bool,
    /// Set by `LIVEKIT_*` in the environment: change it there.
    pub from_environment: bool,
    pub configured: bool,
}

pub fn livekit_view(lk: &switchboard_livekit::LiveKit) -> LiveKitView {
    let c = lk.config();
    LiveKitView {
        configured: c.is_configured(),
        url: c.url,
        api_key: c.api_key,
        api_secret_set: c.api_secret.is_some(),
        from_environment: lk.from_environment(),
    }
}

impl SettingsService {
    /// Applies a LiveKit server at once (the next token, room or join uses
    /// it) and saves it. The secret stays only for the same URL and key.
    pub async fn update_livekit(
        &self,
        lk: &switchboard_livekit::LiveKit,
        input: switchboard_core::settings::LiveKitSettings,
    ) -> Result<LiveKitView, SettingsError> {
        if lk.from_environment() {
            return Err(SettingsError::Conflict(
                "LiveKit is set by the environment (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET); change it there"
                    .into(),
            ));
        }
        let clean = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let (url, api_key) = (clean(input.url), clean(input.api_key));
        if api_key.as_ref().is_some_and(|k| k.chars().count() > 200) {
            return Err(ValidationError::new("api_key", "must be at most 200 characters").into());
        }
        if input.api_secret.as_ref().is_some_and(|k| k.chars().count() > 500 || k.chars().any(char::is_control)) {
            return Err(ValidationError::new("api_secret", "must be at most 500 printable characters").into());
        }
        let current = lk.config();
        let api_secret = match input.api_secret {
            Some(s) => clean(Some(s)),
            // Kept only where it was given: never sent to another server or
            // signed for another key.
            None if current.url == url && current.api_key == api_key => current.api_secret,
            None => None,
        };
        let cfg = switchboard_livekit::LiveKitConfig { url, api_key, api_secret };
        cfg.validate().map_err(|e| ValidationError::new("livekit", e.to_string()))?;
        let saved = switchboard_core::settings::LiveKitSettings {
            url: cfg.url.clone(),
            api_key: cfg.api_key.clone(),
            api_secret: cfg.api_secret.clone(),
        };
        self.store.save_livekit_settings(&saved, time::now()).await?;
        lk.set_config(cfg).map_err(|e| ValidationError::new("livekit", e.to_string()))?;
        Ok(livekit_view(lk))
    }

    /// At start: saved LiveKit settings win over the config file, but not
    /// over the environment.
    pub async fn apply_saved_livekit(&self, lk: &switchboard_livekit::LiveKit) -> Result<(), SettingsError> {
        if lk.from_environment() {
            return Ok(());
        }
        if let Some(saved) = self.store.load_livekit_settings().await? {
            let cfg = switchboard_livekit::LiveKitConfig {
                url: saved.url,
                api_key: saved.api_key,
                api_secret: saved.api_secret,
            };
            if let Err(e) = lk.set_config(cfg) {
                tracing::warn!(error = %e, "the saved LiveKit settings are invalid; using the start-up configuration");
            }
        }
        Ok(())
    }
}

/// A webhook URL sent back as `current` showed it (credentials masked) gets
/// the credentials in force again, but only for the same server: masked
/// credentials for another server are dropped, never carried over.
fn unmask(url: Option<String>, current: Option<reqwest::Url>) -> Option<String> {
    let masked = crate::config::MASKED_CREDENTIAL;
    let Some(mut u) = url.as_deref().and_then(|u| reqwest::Url::parse(u.trim()).ok()) else { return url };
    if u.username() != masked && u.password() != Some(masked) {
        return url;
    }
    match current.filter(|c| c.origin() == u.origin()) {
        Some(c) => {
            let _ = u.set_username(c.username());
            let _ = u.set_password(c.password());
        }
        None => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
        }
    }
    Some(u.to_string())
}

/// The same parser as the start-up configuration's, reported as a field error.
fn parse_url(url: Option<&str>) -> Result<Option<reqwest::Url>, ValidationError> {
    url.map(|u| {
        crate::config::parse_webhook(u).map_err(|e| match e {
            crate::config::ConfigError::Webhook { reason, .. } => ValidationError::new("webhook_url", reason),
            other => ValidationError::new("webhook_url", other.to_string()),
        })
    })
    .transpose()
}

/// Both URLs name the same server (scheme, host and port; a trailing slash
/// or path change is the same server). Neither set counts as the same.
fn same_server(a: Option<&str>, b: Option<&str>) -> bool {
    let origin = |u: Option<&str>| {
        u.map(|u| match reqwest::Url::parse(u.trim()) {
            Ok(p) => p.origin().ascii_serialization(),
            Err(_) => u.trim().to_string(),
        })
    };
    origin(a) == origin(b)
}

/// `base` (the start-up configuration) with a saved choice applied. An empty
/// key in the choice removes the key; no key keeps `base`'s (from the
/// environment or the config file) for `base`'s own server only.
pub fn llm_config(base: &LlmConfig, m: &ModelSettings) -> LlmConfig {
    let mut c = base.clone();
    c.engine = m.engine.parse().unwrap_or(EngineKind::Auto);
    c.base_url = m.base_url.clone();
    c.model = m.model.clone();
    c.api_key = match m.api_key.as_deref() {
        Some("") => None,
        Some(k) => Some(k.to_string()),
        None if same_server(base.base_url.as_deref(), m.base_url.as_deref()) => base.api_key.clone(),
        None => None,
    };
    c
}

/// A speech service's key as the API shows it: whether one is in force and
/// where it comes from, never the key.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SpeechKeyView {
    /// `deepgram`, `elevenlabs` or `gemini`.
    pub service: String,
    pub set: bool,
    /// The key in force comes from the environment (`DEEPGRAM_API_KEY`, …).
    pub from_environment: bool,
    /// The environment variable it may come from.
    pub env_var: String,
}

/// The speech engines chosen, as the API shows them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SpeechView {
    pub stt: String,
    pub tts: String,
    pub voice_agent: String,
    pub elevenlabs_voice: String,
    pub keys: Vec<SpeechKeyView>,
}

/// The speech choice: the `[cloud]` section it starts from, the keys the
/// environment gave, the keys typed into the settings screen, and the
/// choice in force that calls read.
#[derive(Clone)]
pub struct SpeechChoice {
    pub selection: switchboard_cloud_voice::select::Selection,
    base: switchboard_cloud_voice::select::CloudConfig,
    env: switchboard_cloud_voice::select::CloudKeys,
    typed: Arc<std::sync::Mutex<switchboard_core::settings::SpeechKeys>>,
}

impl SpeechChoice {
    pub fn new(
        base: switchboard_cloud_voice::select::CloudConfig,
        env: switchboard_cloud_voice::select::CloudKeys,
    ) -> SpeechChoice {
        let selection = switchboard_cloud_voice::select::Selection::new(switchboard_cloud_voice::select::CloudSpeech {
            config: base.clone(),
            keys: env.clone(),
        });
        SpeechChoice { selection, base, env, typed: Default::default() }
    }

    /// The choice `s` would make, with `typed` keys over the environment's.
    fn build(
        &self,
        s: &switchboard_core::settings::SpeechSettings,
        typed: &switchboard_core::settings::SpeechKeys,
    ) -> switchboard_cloud_voice::select::CloudSpeech {
        use switchboard_cloud_voice::select::{AgentChoice, Service, SttChoice, TtsChoice};
        let mut config = self.base.clone();
        config.stt = SttChoice::parse(&s.stt).unwrap_or_default();
        config.tts = TtsChoice::parse(&s.tts).unwrap_or_default();
        config.voice_agent = AgentChoice::parse(&s.voice_agent).unwrap_or_default();
        if let Some(v) = &s.elevenlabs_voice {
            config.elevenlabs_voice = v.clone();
        }
        let mut keys = self.env.clone();
        for service in Service::ALL {
            if let Some(k) = typed.get(service.as_str()).and_then(|k| switchboard_cloud_voice::ApiKey::new(k).ok()) {
                keys.set(service, Some(k));
            }
        }
        switchboard_cloud_voice::select::CloudSpeech { config, keys }
    }

    pub fn view(&self) -> SpeechView {
        use switchboard_cloud_voice::select::Service;
        let c = self.selection.get();
        let typed = self.typed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        SpeechView {
            stt: c.config.stt.as_str().into(),
            tts: c.config.tts.as_str().into(),
            voice_agent: c.config.voice_agent.as_str().into(),
            elevenlabs_voice: c.config.elevenlabs_voice.clone(),
            keys: Service::ALL
                .into_iter()
                .map(|s| SpeechKeyView {
                    service: s.as_str().into(),
                    set: c.keys.get(s).is_some(),
                    from_environment: typed.get(s.as_str()).is_none() && self.env.get(s).is_some(),
                    env_var: s.env_var().into(),
                })
                .collect(),
        }
    }
}

/// Where a service's failure at selection time belongs in the form.
fn speech_field(e: &switchboard_cloud_voice::CloudError) -> &'static str {
    use switchboard_cloud_voice::CloudError;
    match e {
        CloudError::BadKey { .. } | CloudError::Config { .. } => "api_key",
        _ => "speech",
    }
}

impl SettingsService {
    /// Checks the chosen services with their keys (a refused key or an
    /// unreachable service is refused here, not in the first call), then
    /// saves and applies: the next call runs on it.
    pub async fn update_speech(
        &self,
        choice: &SpeechChoice,
        input: switchboard_core::settings::SpeechSettings,
    ) -> Result<SpeechView, SettingsError> {
        let valid = input.validate()?;
        let mut typed = choice.typed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (service, key) in valid.api_key.entries() {
            typed.set(service, (!key.is_empty()).then(|| key.to_string()));
        }
        let candidate = choice.build(&valid, &typed);
        if let Err(e) = candidate.check().await {
            tracing::warn!(code = e.code(), error = %e, "the chosen speech service failed its check");
            return Err(ValidationError::new(speech_field(&e), e.to_string()).into());
        }
        let saved = switchboard_core::settings::SpeechSettings { api_key: typed.clone(), ..valid };
        self.store.save_speech_settings(&saved, time::now()).await?;
        *choice.typed.lock().unwrap_or_else(|p| p.into_inner()) = typed;
        choice.selection.set(candidate);
        Ok(choice.view())
    }

    /// At start: the saved choice wins over the config file. It is not
    /// checked here (a laptop may start offline); a service that fails in
    /// a call falls back to the offline engines.
    pub async fn apply_saved_speech(&self, choice: &SpeechChoice) -> Result<(), SettingsError> {
        if let Some(saved) = self.store.load_speech_settings().await? {
            match saved.validate() {
                Ok(valid) => {
                    choice.selection.set(choice.build(&valid, &valid.api_key));
                    *choice.typed.lock().unwrap_or_else(|p| p.into_inner()) = valid.api_key;
                }
                Err(e) => tracing::warn!(error = %e, "the saved speech settings are invalid; using the configuration"),
            }
        }
        Ok(())
    }
}
