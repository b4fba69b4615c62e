//! Which engine runs each role (speech-to-text, text-to-speech, or a
//! voice-to-voice service), with which key: the `[cloud]` section of the
//! config file, keys from the environment or the settings screen, and the
//! engines a call gets (a cloud engine with the offline one behind it).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_core::speech::{SpeechEngines, SpeechToText, TextToSpeech, Usage};
use url::Url;

use crate::agent::VoiceAgent;
use crate::aura::{AuraConfig, AuraTts};
use crate::deepgram::{DeepgramConfig, DeepgramStt};
use crate::deepgram_agent::{DeepgramAgent, DeepgramAgentConfig};
use crate::elevenlabs::{ElevenLabsConfig, ElevenLabsStt, ElevenLabsSttConfig, ElevenLabsTts};
use crate::fallback::{FallbackStt, FallbackTts, OnSwitch};
use crate::gemini::{GeminiConfig, GeminiLive};
use crate::{ApiKey, CloudError};

/// The speech-to-text engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SttChoice {
    /// Whisper on this computer.
    #[default]
    Offline,
    Deepgram,
    Elevenlabs,
}

/// The text-to-speech engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtsChoice {
    /// Piper (or espeak-ng) on this computer.
    #[default]
    Offline,
    /// Deepgram Aura.
    Deepgram,
    Elevenlabs,
}

/// A service that does the whole turn (listens, thinks, speaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentChoice {
    /// None: the pipeline of the chosen speech engines and the agent's model.
    #[default]
    None,
    /// Gemini Live.
    Gemini,
    /// The Deepgram Voice Agent API.
    Deepgram,
}

macro_rules! choice_names {
    ($t:ty { $($v:ident => $s:literal),* }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}
choice_names!(SttChoice { Offline => "offline", Deepgram => "deepgram", Elevenlabs => "elevenlabs" });
choice_names!(TtsChoice { Offline => "offline", Deepgram => "deepgram", Elevenlabs => "elevenlabs" });
choice_names!(AgentChoice { None => "none", Gemini => "gemini", Deepgram => "deepgram" });

/// A service whose key the engines need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Deepgram,
    Elevenlabs,
    Gemini,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Deepgram, Service::Elevenlabs, Service::Gemini];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Deepgram => "deepgram",
            Service::Elevenlabs => "elevenlabs",
            Service::Gemini => "gemini",
        }
    }

    /// The environment variable its key may come from.
    pub fn env_var(self) -> &'static str {
        match self {
            Service::Deepgram => "DEEPGRAM_API_KEY",
            Service::Elevenlabs => "ELEVENLABS_API_KEY",
            Service::Gemini => "GEMINI_API_KEY",
        }
    }
}

/// The `[cloud]` section of the config file. Service URLs are set only
/// here (never through the API), so a key typed into the settings screen
/// can only go to the service it was typed for.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudConfig {
    pub stt: SttChoice,
    pub tts: TtsChoice,
    pub voice_agent: AgentChoice,
    pub deepgram_url: Url,
    pub deepgram_agent_url: Url,
    pub elevenlabs_url: Url,
    pub gemini_url: Url,
    /// Deepgram's speech-to-text model.
    pub deepgram_model: String,
    /// The Aura voice.
    pub deepgram_voice: String,
    pub elevenlabs_voice: String,
    pub elevenlabs_model: String,
    pub elevenlabs_stt_model: String,
    pub gemini_model: String,
    /// The model the Deepgram Voice Agent thinks with (its `think` provider
    /// is `deepgram_agent_think_provider`).
    pub deepgram_agent_think_model: String,
    pub deepgram_agent_think_provider: String,
    /// Longest wait for a service to connect or answer, in seconds.
    pub timeout_secs: f64,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            stt: SttChoice::Offline,
            tts: TtsChoice::Offline,
            voice_agent: AgentChoice::None,
            deepgram_url: Url::parse("wss://api.deepgram.com").expect("a valid URL"),
            deepgram_agent_url: Url::parse("wss://agent.deepgram.com").expect("a valid URL"),
            elevenlabs_url: Url::parse("wss://api.elevenlabs.io").expect("a valid URL"),
            gemini_url: Url::parse("wss://generativelanguage.googleapis.com").expect("a valid URL"),
            deepgram_model: "nova-3".into(),
            deepgram_voice: "aura-2-thalia-en".into(),
            // ElevenLabs' long-standing default voice ("Rachel").
            elevenlabs_voice: "21m00Tcm4TlvDq8ikWAM".into(),
            elevenlabs_model: "eleven_flash_v2_5".into(),
            elevenlabs_stt_model: "scribe_v2_realtime".into(),
            gemini_model: "gemini-2.5-flash-native-audio-preview-12-2025".into(),
            deepgram_agent_think_model: "gpt-4o-mini".into(),
            deepgram_agent_think_provider: "open_ai".into(),
            timeout_secs: 5.0,
        }
    }
}

