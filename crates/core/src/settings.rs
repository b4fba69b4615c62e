//! Runtime settings a supervisor can change from the UI. Saved settings
//! override the start-up configuration and apply without a restart.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validate::ValidationError;

pub const MIN_TIMEOUT_SECS: u64 = 10;
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
pub const MAX_URL: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How long a help request waits for a supervisor before it times out.
    pub request_timeout_secs: u64,
    /// Where customer notifications are POSTed (an SMS gateway); none when null.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

impl Settings {
    /// Checks limits and normalises (trimmed URL, empty URL becomes none).
    pub fn validate(mut self) -> Result<Settings, ValidationError> {
        if !(MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&self.request_timeout_secs) {
            return Err(ValidationError::new(
                "request_timeout_secs",
                format!("must be between {MIN_TIMEOUT_SECS} and {MAX_TIMEOUT_SECS} seconds"),
            ));
        }
        self.webhook_url = crate::validate::optional("webhook_url", self.webhook_url.as_deref(), MAX_URL)?;
        if let Some(u) = &self.webhook_url {
            let scheme_ok = u.starts_with("http://") || u.starts_with("https://");
            let has_host = u.split_once("://").is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
            if !scheme_ok || !has_host {
                return Err(ValidationError::new("webhook_url", "must be an http:// or https:// URL"));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, url: Option<&str>) -> Settings {
        Settings { request_timeout_secs: secs, webhook_url: url.map(str::to_string) }
    }

    #[test]
    fn limits_and_urls() {
        assert!(s(9, None).validate().is_err());
        assert!(s(MAX_TIMEOUT_SECS + 1, None).validate().is_err());
        assert_eq!(s(900, Some("  ")).validate().unwrap().webhook_url, None);
        assert_eq!(s(900, Some(" https://sms.example/x ")).validate().unwrap().webhook_url.as_deref(), Some("https://sms.example/x"));
        assert_eq!(s(900, Some("ftp://x")).validate().unwrap_err().field, "webhook_url");
        assert!(s(900, Some("http://")).validate().is_err());
    }
}
