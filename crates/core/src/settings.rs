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
    #[schema(minimum = 10, maximum = 604800)]
    pub request_timeout_secs: u64,
    /// Where customer notifications are POSTed (an SMS gateway); none when null.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = r"^([ \t\r\n]*|[ \t\r\n]*[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z][A-Za-z0-9.\-]*(:[0-9]{1,4})?([/?#][^\s\x00-\x1F\x7F-\x9F]*)?[ \t\r\n]*)$"
    )]
    pub webhook_url: Option<String>,
    /// Let crawl jobs fetch loopback, private and link-local addresses (a
    /// site on the local network). Off: such targets fail `blocked_address`.
    #[serde(default)]
    pub crawl_allow_private: bool,
    /// A supervisor's answer teaches the agent only once someone approves
    /// it (`POST /api/help-requests/{id}/learning`); off: it teaches at once.
    #[serde(default)]
    pub review_learned: bool,
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
        if let Some(u) = &self.webhook_url
            && !is_http_url(u)
        {
            return Err(ValidationError::new("webhook_url", "must be an http:// or https:// URL"));
        }
        Ok(self)
    }
}

/// Which language model the agent runs on, as a supervisor sets it in the
/// settings screen. Saved settings win over the start-up configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// `auto` (the embedded model when installed), `llama`, `openai` or `none`.
    #[schema(pattern = r"^\s*([Aa][Uu][Tt][Oo]|[Ll][Ll][Aa][Mm][Aa]|[Oo][Pp][Ee][Nn][Aa][Ii]|[Nn][Oo][Nn][Ee])\s*$")]
    pub engine: String,
    /// API root of an OpenAI-compatible server (`openai` only).
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = r"^([ \t\r\n]*|[ \t\r\n]*[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z][A-Za-z0-9.\-]*(:[0-9]{1,4})?([/?#][^\s\x00-\x1F\x7F-\x9F]*)?[ \t\r\n]*)$"
    )]
    pub base_url: Option<String>,
    /// Model name (`openai` only).
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub model: Option<String>,
    /// Bearer key (`openai` only). Write-only: the server never sends it
    /// back (views carry `None`). Absent or null keeps the saved key; an
    /// empty string removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")]
    pub api_key: Option<String>,
}

pub const MODEL_ENGINES: [&str; 4] = ["auto", "llama", "openai", "none"];
pub const MAX_MODEL_NAME: usize = 200;
pub const MAX_API_KEY: usize = 500;

impl ModelSettings {
    /// Checks and normalises; `openai` needs an http(s) base URL and a model.
    pub fn validate(mut self) -> Result<ModelSettings, ValidationError> {
        self.engine = self.engine.trim().to_ascii_lowercase();
        if !MODEL_ENGINES.contains(&self.engine.as_str()) {
            return Err(ValidationError::new("engine", "must be auto, llama, openai or none"));
        }
        self.base_url = crate::validate::optional("base_url", self.base_url.as_deref(), MAX_URL)?;
        self.model = crate::validate::optional("model", self.model.as_deref(), MAX_MODEL_NAME)?;
        if let Some(k) = &self.api_key {
            let k = k.trim();
            if k.chars().count() > MAX_API_KEY || k.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "api_key",
                    format!("must be at most {MAX_API_KEY} printable characters"),
                ));
            }
            self.api_key = Some(k.to_string());
        }
        if let Some(u) = &self.base_url
            && !is_http_url(u)
        {
            return Err(ValidationError::new("base_url", "must be an http:// or https:// URL"));
        }
        if self.engine == "openai" {
            if self.base_url.is_none() {
                return Err(ValidationError::new("base_url", "is required for the openai engine"));
            }
            if self.model.is_none() {
                return Err(ValidationError::new("model", "is required for the openai engine"));
            }
        }
        Ok(self)
    }
}