/// The keys in force, per service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudKeys {
    pub deepgram: Option<ApiKey>,
    pub elevenlabs: Option<ApiKey>,
    pub gemini: Option<ApiKey>,
}

impl CloudKeys {
    /// `DEEPGRAM_API_KEY`, `ELEVENLABS_API_KEY`, `GEMINI_API_KEY` (blank or
    /// malformed ones count as unset).
    pub fn from_env() -> CloudKeys {
        let get = |s: Service| std::env::var(s.env_var()).ok().and_then(|k| ApiKey::new(k).ok());
        CloudKeys {
            deepgram: get(Service::Deepgram),
            elevenlabs: get(Service::Elevenlabs),
            gemini: get(Service::Gemini),
        }
    }

    pub fn get(&self, s: Service) -> Option<&ApiKey> {
        match s {
            Service::Deepgram => self.deepgram.as_ref(),
            Service::Elevenlabs => self.elevenlabs.as_ref(),
            Service::Gemini => self.gemini.as_ref(),
        }
    }

    pub fn set(&mut self, s: Service, key: Option<ApiKey>) {
        match s {
            Service::Deepgram => self.deepgram = key,
            Service::Elevenlabs => self.elevenlabs = key,
            Service::Gemini => self.gemini = key,
        }
    }
}

/// A choice of engines and the keys they run with.
#[derive(Debug, Clone, Default)]
pub struct CloudSpeech {
    pub config: CloudConfig,
    pub keys: CloudKeys,
}

