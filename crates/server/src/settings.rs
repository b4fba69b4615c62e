//! Runtime settings: saved in the database, applied to the running services
//! at once, and re-applied at start (saved settings override the start-up
//! configuration).

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::ports::{Store, StoreError};
use switchboard_core::settings::Settings;
use switchboard_core::validate::ValidationError;
use switchboard_core::{Coded, ErrorCode, time};
use switchboard_escalation::{Escalation, WebhookNotifier};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for SettingsError {
    fn code(&self) -> ErrorCode {
        match self {
            SettingsError::Invalid(_) => ErrorCode::ValidationFailed,
            SettingsError::Store(_) => ErrorCode::Internal,
        }
    }
}

#[derive(Clone)]
pub struct SettingsService {
    store: Arc<dyn Store>,
    escalation: Escalation,
    webhook: Arc<WebhookNotifier>,
}

impl SettingsService {
    pub fn new(store: Arc<dyn Store>, escalation: Escalation, webhook: Arc<WebhookNotifier>) -> Self {
        Self { store, escalation, webhook }
    }

    /// The settings in force.
    pub fn current(&self) -> Settings {
        Settings {
            request_timeout_secs: self.escalation.request_timeout().as_secs(),
            webhook_url: self.webhook.url().map(|u| u.to_string()),
        }
    }

    /// Validates, saves, then applies.
    pub async fn update(&self, input: Settings) -> Result<Settings, SettingsError> {
        let valid = input.validate()?;
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
    }
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