fn is_http_url(u: &str) -> bool {
    let scheme_ok = u.starts_with("http://") || u.starts_with("https://");
    scheme_ok && u.split_once("://").is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, url: Option<&str>) -> Settings {
        Settings {
            request_timeout_secs: secs,
            webhook_url: url.map(str::to_string),
            crawl_allow_private: false,
            review_learned: false,
        }
    }

    #[test]
    fn limits_and_urls() {
        assert!(s(9, None).validate().is_err());
        assert!(s(MAX_TIMEOUT_SECS + 1, None).validate().is_err());
        assert_eq!(s(900, Some("  ")).validate().unwrap().webhook_url, None);
        assert_eq!(
            s(900, Some(" https://sms.example/x ")).validate().unwrap().webhook_url.as_deref(),
            Some("https://sms.example/x")
        );
        assert_eq!(s(900, Some("ftp://x")).validate().unwrap_err().field, "webhook_url");
        assert!(s(900, Some("http://")).validate().is_err());
    }

    #[test]
    fn model_settings() {
        let m = |engine: &str, url: Option<&str>, model: Option<&str>| ModelSettings {
            engine: engine.into(),
            base_url: url.map(str::to_string),
            model: model.map(str::to_string),
            api_key: None,
        };
        assert_eq!(m(" Auto ", None, None).validate().unwrap().engine, "auto");
        assert_eq!(m("gpt", None, None).validate().unwrap_err().field, "engine");
        assert_eq!(m("openai", None, Some("x")).validate().unwrap_err().field, "base_url");
        assert_eq!(m("openai", Some("http://127.0.0.1:1/v1"), None).validate().unwrap_err().field, "model");
        assert_eq!(m("openai", Some("file:///etc"), Some("x")).validate().unwrap_err().field, "base_url");
        assert!(m("openai", Some("http://127.0.0.1:1/v1"), Some("qwen")).validate().is_ok());
        let with_key = ModelSettings { api_key: Some("a\nb".into()), ..m("none", None, None) };
        assert_eq!(with_key.validate().unwrap_err().field, "api_key");
        // A view without the key does not mention it.
        assert!(serde_json::to_value(m("none", None, None)).unwrap().get("api_key").is_none());
    }
}

/// The LiveKit server as saved from the settings screen. The secret is
/// write-only: views never carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveKitSettings {
    /// `ws(s)://` or `http(s)://`; empty or absent turns LiveKit off.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub api_key: Option<String>,
    /// Write-only. Absent keeps the saved secret (for the same URL and key
    /// only); an empty string removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub api_secret: Option<String>,
}

/// The speech engines chosen from the settings screen: per role, offline or
/// a cloud service. Keys are write-only: `api_key` maps a service
/// (`deepgram`, `elevenlabs`, `gemini`) to its key; a service left out keeps
/// its saved key, an empty string removes it. Views never carry keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeechSettings {
    /// `offline`, `deepgram` or `elevenlabs`.
    #[schema(pattern = r"^[ \t]*(offline|deepgram|elevenlabs)[ \t]*$")]
    pub stt: String,
    /// `offline`, `deepgram` (Aura) or `elevenlabs`.
    #[schema(pattern = r"^[ \t]*(offline|deepgram|elevenlabs)[ \t]*$")]
    pub tts: String,
    /// `none`, `gemini` (Gemini Live) or `deepgram` (the Voice Agent API):
    /// a service that listens, thinks and speaks, in place of the others.
    #[serde(default = "no_voice_agent")]
    #[schema(pattern = r"^[ \t]*(none|gemini|deepgram)[ \t]*$")]
    pub voice_agent: String,
    /// The ElevenLabs voice id; absent: the default voice.
    #[serde(default)]
    #[schema(max_length = 64, pattern = r"^[A-Za-z0-9]*$")]
    pub elevenlabs_voice: Option<String>,
    /// Write-only, per service.
    #[serde(default, skip_serializing_if = "SpeechKeys::is_empty")]
    pub api_key: SpeechKeys,
}

/// A key per speech service: absent keeps the saved key, an empty string
/// removes it. Surrounding spaces are trimmed; none may be inside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "std::collections::BTreeMap<String, String>")]
pub struct SpeechKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 500,
        pattern = r"^[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub deepgram: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 500,
        pattern = r"^[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub elevenlabs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 500,
        pattern = r"^[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub gemini: Option<String>,
}

/// Read from a JSON object only (a derived struct would also take an array,
/// by position), naming known services only.
impl TryFrom<std::collections::BTreeMap<String, String>> for SpeechKeys {
    type Error = String;

    fn try_from(m: std::collections::BTreeMap<String, String>) -> Result<Self, Self::Error> {
        let mut keys = SpeechKeys::default();
        for (service, key) in m {
            if !matches!(service.as_str(), "deepgram" | "elevenlabs" | "gemini") {
                return Err(format!("unknown field `{service}`: keys are for deepgram, elevenlabs and gemini"));
            }
            keys.set(&service, Some(key));
        }
        Ok(keys)
    }
}