impl CloudSpeech {
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.config.timeout_secs.clamp(0.5, 60.0))
    }

    fn key(&self, s: Service, name: &'static str) -> Result<ApiKey, CloudError> {
        self.keys.get(s).cloned().ok_or_else(|| CloudError::Config {
            service: name,
            why: format!("no API key (set {} or type one in Settings → Speech)", s.env_var()),
        })
    }

    /// The services the choice needs keys for.
    pub fn services(&self) -> Vec<Service> {
        let c = &self.config;
        let mut out = Vec::new();
        let mut need = |s: Service| {
            if !out.contains(&s) {
                out.push(s)
            }
        };
        match c.stt {
            SttChoice::Offline => {}
            SttChoice::Deepgram => need(Service::Deepgram),
            SttChoice::Elevenlabs => need(Service::Elevenlabs),
        }
        match c.tts {
            TtsChoice::Offline => {}
            TtsChoice::Deepgram => need(Service::Deepgram),
            TtsChoice::Elevenlabs => need(Service::Elevenlabs),
        }
        match c.voice_agent {
            AgentChoice::None => {}
            AgentChoice::Gemini => need(Service::Gemini),
            AgentChoice::Deepgram => need(Service::Deepgram),
        }
        out
    }

    fn deepgram_stt(&self, usage: &Usage) -> Result<DeepgramStt, CloudError> {
        let c = &self.config;
        let mut cfg = DeepgramConfig::new(self.key(Service::Deepgram, "Deepgram")?);
        cfg.base_url = c.deepgram_url.clone();
        cfg.model = c.deepgram_model.clone();
        cfg.connect_timeout = self.timeout();
        cfg.final_timeout = self.timeout();
        DeepgramStt::new(cfg, usage.clone())
    }

    fn elevenlabs_stt(&self, usage: &Usage) -> Result<ElevenLabsStt, CloudError> {
        let c = &self.config;
        let mut cfg = ElevenLabsSttConfig::new(self.key(Service::Elevenlabs, "ElevenLabs")?);
        cfg.base_url = c.elevenlabs_url.clone();
        cfg.model = c.elevenlabs_stt_model.clone();
        cfg.connect_timeout = self.timeout();
        cfg.final_timeout = self.timeout();
        ElevenLabsStt::new(cfg, usage.clone())
    }

    fn aura(&self, usage: &Usage) -> Result<AuraTts, CloudError> {
        let c = &self.config;
        let mut cfg = AuraConfig::new(self.key(Service::Deepgram, "Deepgram Aura")?);
        cfg.base_url = c.deepgram_url.clone();
        cfg.model = c.deepgram_voice.clone();
        cfg.connect_timeout = self.timeout();
        cfg.reply_timeout = self.timeout();
        AuraTts::new(cfg, usage.clone())
    }

    fn elevenlabs_tts(&self, usage: &Usage) -> Result<ElevenLabsTts, CloudError> {
        let c = &self.config;
        let mut cfg = ElevenLabsConfig::new(self.key(Service::Elevenlabs, "ElevenLabs")?, c.elevenlabs_voice.clone());
        cfg.base_url = c.elevenlabs_url.clone();
        cfg.model = c.elevenlabs_model.clone();
        cfg.connect_timeout = self.timeout();
        cfg.reply_timeout = self.timeout();
        ElevenLabsTts::new(cfg, usage.clone())
    }

    fn gemini(&self, usage: &Usage) -> Result<GeminiLive, CloudError> {
        let c = &self.config;
        let mut cfg = GeminiConfig::new(self.key(Service::Gemini, "Gemini")?);
        cfg.base_url = c.gemini_url.clone();
        cfg.model = c.gemini_model.clone();
        cfg.connect_timeout = self.timeout();
        GeminiLive::new(cfg, usage.clone())
    }

    fn deepgram_agent(&self, usage: &Usage) -> Result<DeepgramAgent, CloudError> {
        let c = &self.config;
        let mut cfg = DeepgramAgentConfig::new(self.key(Service::Deepgram, "Deepgram")?);
        cfg.base_url = c.deepgram_agent_url.clone();
        cfg.listen_model = c.deepgram_model.clone();
        cfg.speak_model = c.deepgram_voice.clone();
        cfg.think_model = c.deepgram_agent_think_model.clone();
        cfg.think_provider = c.deepgram_agent_think_provider.clone();
        cfg.connect_timeout = self.timeout();
        DeepgramAgent::new(cfg, usage.clone())
    }

    /// The voice-to-voice service chosen, if any.
    pub fn voice_agent(&self, usage: &Usage) -> Result<Option<Arc<dyn VoiceAgent>>, CloudError> {
        Ok(match self.config.voice_agent {
            AgentChoice::None => None,
            AgentChoice::Gemini => Some(Arc::new(self.gemini(usage)?)),
            AgentChoice::Deepgram => Some(Arc::new(self.deepgram_agent(usage)?)),
        })
    }

    /// The cloud speech-to-text engine chosen, if any, counting into `usage`.
    pub fn stt(&self, usage: &Usage) -> Result<Option<Arc<dyn SpeechToText>>, CloudError> {
        Ok(match self.config.stt {
            SttChoice::Offline => None,
            SttChoice::Deepgram => Some(Arc::new(self.deepgram_stt(usage)?)),
            SttChoice::Elevenlabs => Some(Arc::new(self.elevenlabs_stt(usage)?)),
        })
    }

    /// The cloud text-to-speech engine chosen, if any.
    pub fn tts(&self, usage: &Usage) -> Result<Option<Arc<dyn TextToSpeech>>, CloudError> {
        Ok(match self.config.tts {
            TtsChoice::Offline => None,
            TtsChoice::Deepgram => Some(Arc::new(self.aura(usage)?)),
            TtsChoice::Elevenlabs => Some(Arc::new(self.elevenlabs_tts(usage)?)),
        })
    }

    /// Connects to every chosen service once, so a refused key or an
    /// unreachable service shows when the engines are chosen, not in the
    /// first call.
    pub async fn check(&self) -> Result<(), CloudError> {
        let usage = Usage::default();
        match self.config.stt {
            SttChoice::Offline => {}
            SttChoice::Deepgram => self.deepgram_stt(&usage)?.check().await?,
            SttChoice::Elevenlabs => self.elevenlabs_stt(&usage)?.check().await?,
        }
        match self.config.tts {
            TtsChoice::Offline => {}
            TtsChoice::Deepgram => self.aura(&usage)?.check().await?,
            TtsChoice::Elevenlabs => self.elevenlabs_tts(&usage)?.check().await?,
        }
        match self.config.voice_agent {
            AgentChoice::None => {}
            AgentChoice::Gemini => self.gemini(&usage)?.check().await?,
            AgentChoice::Deepgram => self.deepgram_agent(&usage)?.check().await?,
        }
        Ok(())
    }

    /// The engines a call runs on: each chosen cloud engine with the offline
    /// one behind it (`on_switch` is told once if the call moves offline).
    /// A cloud engine that cannot be built (its key was removed) is reported
    /// the same way, and the offline engine runs from the start.
    pub fn for_call(&self, offline: &SpeechEngines, usage: &Usage, on_switch: OnSwitch) -> SpeechEngines {
        let mut engines = offline.clone();
        match self.stt(usage) {
            Ok(None) => {}
            Ok(Some(cloud)) => match FallbackStt::new(cloud, offline.stt.clone(), on_switch.clone()) {
                Ok(f) => engines.stt = Arc::new(f),
                Err(e) => on_switch(format!("{e}; {} runs instead", offline.stt.info().engine)),
            },
            Err(e) => on_switch(format!("{e}; {} runs instead", offline.stt.info().engine)),
        }
        match self.tts(usage) {
            Ok(None) => {}
            Ok(Some(cloud)) => engines.tts = Arc::new(FallbackTts::new(cloud, offline.tts.clone(), on_switch)),
            Err(e) => on_switch(format!("{e}; {} runs instead", offline.tts.info().engine)),
        }
        engines
    }
}

