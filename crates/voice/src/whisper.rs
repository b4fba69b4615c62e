//! Speech-to-text with Whisper (whisper.cpp), run in the
//! `switchboard-whisper` worker process (see that crate for why). The worker
//! starts on first use, keeps its model loaded, and is restarted if it dies;
//! requests to one model run one at a time.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use switchboard_core::speech::{
    AudioFrame, SpeechEngineInfo, SpeechError, SpeechToText, SttEvent, SttOptions, SttStream, Transcript,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{Mutex, mpsc};

pub const RATE: u32 = 16_000;
/// Whisper's window; a longer utterance keeps its last 30 s.
const MAX_SAMPLES: usize = RATE as usize * 30;
/// A worker that takes longer than this on one request is stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Cheap to clone: clones share one worker.
#[derive(Clone)]
pub struct Whisper(Arc<WhisperInner>);

pub struct WhisperInner {
    model: PathBuf,
    label: String,
    multilingual: bool,
    threads: u32,
    worker: Mutex<Option<Worker>>,
}

struct Worker {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

#[derive(Deserialize)]
struct Reply {
    text: Option<String>,
    language: Option<String>,
    confidence: Option<f32>,
    no_speech: Option<f32>,
    error: Option<String>,
}

impl Whisper {
    /// `label` names the model for people (`tiny.en`, `base`).
    pub fn new(model: PathBuf, label: &str, threads: u32) -> Self {
        let multilingual = !label.ends_with(".en");
        Self(Arc::new(WhisperInner {
            model,
            label: label.to_string(),
            multilingual,
            threads: threads.max(1),
            worker: Mutex::new(None),
        }))
    }
}

impl std::ops::Deref for Whisper {
    type Target = WhisperInner;
    fn deref(&self) -> &WhisperInner {
        &self.0
    }
}

impl WhisperInner {
    fn missing(&self) -> Option<SpeechError> {
        if !self.model.is_file() {
            return Some(SpeechError::ModelMissing {
                what: format!("the Whisper {} model", self.label),
                hint: format!("run `switchboard models install` to put it at {}", self.model.display()),
            });
        }
        if worker_binary().is_none() {
            return Some(SpeechError::ModelMissing {
                what: "the switchboard-whisper worker".into(),
                hint: "install it beside the switchboard binary (cargo build builds it)".into(),
            });
        }
        None
    }

