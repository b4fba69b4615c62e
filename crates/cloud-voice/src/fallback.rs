//! A cloud engine with an offline engine behind it, for each role.
//!
//! When the cloud service fails (it cannot be reached, refuses, closes
//! mid-utterance, sends nonsense or stays silent), the utterance's audio so
//! far is replayed into the offline engine and the rest follows it there: the
//! caller is not asked to repeat. From then on the call stays offline, and
//! the switch is reported once, so the call's transcript can say so.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use switchboard_core::speech::{
    AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, SpeechToText, SttEvent, SttOptions, SttStream, TextToSpeech,
};
use tokio::sync::mpsc;

/// Told once, with why the call moved to the offline engine.
pub type OnSwitch = Arc<dyn Fn(String) + Send + Sync>;

pub struct FallbackStt {
    primary: Arc<dyn SpeechToText>,
    fallback: Arc<dyn SpeechToText>,
    switched: Arc<AtomicBool>,
    on_switch: OnSwitch,
}

impl FallbackStt {
    /// Both engines must take audio at the same rate (the replay sends the
    /// primary's frames to the fallback as they are).
    pub fn new(
        primary: Arc<dyn SpeechToText>,
        fallback: Arc<dyn SpeechToText>,
        on_switch: OnSwitch,
    ) -> Result<FallbackStt, SpeechError> {
        if primary.rate() != fallback.rate() {
            return Err(SpeechError::BadAudio(format!(
                "the fallback engine takes {} Hz, the primary {} Hz",
                fallback.rate(),
                primary.rate()
            )));
        }
        Ok(FallbackStt { primary, fallback, switched: Arc::new(AtomicBool::new(false)), on_switch })
    }

    /// Whether the call has moved to the offline engine.
    pub fn switched(&self) -> bool {
        self.switched.load(Ordering::SeqCst)
    }
}

struct Switch {
    switched: Arc<AtomicBool>,
    on_switch: OnSwitch,
    fallback_name: String,
}

impl Switch {
    fn switch(&self, why: &SpeechError) {
        if !self.switched.swap(true, Ordering::SeqCst) {
            tracing::warn!(error = %why, "cloud speech-to-text failed; the offline engine takes over");
            (self.on_switch)(format!("{why}; {} takes over for the rest of the call", self.fallback_name));
        }
    }
}

#[async_trait]
impl SpeechToText for FallbackStt {
    fn info(&self) -> SpeechEngineInfo {
        if self.switched() { self.fallback.info() } else { self.primary.info() }
    }

    fn rate(&self) -> u32 {
        self.primary.rate()
    }

    async fn stream(&self, options: SttOptions) -> Result<SttStream, SpeechError> {
        let switch = Switch {
            switched: self.switched.clone(),
            on_switch: self.on_switch.clone(),
            fallback_name: self.fallback.info().engine,
        };
        if self.switched() {
            return self.fallback.stream(options).await;
        }
        let primary = match self.primary.stream(options.clone()).await {
            Ok(s) => s,
            Err(e) => {
                switch.switch(&e);
                return self.fallback.stream(options).await;
            }
        };
        let (audio, audio_rx) = mpsc::channel(64);
        let (events_tx, events) = mpsc::channel(64);
        let fallback = self.fallback.clone();
        tokio::spawn(relay(primary, audio_rx, events_tx, fallback, options, switch));
        Ok(SttStream { audio, events })
    }
}