/// The choice in force, shared by the app and changed from the settings
/// screen; each call reads it when it starts.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    inner: Arc<RwLock<CloudSpeech>>,
}

impl Selection {
    pub fn new(speech: CloudSpeech) -> Selection {
        Selection { inner: Arc::new(RwLock::new(speech)) }
    }

    pub fn get(&self) -> CloudSpeech {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, speech: CloudSpeech) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = speech;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use switchboard_core::speech::{
        AudioStream, SpeechEngineInfo, SpeechError, SttOptions, SttStream, VadEngine, VoiceActivity,
    };

    struct Offline;

    fn info(engine: &str) -> SpeechEngineInfo {
        SpeechEngineInfo { engine: engine.into(), model: None, ready: true, missing: None, languages: vec![] }
    }

    #[async_trait::async_trait]
    impl SpeechToText for Offline {
        fn info(&self) -> SpeechEngineInfo {
            info("whisper")
        }
        fn rate(&self) -> u32 {
            16_000
        }
        async fn stream(&self, _: SttOptions) -> Result<SttStream, SpeechError> {
            Err(SpeechError::Engine("not used".into()))
        }
    }

    #[async_trait::async_trait]
    impl TextToSpeech for Offline {
        fn info(&self) -> SpeechEngineInfo {
            info("piper")
        }
        fn supports(&self, _: &str) -> bool {
            true
        }
        async fn speak(&self, _: &str, _: &str) -> Result<AudioStream, SpeechError> {
            Err(SpeechError::Engine("not used".into()))
        }
    }