    async fn start(&self) -> Result<Worker, SpeechError> {
        if let Some(e) = self.missing() {
            return Err(e);
        }
        let bin = worker_binary().expect("checked above");
        let mut child = tokio::process::Command::new(bin)
            .arg(&self.model)
            .arg(self.threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // whisper.cpp logs its model loading to stderr at length.
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SpeechError::Engine(format!("cannot start the Whisper worker: {e}")))?;
        let stdin = child.stdin.take().ok_or_else(|| SpeechError::Engine("worker has no stdin".into()))?;
        let mut stdout =
            BufReader::new(child.stdout.take().ok_or_else(|| SpeechError::Engine("worker has no stdout".into()))?);
        let mut line = String::new();
        let read = tokio::time::timeout(REQUEST_TIMEOUT, stdout.read_line(&mut line)).await;
        let hello: serde_json::Value = match read {
            Ok(Ok(n)) if n > 0 => serde_json::from_str(&line).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        if hello.get("ready").and_then(|v| v.as_bool()) != Some(true) {
            let why = hello.get("error").and_then(|v| v.as_str()).unwrap_or("it exited while loading").to_string();
            tracing::warn!(model = %self.model.display(), %why, "Whisper model did not load");
            return Err(SpeechError::ModelCorrupt(format!(
                "the Whisper {} model at {} does not load ({why}); run `switchboard models verify`",
                self.label,
                self.model.display()
            )));
        }
        Ok(Worker { _child: child, stdin, stdout })
    }

    /// Transcribes 16 kHz audio; `partial` only changes what is reported.
    pub async fn run(
        &self,
        audio: &[f32],
        language: Option<&str>,
        candidates: &[String],
        is_final: bool,
    ) -> Result<Transcript, SpeechError> {
        let audio = if audio.len() > MAX_SAMPLES { &audio[audio.len() - MAX_SAMPLES..] } else { audio };
        let started = Instant::now();
        let mut guard = self.worker.lock().await;
        if guard.is_none() {
            *guard = Some(self.start().await?);
        }
        let worker = guard.as_mut().expect("just started");
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange(worker, audio, language, candidates)).await;
        let reply = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                // A worker out of step or dead is replaced on the next call.
                *guard = None;
                return Err(e);
            }
            Err(_) => {
                *guard = None;
                return Err(SpeechError::Engine("the Whisper worker did not answer in time".into()));
            }
        };
        if let Some(e) = reply.error {
            *guard = None;
            return Err(SpeechError::Engine(e));
        }
        let raw = reply.text.unwrap_or_default();
        // Very likely silence or noise: Whisper then tends to invent a stock
        // phrase ("Thank you."), which must not count as words.
        let text = if reply.no_speech.unwrap_or(0.0) > 0.8 && reply.confidence.unwrap_or(0.0) < 0.5 {
            String::new()
        } else {
            clean(&raw)
        };
        Ok(Transcript {
            text,
            is_final,
            confidence: reply.confidence,
            language: reply.language,
            compute_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

async fn exchange(
    worker: &mut Worker,
    audio: &[f32],
    language: Option<&str>,
    candidates: &[String],
) -> Result<Reply, SpeechError> {
    let io = |e: std::io::Error| SpeechError::Engine(format!("the Whisper worker stopped: {e}"));
    let header = serde_json::json!({ "samples": audio.len(), "language": language, "languages": candidates });
    let mut bytes = Vec::with_capacity(audio.len() * 4 + 64);
    bytes.extend_from_slice(header.to_string().as_bytes());
    bytes.push(b'\n');
    for s in audio {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    worker.stdin.write_all(&bytes).await.map_err(io)?;
    worker.stdin.flush().await.map_err(io)?;
    let mut line = String::new();
    if worker.stdout.read_line(&mut line).await.map_err(io)? == 0 {
        return Err(SpeechError::Engine("the Whisper worker exited".into()));
    }
    serde_json::from_str(&line).map_err(|e| SpeechError::Engine(format!("bad worker reply: {e}")))
}

/// Drops what Whisper writes for non-speech: `[BLANK_AUDIO]`, `(coughs)`,
/// `*music*`, and the ellipses it puts around nothing.
pub fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth = 0i32;
    let mut star = false;
    for c in raw.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = (depth - 1).max(0),
            '*' => star = !star,
            _ if depth == 0 && !star => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().any(|c| c.is_alphanumeric()) { joined } else { String::new() }
}

/// The worker binary: `SWITCHBOARD_WHISPER_BIN`, else beside this program
/// (or one folder up, for test binaries in `target/*/deps`), else on PATH.
pub fn worker_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SWITCHBOARD_WHISPER_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let p = d.join("switchboard-whisper");
        if p.is_file() {
            return Some(p);
        }
    }
    crate::espeak::which("switchboard-whisper")
}

#[async_trait]
impl SpeechToText for Whisper {
    fn info(&self) -> SpeechEngineInfo {
        let missing = self.missing();
        SpeechEngineInfo {
            engine: "whisper".into(),
            model: Some(self.label.clone()),
            ready: missing.is_none(),
            missing: missing.map(|e| e.to_string()),
            languages: if self.multilingual {
                ["en", "hi", "bn", "mr"].iter().map(|s| s.to_string()).collect()
            } else {
                vec!["en".into()]
            },
        }
    }

    fn rate(&self) -> u32 {
        RATE
    }

    async fn stream(&self, options: SttOptions) -> Result<SttStream, SpeechError> {
        if let Some(e) = self.missing() {
            return Err(e);
        }
        let (atx, mut arx) = mpsc::channel::<AudioFrame>(512);
        let (etx, erx) = mpsc::channel(16);
        let inner = self.clone();
        tokio::spawn(async move {
            let mut audio: Vec<f32> = Vec::new();
            let mut last_partial = 0usize;
            let every = options.partial_every.map(|d| (d.as_secs_f64() * RATE as f64) as usize);
            let lang = options.language.clone();
            let candidates = options.languages.clone();
            while let Some(frame) = arx.recv().await {
                if frame.rate != RATE {
                    // The port's contract: callers resample to `rate()`.
                    let e = SpeechError::BadAudio(format!("Whisper takes {RATE} Hz audio, not {} Hz", frame.rate));
                    let _ = etx.send(SttEvent::Error(e)).await;
                    return;
                }
                audio.extend_from_slice(&frame.samples);
                // A partial once enough new audio came, and only when no
                // more is waiting: a backlog means we are behind already.
                if let Some(every) = every
                    && audio.len() >= RATE as usize
                    && audio.len() - last_partial >= every
                    && arx.is_empty()
                {
                    last_partial = audio.len();
                    match inner.run(&audio, lang.as_deref(), &candidates, false).await {
                        Ok(t) => {
                            if etx.send(SttEvent::Partial(t)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = etx.send(SttEvent::Error(e)).await;
                            return;
                        }
                    }
                }
            }
            // Nobody waits for this transcript (the call used one made
            // in the caller's pause): the worker is spared the run.
            if etx.is_closed() {
                return;
            }
            let event = match inner.run(&audio, lang.as_deref(), &candidates, true).await {
                Ok(t) => SttEvent::Final(t),
                Err(e) => SttEvent::Error(e),
            };
            let _ = etx.send(event).await;
        });
        Ok(SttStream { audio: atx, events: erx })
    }
}