/// Feeds the primary while keeping the utterance's audio; on its failure,
/// replays that audio into the fallback and lets it finish the utterance.
async fn relay(
    primary: SttStream,
    mut audio: mpsc::Receiver<AudioFrame>,
    events: mpsc::Sender<SttEvent>,
    fallback: Arc<dyn SpeechToText>,
    options: SttOptions,
    switch: Switch,
) {
    let SttStream { audio: primary_audio, events: mut primary_events } = primary;
    let mut primary_audio = Some(primary_audio);
    let mut heard: Vec<AudioFrame> = Vec::new();
    let mut audio_open = true;
    let failure = loop {
        tokio::select! {
            frame = audio.recv(), if audio_open => match frame {
                Some(f) => {
                    heard.push(f.clone());
                    if let Some(tx) = &primary_audio {
                        // A closed primary reports why on its events.
                        let _ = tx.send(f).await;
                    }
                }
                None => {
                    audio_open = false;
                    primary_audio = None;
                }
            },
            event = primary_events.recv() => match event {
                Some(SttEvent::Partial(t)) => {
                    let _ = events.send(SttEvent::Partial(t)).await;
                }
                Some(SttEvent::Final(t)) => {
                    let _ = events.send(SttEvent::Final(t)).await;
                    return;
                }
                Some(SttEvent::Error(e)) => break e,
                None => break SpeechError::Engine("the recogniser ended without a transcript".into()),
            },
        }
    };
    drop(primary_audio);
    switch.switch(&failure);
    let backup = match fallback.stream(options).await {
        Ok(s) => s,
        Err(e) => {
            let _ = events.send(SttEvent::Error(e)).await;
            return;
        }
    };
    let SttStream { audio: backup_audio, events: mut backup_events } = backup;
    // The replay and the rest of the utterance, while its events flow back.
    let feeder = tokio::spawn(async move {
        for f in heard {
            if backup_audio.send(f).await.is_err() {
                return;
            }
        }
        if audio_open {
            while let Some(f) = audio.recv().await {
                if backup_audio.send(f).await.is_err() {
                    return;
                }
            }
        }
    });
    while let Some(e) = backup_events.recv().await {
        let last = !matches!(e, SttEvent::Partial(_));
        if events.send(e).await.is_err() || last {
            break;
        }
    }
    feeder.abort();
}

/// Text-to-speech with an offline voice behind a cloud one. A clause the
/// cloud voice fails on is spoken again, whole, by the offline voice (what
/// was heard of it cannot be told apart from what was not); from then on
/// the call stays offline. Languages the cloud voice lacks go to the
/// offline voice without counting as a failure.
pub struct FallbackTts {
    primary: Arc<dyn TextToSpeech>,
    fallback: Arc<dyn TextToSpeech>,
    switched: Arc<AtomicBool>,
    on_switch: OnSwitch,
}

impl FallbackTts {
    pub fn new(primary: Arc<dyn TextToSpeech>, fallback: Arc<dyn TextToSpeech>, on_switch: OnSwitch) -> FallbackTts {
        FallbackTts { primary, fallback, switched: Arc::new(AtomicBool::new(false)), on_switch }
    }

    pub fn switched(&self) -> bool {
        self.switched.load(Ordering::SeqCst)
    }

    fn switch(&self) -> Switch {
        Switch {
            switched: self.switched.clone(),
            on_switch: self.on_switch.clone(),
            fallback_name: self.fallback.info().engine,
        }
    }
}

#[async_trait]
impl TextToSpeech for FallbackTts {
    fn info(&self) -> SpeechEngineInfo {
        if self.switched() { self.fallback.info() } else { self.primary.info() }
    }

    fn supports(&self, language: &str) -> bool {
        self.primary.supports(language) || self.fallback.supports(language)
    }

    async fn speak(&self, text: &str, language: &str) -> Result<AudioStream, SpeechError> {
        if self.switched() || !self.primary.supports(language) {
            return self.fallback.speak(text, language).await;
        }
        let mut primary = match self.primary.speak(text, language).await {
            Ok(s) => s,
            Err(e) => {
                self.switch().switch(&e);
                return self.fallback.speak(text, language).await;
            }
        };
        let (tx, rx) = mpsc::channel(32);
        let (fallback, switch, text, language) =
            (self.fallback.clone(), self.switch(), text.to_string(), language.to_string());
        tokio::spawn(async move {
            let failure = loop {
                match primary.recv().await {
                    None => return,
                    Some(Ok(frame)) => {
                        if tx.send(Ok(frame)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => break e,
                }
            };
            drop(primary);
            switch.switch(&failure);
            let mut backup = match fallback.speak(&text, &language).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(item) = backup.recv().await {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
