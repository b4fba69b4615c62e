//! The App: every service built once, every background task owned.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use switchboard_core::events::EventBus;
use switchboard_core::notify::Notifier;
use switchboard_core::ports::{IndexError, KnowledgeIndex, Store};
use switchboard_escalation::{Escalation, EscalationConfig, EventStreamNotifier, Outbox, WebhookNotifier};
use switchboard_knowledge::{KnowledgeBase, KnowledgeError, TantivyIndex};
use switchboard_store::{OpenError, SqliteStore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::http::AppState;
use crate::settings::SettingsService;

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
    #[error("demo data: {0}")]
    Demo(String),
    #[error("io: {0}")]
    Io(std::io::Error),
}

/// The running application, shared by `serve` and the desktop shell.
pub struct App {
    state: AppState,
    store: Arc<SqliteStore>,
    index: Arc<TantivyIndex>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl App {
    /// Opens storage and index (rebuilding the index if needed), seeds the
    /// demo if asked, and starts the deadline sweeper and the outbox worker.
    pub async fn start(config: Config) -> Result<App, StartError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir { path: dir.display().to_string(), source })?;
        let token = match &config.api_token {
            Some(t) => t.clone(),
            None => load_or_create_token(dir)?,
        };

        let store = Arc::new(SqliteStore::open(&dir.join("switchboard.sqlite")).await?);
        let opened = TantivyIndex::open(&dir.join("index"))?;
        let index = Arc::new(opened.index);
        let events = EventBus::default();
        let store_port: Arc<dyn Store> = store.clone();
        let index_port: Arc<dyn KnowledgeIndex> = index.clone();

        let knowledge = KnowledgeBase::new(store_port.clone(), index_port.clone(), events.clone());
        knowledge.reconcile(opened.recreated).await?;

        // The webhook sink always exists; it is enabled while it has a URL.
        let webhook = Arc::new(WebhookNotifier::new(config.webhook_url.clone(), config.outbox.delivery_timeout)?);
        let sinks: Vec<Arc<dyn Notifier>> = vec![Arc::new(EventStreamNotifier::new(events.clone())), webhook.clone()];
        let outbox = Outbox::new(store_port.clone(), sinks, config.outbox.clone());
        let escalation = Escalation::new(
            store_port.clone(),
            index_port,
            events.clone(),
            EscalationConfig { request_timeout: config.request_timeout },
            &outbox,
        );
        let settings = SettingsService::new(store_port, escalation.clone(), webhook);
        settings.apply_saved().await?;

        if config.demo {
            crate::demo::seed(&knowledge, &escalation).await?;
        }

        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(escalation.clone().run_sweeper(cancel.clone()));
        tasks.spawn(outbox.run(cancel.clone()));
        tasks.close();

        let state = AppState {
            escalation,
            knowledge,
            settings,
            events,
            token: Arc::from(token),
            cancel: cancel.clone(),
            ui_dir: config.ui_dir.clone(),
            body_limit: config.body_limit,
        };
        Ok(App { state, store, index, tasks, cancel })
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

    /// Stops background tasks, waits for them, then closes index and database.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tasks.wait().await;
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
