//! Typed configuration. Precedence: command-line flag, then `SWITCHBOARD_*`
//! environment variable (both through clap), then the optional TOML config
//! file, then the defaults here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use switchboard_escalation::OutboxConfig;

/// Everything `App::start` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Seed the demo business on start (idempotent).
    pub demo: bool,
    /// How long a help request waits for a supervisor.
    pub request_timeout: Duration,
    /// Where customer notifications are POSTed (an SMS gateway, say).
    pub webhook_url: Option<reqwest::Url>,
    /// Overrides the per-install token stored in the data directory.
    pub api_token: Option<String>,
    /// The built web UI, served at `/` when present.
    pub ui_dir: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    pub outbox: OutboxConfig,
}

impl Config {
    /// Defaults for a data directory: the values `serve` uses with no flags.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            demo: false,
            request_timeout: Duration::from_secs(15 * 60),
            webhook_url: None,
            api_token: None,
            ui_dir: None,
            body_limit: 64 * 1024,
            outbox: OutboxConfig::default(),
        }
    }
}

/// The default data directory: `$XDG_DATA_HOME/switchboard` or equivalent.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("switchboard")
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8787";

/// The config file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub demo: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    pub webhook_url: Option<String>,
    pub ui_dir: Option<PathBuf>,
    pub body_limit: Option<usize>,
    #[serde(default)]
    pub outbox: FileOutbox,
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
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.display().to_string(), error })?;
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
    fn webhook_must_be_http() {
        assert!(parse_webhook("https://sms.example/send").is_ok());
        assert!(parse_webhook("ftp://x").is_err());
        assert!(parse_webhook("not a url").is_err());
    }
}