    struct NoVad;
    impl VadEngine for NoVad {
        fn info(&self) -> SpeechEngineInfo {
            info("none")
        }
        fn detector(&self) -> Box<dyn VoiceActivity> {
            unreachable!("not used")
        }
    }

    fn offline() -> SpeechEngines {
        SpeechEngines { stt: Arc::new(Offline), tts: Arc::new(Offline), vad: Arc::new(NoVad), turn: None }
    }

    fn recorder() -> (OnSwitch, Arc<Mutex<Vec<String>>>) {
        let said = Arc::new(Mutex::new(Vec::new()));
        let s = said.clone();
        (Arc::new(move |why: String| s.lock().unwrap().push(why)), said)
    }

    #[test]
    fn offline_by_default_and_a_cloud_choice_sits_in_front_of_the_offline_engine() {
        let (on_switch, said) = recorder();
        let none = CloudSpeech::default();
        assert!(none.services().is_empty());
        let e = none.for_call(&offline(), &Usage::default(), on_switch.clone());
        assert_eq!((e.stt.info().engine, e.tts.info().engine), ("whisper".into(), "piper".into()));

        let mut chosen = CloudSpeech::default();
        chosen.config.stt = SttChoice::Deepgram;
        chosen.config.tts = TtsChoice::Elevenlabs;
        chosen.config.voice_agent = AgentChoice::Deepgram;
        assert_eq!(chosen.services(), vec![Service::Deepgram, Service::Elevenlabs]);
        chosen.keys.set(Service::Deepgram, Some(ApiKey::new("k1").unwrap()));
        chosen.keys.set(Service::Elevenlabs, Some(ApiKey::new("k2").unwrap()));
        let e = chosen.for_call(&offline(), &Usage::default(), on_switch);
        assert_eq!((e.stt.info().engine, e.tts.info().engine), ("deepgram".into(), "elevenlabs".into()));
        assert!(said.lock().unwrap().is_empty());
    }

    #[test]
    fn a_chosen_engine_without_its_key_runs_offline_and_says_why() {
        let (on_switch, said) = recorder();
        let mut chosen = CloudSpeech::default();
        chosen.config.stt = SttChoice::Elevenlabs;
        let e = chosen.for_call(&offline(), &Usage::default(), on_switch);
        assert_eq!(e.stt.info().engine, "whisper");
        let said = said.lock().unwrap();
        assert_eq!(said.len(), 1);
        assert!(said[0].contains("ELEVENLABS_API_KEY") && said[0].contains("whisper"), "{said:?}");
    }

    #[test]
    fn choices_read_the_names_the_settings_use() {
        for s in ["offline", "deepgram", "elevenlabs"] {
            assert_eq!(SttChoice::parse(s).unwrap().as_str(), s);
            assert_eq!(TtsChoice::parse(s).unwrap().as_str(), s);
        }
        for s in ["none", "gemini", "deepgram"] {
            assert_eq!(AgentChoice::parse(s).unwrap().as_str(), s);
        }
        assert!(SttChoice::parse("whisper").is_none());
        let c: CloudConfig = serde_json::from_str(r#"{"stt":"deepgram","deepgram_url":"ws://127.0.0.1:9"}"#).unwrap();
        assert_eq!((c.stt, c.tts), (SttChoice::Deepgram, TtsChoice::Offline));
        assert!(serde_json::from_str::<CloudConfig>(r#"{"sst":"deepgram"}"#).is_err(), "unknown keys are refused");
    }
}
