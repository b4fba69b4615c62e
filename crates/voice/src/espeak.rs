//! Text-to-speech with espeak-ng, run as a subprocess: robotic but small,
//! present on every Debian, speaks Hindi, Bengali and Marathi, and Whisper
//! understands it. A subprocess also keeps its GPL code out of our binary.

use std::path::PathBuf;
use std::process::Stdio;

use async_trait::async_trait;
use switchboard_core::speech::{AudioFrame, AudioStream, SpeechEngineInfo, SpeechError, TextToSpeech};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Languages with a voice here (ISO 639-1 → espeak-ng voice).
const VOICES: &[(&str, &str)] = &[("en", "en-us"), ("hi", "hi"), ("bn", "bn"), ("mr", "mr")];

/// Longest text one call may speak (a clause is far shorter).
const MAX_TEXT: usize = 4_000;

pub struct Espeak {
    program: PathBuf,
    /// Words per minute.
    speed: u32,
    found: bool,
}

impl Espeak {
    pub fn new(speed: u32) -> Self {
        let program = which("espeak-ng").unwrap_or_else(|| PathBuf::from("espeak-ng"));
        let found = program.is_absolute();
        Self { program, speed: speed.clamp(80, 400), found }
    }

    pub fn voice(language: &str) -> Option<&'static str> {
        let lang = language.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        VOICES.iter().find(|(l, _)| *l == lang).map(|(_, v)| *v)
    }

    /// Synthesises the whole text at once (22,050 Hz).
    pub async fn synthesize(&self, text: &str, language: &str) -> Result<AudioFrame, SpeechError> {
        if !self.found {
            return Err(SpeechError::ModelMissing {
                what: "espeak-ng".into(),
                hint: "install the Debian package `espeak-ng` (scripts/setup.sh does)".into(),
            });
        }
        let voice = Self::voice(language).ok_or_else(|| SpeechError::Unsupported(language.to_string()))?;
        if text.len() > MAX_TEXT {
            return Err(SpeechError::BadAudio(format!("text to speak is over {MAX_TEXT} bytes")));
        }
        // The text goes in on stdin, never on the command line, so nothing
        // in it can be read as an option.
        let mut child = tokio::process::Command::new(&self.program)
            .args(["-v", voice, "-s", &self.speed.to_string(), "-b", "1", "--stdout"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SpeechError::Engine(format!("cannot start espeak-ng: {e}")))?;
        let mut stdin = child.stdin.take().ok_or_else(|| SpeechError::Engine("espeak-ng has no stdin".into()))?;
        let line = text.replace(['\n', '\r'], " ");
        stdin.write_all(line.as_bytes()).await.map_err(|e| SpeechError::Engine(format!("espeak-ng stdin: {e}")))?;
        drop(stdin);
        let mut out = Vec::new();
        child
            .stdout
            .take()
            .ok_or_else(|| SpeechError::Engine("espeak-ng has no stdout".into()))?
            .read_to_end(&mut out)
            .await
            .map_err(|e| SpeechError::Engine(format!("espeak-ng stdout: {e}")))?;
        let status = child.wait().await.map_err(|e| SpeechError::Engine(e.to_string()))?;
        if !status.success() {
            return Err(SpeechError::Engine(format!("espeak-ng exited with {status}")));
        }
        // espeak-ng writes its header before it knows the length.
        crate::wav::decode_streamed(&out).map_err(|_| SpeechError::Engine("espeak-ng wrote no usable WAV".into()))
    }
}

#[async_trait]
impl TextToSpeech for Espeak {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "espeak-ng".into(),
            model: Some("espeak-ng voices".into()),
            ready: self.found,
            missing: (!self.found).then(|| "espeak-ng: install the Debian package `espeak-ng`".into()),
            languages: if self.found { VOICES.iter().map(|(l, _)| l.to_string()).collect() } else { vec![] },
        }
    }

    fn supports(&self, language: &str) -> bool {
        Self::voice(language).is_some()
    }

    async fn speak(&self, text: &str, language: &str) -> Result<AudioStream, SpeechError> {
        let audio = self.synthesize(text, language).await?;
        let (tx, rx) = mpsc::channel(8);
        // 100 ms frames, so a caller who cuts in stops the rest at once.
        let step = (audio.rate / 10) as usize;
        tokio::spawn(async move {
            for chunk in audio.samples.chunks(step.max(1)) {
                if tx.send(Ok(AudioFrame::new(audio.rate, chunk.to_vec()))).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn speaks_english_and_hindi_and_refuses_unknown_languages() {
        let tts = Espeak::new(170);
        if !tts.info().ready {
            panic!("espeak-ng is not installed; scripts/setup.sh installs it");
        }
        let a = tts.synthesize("Hello, we open at nine.", "en").await.unwrap();
        assert!(a.seconds() > 0.8 && a.seconds() < 5.0, "{} s", a.seconds());
        assert!(a.rms() > 0.01);
        let h = tts.synthesize("नमस्ते", "hi").await.unwrap();
        assert!(h.seconds() > 0.2);
        assert!(matches!(tts.synthesize("hi", "xx").await, Err(SpeechError::Unsupported(_))));
        // Option-looking text is spoken, not obeyed.
        let o = tts.synthesize("--version -w /tmp/x.wav", "en").await.unwrap();
        assert!(o.seconds() > 0.5);
    }
}