impl SpeechKeys {
    pub fn is_empty(&self) -> bool {
        self.deepgram.is_none() && self.elevenlabs.is_none() && self.gemini.is_none()
    }

    /// (service, key) for each key given.
    pub fn entries(&self) -> Vec<(&'static str, &str)> {
        [("deepgram", &self.deepgram), ("elevenlabs", &self.elevenlabs), ("gemini", &self.gemini)]
            .into_iter()
            .filter_map(|(s, k)| k.as_deref().map(|k| (s, k)))
            .collect()
    }

    pub fn get(&self, service: &str) -> Option<&str> {
        self.entries().into_iter().find(|(s, _)| *s == service).map(|(_, k)| k)
    }

    /// Sets (`Some`) or removes (`None`) a service's key; unknown services
    /// are ignored.
    pub fn set(&mut self, service: &str, key: Option<String>) {
        match service {
            "deepgram" => self.deepgram = key,
            "elevenlabs" => self.elevenlabs = key,
            "gemini" => self.gemini = key,
            _ => {}
        }
    }
}

fn no_voice_agent() -> String {
    "none".into()
}

impl SpeechSettings {
    /// Trims and checks every field; choices in lower case.
    pub fn validate(&self) -> Result<SpeechSettings, ValidationError> {
        let pick = |field: &'static str, v: &str, allowed: &[&str]| {
            let v = v.trim().to_ascii_lowercase();
            if allowed.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(ValidationError::new(field, format!("must be one of {}", allowed.join(", "))))
            }
        };
        let stt = pick("stt", &self.stt, &["offline", "deepgram", "elevenlabs"])?;
        let tts = pick("tts", &self.tts, &["offline", "deepgram", "elevenlabs"])?;
        let voice_agent = pick("voice_agent", &self.voice_agent, &["none", "gemini", "deepgram"])?;
        let elevenlabs_voice = match self.elevenlabs_voice.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric()) => Some(v.to_string()),
            Some(_) => return Err(ValidationError::new("elevenlabs_voice", "must be letters and digits (at most 64)")),
        };
        let mut api_key = SpeechKeys::default();
        for (service, key) in self.api_key.entries() {
            // The limit counts what was sent, as the schema's maxLength does.
            let long = key.chars().count() > 500;
            let key = key.trim();
            if long || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(ValidationError::new(
                    "api_key",
                    format!("the {service} key must be at most 500 characters, without spaces"),
                ));
            }
            api_key.set(service, Some(key.to_string()));
        }
        Ok(SpeechSettings { stt, tts, voice_agent, elevenlabs_voice, api_key })
    }
}

#[cfg(test)]
mod speech_tests {
    use super::*;

    #[test]
    fn speech_settings_are_checked_and_views_carry_no_key() {
        let s = |stt: &str, tts: &str, agent: &str| SpeechSettings {
            stt: stt.into(),
            tts: tts.into(),
            voice_agent: agent.into(),
            ..Default::default()
        };
        let ok = s(" Deepgram ", "offline", "none").validate().unwrap();
        assert_eq!(ok.stt, "deepgram");
        assert_eq!(s("whisper", "offline", "none").validate().unwrap_err().field, "stt");
        assert_eq!(s("offline", "piper", "none").validate().unwrap_err().field, "tts");
        assert_eq!(s("offline", "offline", "openai").validate().unwrap_err().field, "voice_agent");
        let mut keyed = s("offline", "offline", "none");
        assert!(serde_json::from_str::<SpeechKeys>(r#"{"azure":"k"}"#).is_err(), "unknown services are refused");
        assert!(serde_json::from_str::<SpeechKeys>(r#"["k"]"#).is_err(), "an object, not a list");
        assert!(serde_json::from_str::<SpeechKeys>(r#"{"gemini":5}"#).is_err());
        keyed.api_key.set("deepgram", Some("a b".into()));
        assert_eq!(keyed.validate().unwrap_err().field, "api_key");
        keyed.api_key.set("deepgram", Some(" k1 ".into()));
        assert_eq!(keyed.validate().unwrap().api_key.get("deepgram"), Some("k1"));
        let voice = SpeechSettings { elevenlabs_voice: Some("../x".into()), ..s("offline", "offline", "none") };
        assert_eq!(voice.validate().unwrap_err().field, "elevenlabs_voice");
        assert!(serde_json::to_value(ok).unwrap().get("api_key").is_none());
    }
}
