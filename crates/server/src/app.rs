//! The App: every service built once, every background task owned.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use switchboard_core::business::BusinessStore;
use switchboard_core::crawl::CrawlStore;
use switchboard_core::events::EventBus;
use switchboard_core::notify::Notifier;
use switchboard_core::ports::{IndexError, KnowledgeIndex, Store};
use switchboard_core::session::SessionStore;
use switchboard_crawl::Jobs;
use switchboard_escalation::{Escalation, EscalationConfig, EventStreamNotifier, Outbox, WebhookNotifier};
use switchboard_knowledge::{HybridIndex, KnowledgeBase, KnowledgeError, TantivyIndex};
use switchboard_session::{AgentConfig, ModelSlot, Prompts, SessionHub, SessionRelay, Sessions};
use switchboard_store::{OpenError, SqliteStore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, EmbedderChoice};
use crate::http::AppState;
use crate::settings::{SettingsError, SettingsService};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error("search index: {0}")]
    Index(#[from] IndexError),
    #[error("knowledge base: {0}")]
    Knowledge(#[from] KnowledgeError),
    #[error("webhook client: {0}")]
    Webhook(#[from] reqwest::Error),
    #[error("settings: {0}")]
    Settings(#[from] crate::settings::SettingsError),
    #[error("LiveKit: {0}")]
    LiveKit(#[from] switchboard_livekit::LiveKitError),
    #[error("demo data: {0}")]
    Demo(String),
    #[error("agent: {0}")]
    Agent(String),
    #[error("crawl jobs: {0}")]
    Crawl(String),
    #[error("io: {0}")]
    Io(std::io::Error),
}

/// The running application, shared by `serve` and the desktop shell.
pub struct App {
    state: AppState,
    store: Arc<SqliteStore>,
    index: Arc<TantivyIndex>,
    sessions: Sessions,
    crawl: Jobs,
    demo: bool,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl App {
    /// Opens storage and index (rebuilding the index if needed), seeds the
    /// demo if asked, and starts the deadline sweeper and the outbox worker.
    pub async fn start(config: Config) -> Result<App, StartError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .and_then(|()| private_dir(dir))
            .map_err(|source| StartError::DataDir { path: dir.display().to_string(), source })?;
        let token = match &config.api_token {
            Some(t) => t.clone(),
            None => load_or_create_token(dir)?,
        };

        // The root of the cancellation tree: crawl jobs and sessions hold
        // children of it, so a crawl, a call and a turn stop with the app.
        let cancel = CancellationToken::new();
        let store = Arc::new(SqliteStore::open(&dir.join("switchboard.sqlite")).await?);
        let opened = TantivyIndex::open(&dir.join("index"))?;
        let index = Arc::new(opened.index);
        let events = EventBus::default();
        let store_port: Arc<dyn Store> = store.clone();
        let hybrid = match load_embedder(&config.embedder).await {
            Ok(Some(e)) => HybridIndex::hybrid(index.clone(), e, store.clone()).await?,
            Ok(None) => HybridIndex::text_only(index.clone(), Some("embeddings are turned off".into())),
            Err(problem) => {
                tracing::warn!(%problem, "search runs on BM25 alone");
                HybridIndex::text_only(index.clone(), Some(problem))
            }
        };
        let index_port: Arc<dyn KnowledgeIndex> = Arc::new(hybrid);

        let knowledge = KnowledgeBase::new(store_port.clone(), index_port.clone(), events.clone());
        knowledge.reconcile(opened.recreated).await?;

        // The webhook sink always exists; it is enabled while it has a URL.
        let webhook = Arc::new(WebhookNotifier::new(config.webhook_url.clone(), config.outbox.delivery_timeout)?);
        // Answers reach a caller still in their session there; the webhook
        // (SMS) is the follow-up once they have left.
        let prompts = match &config.prompts_dir {
            Some(dir) => {
                Prompts::load(dir).map_err(|e| StartError::DataDir { path: dir.display().to_string(), source: e })?
            }
            None => Prompts::embedded(),
        };
        let hub = SessionHub::default();
        let session_store: Arc<dyn SessionStore> = store.clone();
        let relay = SessionRelay::new(
            session_store.clone(),
            hub.clone(),
            events.clone(),
            Some(webhook.clone()),
            prompts.clone(),
        );
        let sinks: Vec<Arc<dyn Notifier>> =
            vec![Arc::new(EventStreamNotifier::new(events.clone())), webhook.clone(), Arc::new(relay)];
        let outbox = Outbox::new(store_port.clone(), sinks, config.outbox.clone());
        let escalation = Escalation::new(
            store_port.clone(),
            index_port.clone(),
            events.clone(),
            EscalationConfig { request_timeout: config.request_timeout },
            &outbox,
        );
        // A model chosen in the settings screen wins over the start-up one.
        let mut llm_cfg = match store_port.load_model_settings().await.map_err(SettingsError::from)? {
            Some(saved) => crate::settings::llm_config(&config.llm, &saved),
            None => config.llm.clone(),
        };
        // The evaluated system prompt is kept on disk, so a restart answers
        // at once instead of re-reading it (about 20 s on 2 cores).
        if llm_cfg.state_dir.is_none() {
            llm_cfg.state_dir = Some(dir.join("llm-cache"));
        }
        let model = match &config.model_override {
            Some(m) => m.clone(),
            // Loading maps the model file and warms it up: not on the runtime.
            None => {
                let llm = llm_cfg.clone();
                tokio::task::spawn_blocking(move || switchboard_llm::engine_from_config(&llm))
                    .await
                    .map_err(|e| StartError::Agent(format!("language model start-up panicked: {e}")))?
            }
        };
        let info = model.info();
        if info.ready {
            tracing::info!(engine = %info.engine, model = %info.model, "language model ready");
        } else {
            tracing::warn!(
                hint = info.hint.as_deref().unwrap_or(""),
                "no language model: learned answers and escalation still work"
            );
        }
        let model_slot = ModelSlot::new(model);
        // Crawl jobs write pages and passages to the store and the index;
        // jobs a previous run left queued or running are marked interrupted.
        let crawl_store: Arc<dyn CrawlStore> = store.clone();
        let crawl =
            Jobs::new(crawl_store, index_port.clone(), events.clone(), config.crawl.clone(), cancel.child_token());
        let interrupted = crawl.recover().await.map_err(|e| StartError::Crawl(e.to_string()))?;
        if interrupted > 0 {
            tracing::info!(interrupted, "crawl jobs left running by the previous run are interrupted");
        }
        let settings = SettingsService::new(
            store_port.clone(),
            escalation.clone(),
            webhook,
            model_slot.clone(),
            crawl.clone(),
            llm_cfg,
        );
        settings.apply_saved().await?;
        let speech_choice = crate::settings::SpeechChoice::new(
            config.cloud.clone(),
            switchboard_cloud_voice::select::CloudKeys::from_env(),
        );
        settings.apply_saved_speech(&speech_choice).await?;
        // The demo business's tools (bookings, orders, returns) work on the
        // tables `--demo` seeds; without the demo there is no such business.
        let business_tools = if config.demo {
            let business: Arc<dyn BusinessStore> = store.clone();
            switchboard_business::demo_tools(business, switchboard_business::system_clock())
        } else {
            Vec::new()
        };
        // The business the agent speaks for: saved from the settings screen,
        // or the demo business's on a first `--demo` start.
        let profile = match store_port.load_profile().await.map_err(SettingsError::from)? {
            Some(p) => p,
            None if config.demo => {
                let p = crate::demo::profile().map_err(|e| StartError::Demo(e.to_string()))?;
                store_port.save_profile(&p, switchboard_core::time::now()).await.map_err(SettingsError::from)?;
                p
            }
            None => Default::default(),
        };
        let agent = AgentConfig {
            policy: config.grounding.clone(),
            llm_timeout: config.llm_timeout,
            idle_timeout: config.session_idle_timeout,
            ..AgentConfig::default()
        };
        let sessions = Sessions::new(
            session_store,
            index_port,
            Arc::new(escalation.clone()),
            model_slot.clone(),
            business_tools,
            prompts,
            &profile,
            agent,
            hub,
            events.clone(),
            cancel.child_token(),
        )
        .map_err(|e| StartError::Agent(e.to_string()))?;
        // The first caller should not wait for the system prompt's prefill.
        sessions.warm_up();
        let orphans = sessions.end_orphans().await.map_err(|e| StartError::Agent(format!("sessions: {e}")))?;
        if orphans > 0 {
            tracing::info!(orphans, "ended sessions left open by the previous run");
        }

        if config.demo {
            crate::demo::seed(&knowledge, &escalation, store.as_ref()).await?;
        }

        let tasks = TaskTracker::new();
        tasks.spawn(escalation.clone().run_sweeper(cancel.clone()));
        tasks.spawn(outbox.run(cancel.clone()));
        tasks.spawn(sessions.clone().run_idle_reaper(cancel.clone()));
        tasks.close();

        let livekit = switchboard_livekit::LiveKit::new(config.livekit.clone())?;
        livekit.set_from_environment(switchboard_livekit::LiveKitConfig::from_env().is_configured());
        settings.apply_saved_livekit(&livekit).await?;
        let state = AppState {
            escalation,
            knowledge,
            sessions: sessions.clone(),
            crawl: crawl.clone(),
            settings,
            events: events.clone(),
            token: Arc::from(token),
            cancel: cancel.clone(),
            ui_dir: config.ui_dir.clone(),
            body_limit: config.body_limit,
            demo_site: config.demo,
            speech: config.speech_override.clone().unwrap_or_else(|| switchboard_voice::offline_engines(&config.voice)),
            speech_choice,
            call: config.call.clone(),
            calls: tokio_util::task::TaskTracker::new(),
            voice_latency: Default::default(),
            local_call: Default::default(),
            models: crate::http::models::Installer::new(
                config.models_dir.clone().unwrap_or_else(switchboard_models::models_dir),
                cancel.child_token(),
            ),
            livekit: livekit.clone(),
            rooms: switchboard_livekit::agent::RoomAgents::new(
                livekit,
                sessions.clone(),
                events.clone(),
                config.livekit_library.clone().unwrap_or_else(|| {
                    config
                        .models_dir
                        .clone()
                        .unwrap_or_else(switchboard_models::models_dir)
                        .join(switchboard_models::catalog::paths::LIVEKIT_FFI)
                }),
                Default::default(),
                cancel.child_token(),
            ),
        };
        Ok(App { state, store, index, sessions, crawl, demo: config.demo, tasks, cancel })
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    pub fn api_token(&self) -> &str {
        &self.state.token
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// With `--demo`: onboards the demo website this server serves at
    /// `/demo-site/` on `addr`, once (when no crawl job exists yet). Only the
    /// server's own address is allowed, not private addresses in general.
    pub async fn onboard_demo_site(&self, addr: std::net::SocketAddr) {
        if !self.demo {
            return;
        }
        match self.crawl.list().await {
            Ok(jobs) if jobs.is_empty() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list crawl jobs; the demo site is not onboarded");
                return;
            }
        }
        let ip = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
        let site = std::net::SocketAddr::new(ip, addr.port());
        let input = switchboard_core::crawl::OnboardInput {
            url: format!("http://{site}{}", crate::http::DEMO_SITE_PATH),
            max_pages: Some(50),
            max_depth: Some(3),
            include: Some(vec![format!("{}**", crate::http::DEMO_SITE_PATH)]),
            exclude: None,
        };
        match self.crawl.start_allowing(&input, vec![ip]).await {
            Ok(job) => tracing::info!(job = %job.id, url = %job.url, "onboarding the demo website"),
            Err(e) => tracing::warn!(error = %e, "cannot onboard the demo website"),
        }
    }

    /// Stops background tasks, waits for them, then closes index and database.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        // Calls see the cancel, stop their audio and store what was heard.
        if let Some(c) = self.state.local_call.lock().await.take() {
            c.hang_up.cancel();
        }
        self.state.calls.close();
        self.state.calls.wait().await;
        // The agent leaves its rooms; their calls store what was heard.
        self.state.rooms.shutdown().await;
        self.state.models.tasks.close();
        self.state.models.tasks.wait().await;
        // Turns in progress finish (and are stored) before storage closes.
        self.sessions.shutdown().await;
        // Running crawl jobs stop (stored `interrupted`) before the index closes.
        self.crawl.shutdown().await;
        self.tasks.wait().await;
        // The model's own threads stop decoding before the process exits.
        self.sessions.model().get().quiesce().await;
        let index = self.index.clone();
        // Joining the writer thread waits for its last commit: not on the runtime.
        let _ = tokio::task::spawn_blocking(move || index.close()).await;
        self.store.close().await;
    }
}

/// The per-install API token: created once (0600) in the data directory.
fn load_or_create_token(dir: &Path) -> Result<String, StartError> {
    let path = dir.join("api-token");
    let io = |source| StartError::DataDir { path: path.display().to_string(), source };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(io)?;
    f.write_all(token.as_bytes()).map_err(io)?;
    Ok(token)
}

/// The sentence-embedding model, loaded off the runtime. `Err` says what is
/// wrong and what to do, for `/api/agent` and the UI.
async fn load_embedder(
    choice: &EmbedderChoice,
) -> Result<Option<Arc<dyn switchboard_core::embed::TextEmbedder>>, String> {
    match choice {
        EmbedderChoice::Off => Ok(None),
        EmbedderChoice::Given(e) => Ok(Some(e.clone())),
        EmbedderChoice::Dir(dir) => {
            let dir = dir.clone().unwrap_or_else(switchboard_embed::default_model_dir);
            let loaded = tokio::task::spawn_blocking(move || switchboard_embed::Embedder::load(&dir))
                .await
                .map_err(|e| format!("loading the embedding model panicked: {e}"))?;
            match loaded {
                Ok(e) => Ok(Some(Arc::new(e))),
                Err(e) => Err(format!("{e} ({}); {}", e.code(), switchboard_embed::INSTALL_HINT)),
            }
        }
    }
}

/// The data directory holds the database, the API token and saved keys:
/// readable by its owner only (0700).
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
