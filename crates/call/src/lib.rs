//! `switchboard-call` owns the call loop: a caller's audio in, the agent's
//! audio out. Listen (voice activity on the call's own audio thread) → end
//! of turn → final transcript → the session's turn (the same turn loop as a
//! typed chat, in `switchboard-session`) → text-to-speech clause by clause
//! as the reply streams → audio paced out at real time, with barge-in.
//!
//! Invariants:
//! - Engines are reached only through the core speech ports; transports
//!   (browser WebSocket, local devices, batch) only through [`CallInput`]
//!   and [`CallOutput`].
//! - Audio frames carry their rate; the loop resamples (on blocking threads)
//!   to what each engine and the transport ask for.
//! - What is stored as the agent's turn is what the caller heard: a reply
//!   cut off by the caller is cut in the transcript too.
//! - The call owns every task it starts; when it ends (hang-up, goodbye,
//!   silence, error, shutdown) they stop, and its transcript so far stays.

pub mod clause;
pub mod frontend;
pub mod resample;
pub mod service;
pub mod transcriber;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_core::session::{Decision, Turn, TurnInput, TurnRole, TurnTimings};
use switchboard_core::speech::{AudioFrame, SpeechError, SttEvent, SttOptions, TextToSpeech, Usage};
use switchboard_core::{Coded, ErrorCode};
use switchboard_session::{CallerMessage, SessionError, SessionEvent, Sessions, TurnHandle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clause::ClauseSplitter;
use crate::frontend::{EndReason, FrontEnd, FrontEvent, FrontInput};
use crate::resample::Resampler;

/// Tunables of a call (the `[call]` section of the config file).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CallConfig {
    /// Voice-activity probability that counts as speech.
    pub vad_threshold: f32,
    /// The same while the agent's audio plays (its echo must not count).
    pub barge_in_threshold: f32,
    /// Speech needed to start an utterance.
    pub min_speech_ms: f64,
    /// Speech needed to cut in while the agent talks.
    pub barge_in_min_speech_ms: f64,
    /// Silence that ends a turn when no end-of-turn model is present.
    pub silence_ms: f64,
    /// Silence after which the end-of-turn model is asked.
    pub turn_check_ms: f64,
    /// With an end-of-turn model: the silence that ends a turn the model
    /// called unfinished (a caller pausing mid-thought).
    pub turn_silence_ms: f64,
    pub turn_complete_threshold: f32,
    /// Audio kept from before speech was detected.
    pub preroll_ms: f64,
    /// Longest utterance; longer ones are cut and answered.
    pub max_utterance_secs: f64,
    /// Audio a client may send ahead of real time.
    pub burst_secs: f64,
    /// Silence after which the utterance so far is transcribed, and a reply
    /// known without the model is synthesised, before the end of the turn
    /// is decided (0: never). Used only if the caller then says no more.
    pub preempt_after_ms: f64,
    /// Partial transcripts while the caller speaks (0 for none).
    pub partial_every_ms: u64,
    /// Audio sent ahead of real time, so playback never starves.
    pub output_lead_ms: f64,
    /// A filler is said when the reply takes longer than this (0: never).
    pub filler_after_ms: u64,
    /// The call ends after this long without the caller speaking.
    pub idle_hangup_secs: f64,
    /// Say the greeting when the call starts.
    pub greet: bool,
    /// The caller's language when known (ISO 639-1); else detected.
    pub language: Option<String>,
    /// The languages callers may speak, for a multilingual recogniser to
    /// choose among (the ones there is a voice for by default).
    pub languages: Vec<String>,
    /// The transport plays into a room the microphone hears (a laptop's own
    /// speaker): the agent's voice comes back as "speech". Then only words
    /// that are not the agent's own cut it off, and playback is not paused
    /// on voice activity alone. Set by the transport, not the config file.
    #[serde(skip)]
    pub echo_guard: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            vad_threshold: 0.5,
            barge_in_threshold: 0.7,
            min_speech_ms: 64.0,
            barge_in_min_speech_ms: 160.0,
            silence_ms: 600.0,
            turn_check_ms: 200.0,
            turn_silence_ms: 1200.0,
            turn_complete_threshold: 0.5,
            preroll_ms: 300.0,
            max_utterance_secs: 20.0,
            burst_secs: 30.0,
            preempt_after_ms: 200.0,
            partial_every_ms: 1000,
            output_lead_ms: 120.0,
            filler_after_ms: 1500,
            idle_hangup_secs: 120.0,
            greet: true,
            language: None,
            languages: ["en", "hi", "bn", "mr"].map(String::from).to_vec(),
            echo_guard: false,
        }
    }
}

/// The engines a call runs on.
pub use switchboard_core::speech::SpeechEngines as CallEngines;

/// From the transport.
#[derive(Debug)]
pub enum CallInput {
    Audio(AudioFrame),
    /// The caller's utterance ended (push-to-talk clients).
    EndOfUtterance,
    HangUp,
}

/// To the transport.
#[derive(Debug, Clone)]
pub enum CallOutput {
    Audio(AudioFrame),
    Event(CallEvent),
}

/// What a call reports as it goes (JSON on the browser call).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallEvent {
    /// What the caller said: partial while they speak, then final.
    Transcript {
        text: String,
        is_final: bool,
        language: Option<String>,
        confidence: Option<f32>,
    },
    /// A clause of the agent's reply, as it is spoken.
    AgentText {
        #[schema(value_type = Option<String>, format = Uuid)]
        turn_id: Option<Uuid>,
        text: String,
    },
    /// A turn's timings, in ms from the end of the caller's speech.
    Latency {
        #[schema(value_type = String, format = Uuid)]
        turn_id: Uuid,
        timings: TurnTimings,
    },
    /// The caller started speaking over the agent: playback paused.
    Paused,
    /// It was not speech (a cough, "mm-hm"): playback goes on.
    Resumed,
    /// The caller cut the agent off; `heard` is what they heard of it.
    Interrupted {
        heard: String,
    },
    /// The agent's audio for this reply is complete.
    AudioEnd,
    Error {
        code: ErrorCode,
        message: String,
    },
    Ended {
        reason: EndCause,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndCause {
    HangUp,
    Goodbye,
    Silence,
    SessionEnded,
    Error,
    Shutdown,
}

/// What the loop needs besides its channels.
#[derive(Clone)]
pub struct CallContext {
    pub sessions: Sessions,
    pub engines: CallEngines,
    pub config: CallConfig,
    pub session_id: Uuid,
    /// The rate the transport plays at.
    pub out_rate: u32,
    pub cancel: CancellationToken,
    /// The cloud audio seconds the engines count; stored with the session
    /// when the call ends.
    pub usage: Usage,
    /// A voice-to-voice service to run the call on (it listens, thinks and
    /// speaks); `None`: the pipeline of `engines` and the agent's model. If
    /// the service fails, the call goes on with the pipeline.
    pub voice_agent: Option<Arc<dyn switchboard_cloud_voice::agent::VoiceAgent>>,
}

#[derive(Debug, Clone)]
pub struct CallSummary {
    pub cause: EndCause,
    /// Caller turns answered.
    pub turns: usize,
}

enum PlayItem {
    /// `made`: when the synthesiser produced it (the first audio mark).
    Audio {
        clause: usize,
        frame: AudioFrame,
        made: Instant,
    },
    ClauseEnd {
        clause: usize,
    },
    Failed(SpeechError),
}

#[derive(Default)]
struct ClauseProgress {
    text: String,
    /// A filler: said, but not part of the agent's turn.
    filler: bool,
    total: usize,
    sent: usize,
    complete: bool,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum SpeechKind {
    Greeting,
    Reply,
    Relay,
}

/// One thing the agent is saying: a reply streaming from the session, or a
/// fixed sentence.
struct Speech {
    kind: SpeechKind,
    turn_id: Option<Uuid>,
    handle: Option<TurnHandle>,
    session_events: Option<mpsc::UnboundedReceiver<SessionEvent>>,
    splitter: ClauseSplitter,
    clause_tx: Option<mpsc::UnboundedSender<(usize, String)>>,
    play_rx: mpsc::Receiver<PlayItem>,
    synth: JoinHandle<()>,
    clauses: Vec<ClauseProgress>,
    /// Seconds of audio sent, and the playback clock they are measured on.
    sent_secs: f64,
    clock: Option<Instant>,
    tts_done: bool,
    stored: Option<Turn>,
    streamed_any: bool,
    // Timing marks (spoken replies).
    t0: Instant,
    decided: Option<Instant>,
    final_at: Option<Instant>,
    sent_at: Option<Instant>,
    first_audio: Option<Instant>,
    first_sent: Option<Instant>,
    filler_said: bool,
    /// The transcript came from the work done in the caller's pause.
    preempted: bool,
}

impl Speech {
    fn new(
        kind: SpeechKind,
        handle: Option<TurnHandle>,
        session_events: Option<mpsc::UnboundedReceiver<SessionEvent>>,
        t0: Instant,
        clause_tx: Option<mpsc::UnboundedSender<(usize, String)>>,
        play_rx: mpsc::Receiver<PlayItem>,
        synth: JoinHandle<()>,
    ) -> Self {
        Speech {
            kind,
            turn_id: None,
            handle,
            session_events,
            splitter: ClauseSplitter::default(),
            clause_tx,
            play_rx,
            synth,
            clauses: Vec::new(),
            sent_secs: 0.0,
            clock: None,
            tts_done: false,
            stored: None,
            streamed_any: false,
            t0,
            decided: None,
            final_at: None,
            sent_at: None,
            first_audio: None,
            first_sent: None,
            filler_said: false,
            preempted: false,
        }
    }

    fn heard(&self) -> String {
        let mut out = Vec::new();
        for c in &self.clauses {
            if c.filler {
                if c.complete && c.sent >= c.total {
                    continue;
                }
                break;
            }
            if c.complete && c.sent >= c.total {
                out.push(c.text.clone());
            } else if c.sent > 0 && c.total > 0 {
                // Part of a clause: the words in proportion to its audio.
                let words: Vec<&str> = c.text.split_whitespace().collect();
                let n = ((c.sent as f64 / c.total as f64) * words.len() as f64).floor() as usize;
                if n > 0 {
                    out.push(words[..n.min(words.len())].join(" "));
                }
                break;
            } else {
                break;
            }
        }
        out.join(" ")
    }

    fn finished(&self) -> bool {
        self.session_events.is_none() && self.clause_tx.is_none() && self.tts_done
    }
}

/// Runs a call to its end. The caller's session must be live; the loop ends
/// it on hang-up, goodbye or silence.
pub async fn run(
    mut ctx: CallContext,
    input: mpsc::Receiver<CallInput>,
    output: mpsc::Sender<CallOutput>,
) -> CallSummary {
    let Some(agent) = ctx.voice_agent.take() else { return run_pipeline(ctx, input, output).await };
    match service::run(&ctx, agent, input, &output).await {
        service::ServiceEnd::Ended { cause, turns } => {
            let mut call = Call::new(ctx, output);
            call.finish(cause).await;
            CallSummary { cause, turns }
        }
        service::ServiceEnd::Failed { why, input, unanswered } => {
            tracing::warn!(session = %ctx.session_id, reason = %why, "the voice service failed; the call goes on offline");
            let note = format!("Moved to the offline speech engines: {why}; the call goes on with them.");
            if let Err(e) = ctx.sessions.note(ctx.session_id, "speech_engine", &note).await {
                tracing::warn!(error = %e, "the engine switch was not noted in the transcript");
            }
            ctx.config.greet = false;
            // What the caller said that the service never answered goes
            // first, then the rest of the call.
            let (tx, replayed) = mpsc::channel(256);
            let mut input = input;
            let cancel = ctx.cancel.clone();
            let forward = tokio::spawn(async move {
                for f in unanswered {
                    if tx.send(CallInput::Audio(f)).await.is_err() {
                        return;
                    }
                }
                loop {
                    tokio::select! {
                        m = input.recv() => match m {
                            Some(m) => if tx.send(m).await.is_err() { return },
                            None => return,
                        },
                        _ = cancel.cancelled() => return,
                    }
                }
            });
            let summary = run_pipeline(ctx, replayed, output).await;
            forward.abort();
            summary
        }
    }
}

/// The call on the speech pipeline: voice activity, speech-to-text, the
/// session's turn, text-to-speech.
async fn run_pipeline(
    ctx: CallContext,
    mut input: mpsc::Receiver<CallInput>,
    output: mpsc::Sender<CallOutput>,
) -> CallSummary {
    let mut call = Call::new(ctx.clone(), output);
    let (fin_tx, fin_rx) = mpsc::channel::<FrontInput>(512);
    let (fev_tx, mut fev_rx) = mpsc::channel::<FrontEvent>(512);
    let front =
        FrontEnd::new(ctx.config.clone(), ctx.engines.vad.detector(), ctx.engines.turn.clone(), call.playing.clone());
    let front_task = tokio::task::spawn_blocking(move || front.run(fin_rx, fev_tx));
    let mut watch = ctx.sessions.subscribe(ctx.session_id);
    let mut fin_tx = Some(fin_tx);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    if ctx.config.greet {
        match ctx.sessions.greet(ctx.session_id).await {
            Ok(turn) => call.say(SpeechKind::Greeting, turn.text.clone(), Some(turn.id)),
            Err(e) => call.error(&e).await,
        }
    }

    let cause = loop {
        let room = call.room_to_send();
        tokio::select! {
            _ = ctx.cancel.cancelled() => break EndCause::Shutdown,
            msg = input.recv() => match msg {
                Some(CallInput::Audio(frame)) => {
                    call.touch();
                    if let Some(tx) = &fin_tx {
                        match tx.try_send(FrontInput::Audio(frame)) {
                            Ok(()) => {}
                            // Seconds of audio waiting: a client sending far
                            // faster than real time. Never wait on it (the
                            // audio thread may be waiting on us).
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                call.emit(CallEvent::Error {
                                    code: ErrorCode::ValidationFailed,
                                    message: "audio is arriving faster than real time; the call is closed".into(),
                                })
                                .await;
                                break EndCause::Error;
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => fin_tx = None,
                        }
                    }
                }
                Some(CallInput::EndOfUtterance) => {
                    if let Some(tx) = &fin_tx { let _ = tx.send(FrontInput::EndOfUtterance).await; }
                }
                Some(CallInput::HangUp) | None => break EndCause::HangUp,
            },
            ev = fev_rx.recv(), if fin_tx.is_some() => match ev {
                Some(ev) => if let Some(cause) = call.front_event(ev).await { break cause },
                None => break EndCause::Error,
            },
            ev = next_stt(&mut call.recognizers) => {
                if let Some(cause) = call.stt_event(ev).await { break cause }
            },
            ev = next_speech(&mut call.speech, room) => match ev {
                SpeechEv::Play(item) => call.play(item).await,
                SpeechEv::Session(ev) => call.session_event(ev).await,
            },
            seen = watch_recv(&mut watch) => match seen {
                Watched::Relay(text) => call.relays.push_back(text),
                Watched::Ended => break EndCause::SessionEnded,
            },
            _ = tick.tick() => {
                if let Some(cause) = call.tick().await { break cause }
            },
        }
        if call.ended_by_session {
            break EndCause::SessionEnded;
        }
    };
    call.finish(cause).await;
    drop(fin_tx);
    drop(fev_rx);
    let _ = front_task.await;
    CallSummary { cause, turns: call.turns }
}

struct Recognizer {
    audio: Option<mpsc::Sender<AudioFrame>>,
    events: mpsc::Receiver<SttEvent>,
    last_voiced: Option<Instant>,
    decided: Option<Instant>,
    /// Work started in the caller's latest pause.
    preempt: Option<Preempt>,
    /// The pause's work became this utterance's: its transcript is the
    /// final one, and this is the reply audio it may have prepared.
    prepared: Option<JoinHandle<Option<Prepared>>>,
    preempted: bool,
}

/// Work started while the caller pauses, before the end of their turn is
/// sure: the transcript of the utterance so far and, when the agent's reply
/// to it is known without the model (a learned answer, a courtesy), that
/// reply's first clause as audio. Used only if the caller says no more;
/// dropped, and stopped, when they go on.
struct Preempt {
    events: Option<mpsc::Receiver<SttEvent>>,
    task: Option<JoinHandle<Option<Prepared>>>,
}

impl Drop for Preempt {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// What [`Call::ask`] needs of the utterance besides its words.
struct Asked {
    t0: Instant,
    decided: Option<Instant>,
    final_at: Instant,
    interrupt: bool,
    preempted: bool,
    prepared: Option<JoinHandle<Option<Prepared>>>,
}

/// A reply's first clause, being synthesised ahead of its turn: its audio
/// as it is made (a streaming voice's first frames are usable before its
/// last is made). Dropping it stops the synthesis.
struct Prepared {
    clause: String,
    items: mpsc::Receiver<PlayItem>,
}

async fn next_stt(q: &mut VecDeque<Recognizer>) -> Option<SttEvent> {
    match q.front_mut() {
        Some(r) => r.events.recv().await,
        None => std::future::pending().await,
    }
}

enum SpeechEv {
    Play(Option<PlayItem>),
    Session(Option<SessionEvent>),
}

/// The next synthesised audio (when there is room to send it) or the next
/// event of the reply being generated.
async fn next_speech(speech: &mut Option<Speech>, room: bool) -> SpeechEv {
    let Some(s) = speech.as_mut() else { return std::future::pending().await };
    let play_open = room && !s.tts_done;
    let session = async {
        match s.session_events.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        item = s.play_rx.recv(), if play_open => SpeechEv::Play(item),
        ev = session => SpeechEv::Session(ev),
    }
}

pub(crate) enum Watched {
    /// A supervisor's answer relayed into the session, to speak.
    Relay(String),
    /// The session ended (a supervisor, the idle reaper, shutdown).
    Ended,
}

/// What the session's watchers see that concerns the call.
pub(crate) async fn watch_recv(watch: &mut Option<tokio::sync::broadcast::Receiver<SessionEvent>>) -> Watched {
    let Some(rx) = watch.as_mut() else { return std::future::pending().await };
    loop {
        match rx.recv().await {
            Ok(SessionEvent::Turn { turn })
                if turn.role == TurnRole::Agent
                    && turn.grounding.as_ref().is_some_and(|g| g.decision == Decision::Relay) =>
            {
                return Watched::Relay(turn.text);
            }
            Ok(SessionEvent::Ended { .. }) => return Watched::Ended,
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                *watch = None;
                return Watched::Ended;
            }
        }
    }
}

struct Call {
    ctx: CallContext,
    out: mpsc::Sender<CallOutput>,
    playing: Arc<AtomicBool>,
    recognizers: VecDeque<Recognizer>,
    speech: Option<Speech>,
    paused: bool,
    relays: VecDeque<String>,
    last_heard: Instant,
    last_touch: Instant,
    last_filler: Option<usize>,
    turns: usize,
    language: String,
    hang_up_after_speech: bool,
    ended_by_session: bool,
    /// What the agent said lately (for telling its echo from the caller).
    recent_agent: VecDeque<String>,
}

impl Call {
    fn new(ctx: CallContext, out: mpsc::Sender<CallOutput>) -> Self {
        let language = ctx.config.language.clone().unwrap_or_else(|| "en".into());
        Self {
            ctx,
            out,
            playing: Arc::new(AtomicBool::new(false)),
            recognizers: VecDeque::new(),
            speech: None,
            paused: false,
            relays: VecDeque::new(),
            last_heard: Instant::now(),
            last_touch: Instant::now(),
            last_filler: None,
            turns: 0,
            language,
            hang_up_after_speech: false,
            ended_by_session: false,
            recent_agent: VecDeque::new(),
        }
    }

    async fn emit(&self, e: CallEvent) {
        let _ = self.out.send(CallOutput::Event(e)).await;
    }

    async fn error(&self, e: &(dyn Coded + Send + Sync)) {
        tracing::warn!(session = %self.ctx.session_id, error = %e, "call error");
        self.emit(CallEvent::Error { code: e.code(), message: e.public_message() }).await;
    }

    /// Whether `heard` is the agent's own recent words coming back through
    /// the microphone (only on transports that can echo).
    fn is_echo(&self, heard: &str) -> bool {
        if !self.ctx.config.echo_guard {
            return false;
        }
        let said: std::collections::HashSet<String> = self
            .recent_agent
            .iter()
            .chain(self.speech.iter().flat_map(|s| s.clauses.iter().map(|c| &c.text)))
            .flat_map(|t| words_of(t))
            .collect();
        let heard = words_of(heard);
        if heard.is_empty() {
            return false;
        }
        let known = heard.iter().filter(|w| said.contains(*w)).count();
        known as f64 / heard.len() as f64 >= 0.6
    }

    fn touch(&mut self) {
        // The session's idle reaper counts typed messages; a call in
        // progress is not idle while audio flows.
        if self.last_touch.elapsed() > Duration::from_secs(1) {
            self.ctx.sessions.touch(self.ctx.session_id);
            self.last_touch = Instant::now();
        }
    }

    /// Whether the next synthesised audio may go out now.
    fn room_to_send(&self) -> bool {
        match &self.speech {
            Some(s) if !self.paused && !s.tts_done => match s.clock {
                None => true,
                Some(c) => s.sent_secs < c.elapsed().as_secs_f64() + self.ctx.config.output_lead_ms / 1000.0,
            },
            _ => false,
        }
    }

    /// Starts saying `text` (a greeting, relay or filler).
    fn say(&mut self, kind: SpeechKind, text: String, turn_id: Option<Uuid>) {
        let mut s = self.start_speech(kind, None, None, Instant::now(), None);
        s.turn_id = turn_id;
        queue_clause(&mut s, text);
        // Nothing follows: the synthesiser ends after this clause.
        s.clause_tx = None;
        self.speech = Some(s);
    }

    fn start_speech(
        &mut self,
        kind: SpeechKind,
        handle: Option<TurnHandle>,
        events: Option<mpsc::UnboundedReceiver<SessionEvent>>,
        t0: Instant,
        prepared: Option<JoinHandle<Option<Prepared>>>,
    ) -> Speech {
        let (clause_tx, clause_rx) = mpsc::unbounded_channel();
        let (play_tx, play_rx) = mpsc::channel(16);
        let tts = self.ctx.engines.tts.clone();
        let synth =
            tokio::spawn(synthesize(tts, self.language.clone(), self.ctx.out_rate, clause_rx, play_tx, prepared));
        Speech::new(kind, handle, events, t0, Some(clause_tx), play_rx, synth)
    }

    /// Starts the work of a pause (see [`Preempt`]) on the utterance so far.
    fn preempt(&self, audio: AudioFrame) -> Preempt {
        let (tx, rx) = mpsc::channel(2);
        let stt = self.ctx.engines.stt.clone();
        let tts = self.ctx.engines.tts.clone();
        let sessions = self.ctx.sessions.clone();
        let out_rate = self.ctx.out_rate;
        let fixed = self.ctx.config.language.clone();
        let call_language = self.language.clone();
        let options =
            SttOptions { language: fixed.clone(), languages: self.ctx.config.languages.clone(), partial_every: None };
        let task = tokio::spawn(async move {
            let stream = match stt.stream(options).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(SttEvent::Error(e)).await;
                    return None;
                }
            };
            let _ = stream.audio.send(audio).await;
            drop(stream.audio);
            let mut events = stream.events;
            let t = loop {
                match events.recv().await? {
                    SttEvent::Final(t) => break t,
                    SttEvent::Partial(_) => {}
                    e @ SttEvent::Error(_) => {
                        let _ = tx.send(e).await;
                        return None;
                    }
                }
            };
            let (text, heard_language) = (t.text.clone(), t.language.clone());
            tx.send(SttEvent::Final(t)).await.ok()?;
            let reply = sessions.foresee(&text).await?;
            let mut splitter = ClauseSplitter::default();
            let clause = splitter.push(&reply).into_iter().next().or_else(|| splitter.finish())?;
            let language = fixed.or(heard_language).unwrap_or(call_language);
            let (clause_tx, clause_rx) = mpsc::unbounded_channel();
            // Room for a whole clause: synthesis goes on while the turn is
            // still being decided.
            let (play_tx, items) = mpsc::channel(1024);
            clause_tx.send((0, clause.clone())).ok()?;
            drop(clause_tx);
            tokio::spawn(synthesize(tts, language, out_rate, clause_rx, play_tx, None));
            Some(Prepared { clause, items })
        });
        Preempt { events: Some(rx), task: Some(task) }
    }

    async fn front_event(&mut self, ev: FrontEvent) -> Option<EndCause> {
        match ev {
            FrontEvent::SpeechStarted => {
                self.last_heard = Instant::now();
                let partial_every = (self.ctx.config.partial_every_ms > 0)
                    .then(|| Duration::from_millis(self.ctx.config.partial_every_ms));
                let options = SttOptions {
                    language: self.ctx.config.language.clone(),
                    languages: self.ctx.config.languages.clone(),
                    partial_every,
                };
                match self.ctx.engines.stt.stream(options).await {
                    Ok(s) => self.recognizers.push_back(Recognizer {
                        audio: Some(s.audio),
                        events: s.events,
                        last_voiced: None,
                        decided: None,
                        preempt: None,
                        prepared: None,
                        preempted: false,
                    }),
                    Err(e) => {
                        self.error(&e).await;
                        return ends_call(&e).then_some(EndCause::Error);
                    }
                }
                // Someone speaks over the agent: stop at once, decide later
                // whether it was words.
                if !self.ctx.config.echo_guard
                    && self.speech.as_ref().is_some_and(|s| s.clock.is_some() && !s.tts_done)
                    && !self.paused
                {
                    self.paused = true;
                    self.playing.store(false, Ordering::Relaxed);
                    self.emit(CallEvent::Paused).await;
                }
            }
            FrontEvent::Speech(frame) => {
                self.last_heard = Instant::now();
                if let Some(r) = self.recognizers.back_mut()
                    && let Some(tx) = &r.audio
                    && tx.send(frame).await.is_err()
                {
                    r.audio = None;
                }
            }
            FrontEvent::SpeechEnded { last_voiced, decided, why } => {
                if why == EndReason::TooLong {
                    self.emit(CallEvent::Error {
                        code: ErrorCode::ValidationFailed,
                        message: format!(
                            "the utterance went on for {} s, the most one turn takes; answering what was said",
                            self.ctx.config.max_utterance_secs
                        ),
                    })
                    .await;
                }
                if let Some(r) = self.recognizers.back_mut() {
                    r.audio = None; // the end of the utterance for the recogniser
                    r.last_voiced = Some(last_voiced);
                    r.decided = Some(decided);
                    // Nothing was said after the pause: its transcript is the
                    // utterance's (the recogniser's own final, which would
                    // be the same words, is not waited for).
                    if matches!(why, EndReason::Silence | EndReason::TurnModel)
                        && let Some(mut p) = r.preempt.take()
                        && let Some(events) = p.events.take()
                    {
                        r.events = events;
                        r.prepared = p.task.take();
                        r.preempted = true;
                    }
                    r.preempt = None;
                }
            }
            FrontEvent::Paused(audio) => {
                if self.recognizers.back().is_some_and(|r| r.audio.is_some()) {
                    let p = self.preempt(audio);
                    if let Some(r) = self.recognizers.back_mut() {
                        r.preempt = Some(p);
                    }
                }
            }
            FrontEvent::Resumed => {
                if let Some(r) = self.recognizers.back_mut() {
                    r.preempt = None;
                }
            }
            FrontEvent::Error(e) => {
                self.error(&e).await;
                return Some(EndCause::Error);
            }
        }
        None
    }

    async fn stt_event(&mut self, ev: Option<SttEvent>) -> Option<EndCause> {
        match ev {
            Some(SttEvent::Partial(t)) => {
                // Real words (two or more, not a backchannel) over the agent.
                let words = t.has_words()
                    && !is_backchannel(&t.text)
                    && t.text.split_whitespace().count() >= 2
                    && !self.is_echo(&t.text);
                if t.has_words() && !self.is_echo(&t.text) {
                    self.ctx.sessions.hearing(self.ctx.session_id, &t.text);
                }
                self.emit(CallEvent::Transcript {
                    text: t.text,
                    is_final: false,
                    language: t.language,
                    confidence: t.confidence,
                })
                .await;
                let speaking = self.speech.as_ref().is_some_and(|s| s.clock.is_some());
                if words && (self.paused || (self.ctx.config.echo_guard && speaking)) {
                    // Real words: the agent stops for good, without waiting
                    // for the caller to finish.
                    self.cut().await;
                }
                None
            }
            Some(SttEvent::Final(t)) => {
                let r = self.recognizers.pop_front();
                let final_at = Instant::now();
                // Over the agent's voice, "mm-hm" or "okay" is listening, not
                // taking the turn.
                let over_agent = self.paused || self.speech.as_ref().is_some_and(|s| s.clock.is_some());
                if !t.has_words() || (over_agent && is_backchannel(&t.text)) || self.is_echo(&t.text) {
                    if self.paused {
                        self.resume().await;
                    }
                    return None;
                }
                self.emit(CallEvent::Transcript {
                    text: t.text.clone(),
                    is_final: true,
                    language: t.language.clone(),
                    confidence: t.confidence,
                })
                .await;
                if let Some(l) = &t.language
                    && self.ctx.config.language.is_none()
                {
                    self.language = l.clone();
                }
                let interrupting =
                    self.speech.as_ref().is_some_and(|s| s.kind == SpeechKind::Reply || s.clock.is_some());
                if interrupting {
                    self.cut().await;
                }
                let t0 = r.as_ref().and_then(|r| r.last_voiced).unwrap_or(final_at);
                let decided = r.as_ref().and_then(|r| r.decided);
                let preempted = r.as_ref().is_some_and(|r| r.preempted);
                let prepared = r.and_then(|mut r| r.prepared.take());
                let input = TurnInput::Transcribed { confidence: t.confidence, language: t.language };
                let asked = Asked { t0, decided, final_at, interrupt: interrupting, preempted, prepared };
                self.ask(t.text, input, asked).await
            }
            Some(SttEvent::Error(e)) => {
                self.recognizers.pop_front();
                self.error(&e).await;
                if self.paused {
                    self.resume().await;
                }
                ends_call(&e).then_some(EndCause::Error)
            }
            None => {
                self.recognizers.pop_front();
                None
            }
        }
    }

    async fn ask(&mut self, text: String, input: TurnInput, a: Asked) -> Option<EndCause> {
        let message = CallerMessage { text, input, interrupt: a.interrupt };
        let sent_at = Instant::now();
        match self.ctx.sessions.send_message(self.ctx.session_id, message).await {
            Ok((events, handle)) => {
                self.turns += 1;
                let mut s = self.start_speech(SpeechKind::Reply, Some(handle), Some(events), a.t0, a.prepared);
                s.decided = a.decided;
                s.final_at = Some(a.final_at);
                s.sent_at = Some(sent_at);
                s.preempted = a.preempted;
                self.speech = Some(s);
                None
            }
            Err(e) => {
                self.error(&e).await;
                matches!(e, SessionError::Ended | SessionError::NotFound | SessionError::ShuttingDown)
                    .then_some(EndCause::SessionEnded)
            }
        }
    }

    async fn session_event(&mut self, ev: Option<SessionEvent>) {
        let Some(s) = self.speech.as_mut() else { return };
        match ev {
            Some(SessionEvent::Token { turn_id, text }) => {
                s.turn_id = Some(turn_id);
                s.streamed_any = true;
                for clause in s.splitter.push(&text) {
                    queue_clause(s, clause);
                }
            }
            Some(SessionEvent::Turn { turn }) if turn.role == TurnRole::Agent => {
                if !s.streamed_any {
                    s.turn_id = Some(turn.id);
                    queue_clause(s, turn.text.clone());
                    s.streamed_any = true;
                }
                if turn.text == self.ctx.sessions.rendered().phrases.goodbye {
                    self.hang_up_after_speech = true;
                }
                s.stored = Some(turn);
            }
            Some(SessionEvent::Turn { .. } | SessionEvent::Error { .. } | SessionEvent::Hearing { .. }) => {}
            Some(SessionEvent::Ended { .. }) => self.ended_by_session = true,
            None => {
                // The turn is over: say what is left, then let the
                // synthesiser finish.
                if let Some(rest) = s.splitter.finish() {
                    queue_clause(s, rest);
                }
                s.session_events = None;
                s.clause_tx = None;
            }
        }
    }

    async fn play(&mut self, item: Option<PlayItem>) {
        let Some(s) = self.speech.as_mut() else { return };
        match item {
            Some(PlayItem::Audio { clause, frame, made }) => {
                let now = Instant::now();
                if s.first_audio.is_none() {
                    s.first_audio = Some(made);
                }
                if s.clock.is_none() {
                    s.clock = Some(now);
                    s.first_sent = Some(now);
                    self.playing.store(true, Ordering::Relaxed);
                }
                if let Some(c) = s.clauses.get_mut(clause) {
                    c.sent += frame.samples.len();
                    c.total = c.total.max(c.sent);
                }
                s.sent_secs += frame.seconds();
                let text_now = s.clauses.get(clause).filter(|c| c.sent == frame.samples.len()).map(|c| c.text.clone());
                let turn_id = s.turn_id;
                let _ = self.out.send(CallOutput::Audio(frame)).await;
                if let Some(text) = text_now {
                    self.emit(CallEvent::AgentText { turn_id, text }).await;
                }
            }
            Some(PlayItem::ClauseEnd { clause }) => {
                if let Some(c) = s.clauses.get_mut(clause) {
                    c.complete = true;
                }
            }
            Some(PlayItem::Failed(e)) => {
                self.error(&e).await;
            }
            None => s.tts_done = true,
        }
    }

    /// Time passes: finish a reply whose audio has played, say fillers and
    /// waiting relays, hang up after silence.
    async fn tick(&mut self) -> Option<EndCause> {
        let lead = self.ctx.config.output_lead_ms / 1000.0;
        if let Some(s) = &self.speech
            && s.finished()
            && s.clock.is_none_or(|c| c.elapsed().as_secs_f64() + lead >= s.sent_secs)
        {
            let s = self.speech.take().expect("checked");
            self.remember(&s);
            self.playing.store(false, Ordering::Relaxed);
            self.paused = false;
            if s.clock.is_some() {
                self.emit(CallEvent::AudioEnd).await;
            }
            if s.kind == SpeechKind::Reply {
                self.report(&s).await;
            }
            if self.hang_up_after_speech {
                return Some(EndCause::Goodbye);
            }
        }
        // A filler when the reply is slow to start.
        let filler_after = self.ctx.config.filler_after_ms;
        if let Some(s) = self.speech.as_mut()
            && s.kind == SpeechKind::Reply
            && filler_after > 0
            && !s.filler_said
            && s.clock.is_none()
            && s.clauses.is_empty()
            && s.sent_at.is_some_and(|t| t.elapsed() > Duration::from_millis(filler_after))
        {
            // Counted from when the agent got the words: the caller has
            // waited that long for an answer.
            s.filler_said = true;
            let fillers = self.ctx.sessions.rendered().phrases.fillers.clone();
            if !fillers.is_empty() {
                let pick = pick_filler(fillers.len(), self.last_filler);
                self.last_filler = Some(pick);
                queue_clause(s, fillers[pick].clone());
                if let Some(c) = s.clauses.last_mut() {
                    c.filler = true;
                }
            }
        }
        if self.speech.is_none()
            && self.recognizers.is_empty()
            && let Some(text) = self.relays.pop_front()
        {
            self.say(SpeechKind::Relay, text, None);
        }
        if self.speech.is_none()
            && self.recognizers.is_empty()
            && self.last_heard.elapsed().as_secs_f64() > self.ctx.config.idle_hangup_secs
        {
            return Some(EndCause::Silence);
        }
        None
    }

    async fn resume(&mut self) {
        self.paused = false;
        if let Some(s) = self.speech.as_mut()
            && let Some(c) = s.clock
        {
            // Restart the playback clock where the audio stopped.
            let played = c.elapsed().as_secs_f64();
            if played > s.sent_secs {
                s.clock = Some(Instant::now() - Duration::from_secs_f64(s.sent_secs));
            }
            self.playing.store(true, Ordering::Relaxed);
        }
        self.emit(CallEvent::Resumed).await;
    }

    /// The caller cut in with words: stop the agent and keep, in the
    /// transcript, only what they heard.
    async fn cut(&mut self) {
        self.paused = false;
        self.playing.store(false, Ordering::Relaxed);
        let Some(mut s) = self.speech.take() else { return };
        self.remember(&s);
        s.synth.abort();
        let heard = s.heard();
        if let Some(h) = &s.handle {
            h.interrupt(Some(heard.clone()));
        }
        // Already stored in full (generation ended before playback did).
        if let Some(turn) = &s.stored
            && heard.trim() != turn.text.trim()
            && let Err(e) = self.ctx.sessions.cut_turn(turn.id, &heard).await
        {
            tracing::warn!(error = %e, "could not cut the stored turn");
        }
        // Let the session store the cut turn before the next one starts.
        if let Some(mut rx) = s.session_events.take() {
            let wait = async {
                while let Some(ev) = rx.recv().await {
                    if let SessionEvent::Turn { turn } = ev
                        && turn.role == TurnRole::Agent
                    {
                        s.stored = Some(turn);
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
        if s.kind == SpeechKind::Reply {
            self.report(&s).await;
        }
        self.emit(CallEvent::Interrupted { heard }).await;
    }

    fn remember(&mut self, s: &Speech) {
        let text: Vec<&str> = s.clauses.iter().map(|c| c.text.as_str()).collect();
        self.recent_agent.push_back(text.join(" "));
        while self.recent_agent.len() > 2 {
            self.recent_agent.pop_front();
        }
    }

    /// Stores a spoken reply's timings with its turn and reports them.
    async fn report(&self, s: &Speech) {
        let Some(turn) = &s.stored else { return };
        let ms = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(s.t0).as_secs_f64() * 1000.0);
        let mut timings = turn.timings.clone().unwrap_or_default();
        // The session measures from when it got the message; the call
        // measures from the end of the caller's speech.
        let offset = ms(s.sent_at).unwrap_or(0.0);
        let shift = |v: Option<f64>| v.map(|v| v + offset);
        timings.retrieval_ms = shift(timings.retrieval_ms);
        timings.first_token_ms = shift(timings.first_token_ms);
        timings.total_ms = shift(timings.total_ms);
        timings.end_of_turn_ms = ms(s.decided);
        timings.transcript_final_ms = ms(s.final_at);
        timings.first_audio_ms = ms(s.first_audio);
        timings.playback_start_ms = ms(s.first_sent);
        timings.preempted = s.preempted.then_some(true);
        if let Err(e) = self.ctx.sessions.set_turn_timings(turn.id, &timings).await {
            tracing::debug!(error = %e, "turn timings not stored");
        }
        self.emit(CallEvent::Latency { turn_id: turn.id, timings }).await;
    }

    async fn finish(&mut self, cause: EndCause) {
        if self.speech.as_ref().is_some_and(|s| s.kind == SpeechKind::Reply) {
            self.cut().await;
        }
        if let Some(s) = self.speech.take() {
            s.synth.abort();
        }
        let usage = self.ctx.usage.snapshot();
        if !usage.is_empty()
            && let Err(e) = self.ctx.sessions.add_usage(self.ctx.session_id, &usage).await
        {
            tracing::warn!(error = %e, "the call's cloud usage was not stored");
        }
        if cause != EndCause::SessionEnded
            && cause != EndCause::Shutdown
            && let Err(e) = self.ctx.sessions.end(self.ctx.session_id).await
            && !matches!(e, SessionError::Ended)
        {
            tracing::warn!(error = %e, "call session did not end cleanly");
        }
        self.emit(CallEvent::Ended { reason: cause }).await;
    }
}

/// A recogniser without a usable model fails every utterance the same way:
/// the call ends rather than erroring on each.
fn ends_call(e: &SpeechError) -> bool {
    matches!(e, SpeechError::ModelMissing { .. } | SpeechError::ModelCorrupt(_))
}

fn queue_clause(s: &mut Speech, text: String) {
    let Some(tx) = &s.clause_tx else { return };
    let idx = s.clauses.len();
    s.clauses.push(ClauseProgress { text: text.clone(), ..Default::default() });
    let _ = tx.send((idx, text));
}

fn words_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Words a listener says to show they are listening; over the agent's
/// voice they do not take the turn.
pub fn is_backchannel(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "mm", "mmm", "hmm", "hm", "mhm", "mm-hm", "mm-hmm", "uh-huh", "uh", "um", "ah", "oh", "okay", "ok", "yeah",
        "yes", "yep", "right", "sure", "i", "see", "got", "it", "haan", "ji", "accha",
    ];
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    !words.is_empty() && words.len() <= 3 && words.iter().all(|w| WORDS.contains(&w.as_str()) || is_hum(w))
}

/// A hum however a recogniser spells it: "mmm", "hmmm", "mm-m-m-m", "uh-huh".
fn is_hum(word: &str) -> bool {
    let syllable = |p: &str| {
        (!p.is_empty() && p.len() <= 12 && p.chars().all(|c| matches!(c, 'm' | 'h')) && p.contains('m'))
            || matches!(p, "uh" | "huh" | "ah" | "oh" | "um" | "uhm" | "hmm")
    };
    word.split('-').filter(|p| !p.is_empty()).all(syllable) && word.chars().any(|c| c.is_alphabetic())
}

/// A filler other than the last one said.
fn pick_filler(n: usize, last: Option<usize>) -> usize {
    if n <= 1 {
        return 0;
    }
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
        as usize;
    let mut pick = seed % n;
    if Some(pick) == last {
        pick = (pick + 1) % n;
    }
    pick
}

/// The voice to read `text` with: the call's language when the text is
/// written in that language's script, else the language its script says
/// (an English fixed sentence in a Hindi call is read in English, a Bengali
/// answer in an English call in Bengali), else English.
fn voice_for(text: &str, call_language: &str, supports: impl Fn(&str) -> bool) -> String {
    let script = text.chars().find_map(|c| match c as u32 {
        0x0900..=0x097F => Some("deva"),
        0x0980..=0x09FF => Some("beng"),
        _ if c.is_ascii_alphabetic() => Some("latn"),
        _ => None,
    });
    let wanted = match (script, call_language) {
        (Some("deva"), l @ ("hi" | "mr")) => l,
        (Some("deva"), _) => "hi",
        (Some("beng"), _) => "bn",
        (Some("latn"), l) if !matches!(l, "hi" | "mr" | "bn") => l,
        (Some("latn"), _) => "en",
        (_, l) => l,
    };
    if supports(wanted) { wanted.to_string() } else { "en".to_string() }
}

/// Speaks clauses one after another, resampled to the transport's rate (on
/// blocking threads), into the playback queue.
/// `prepared`: the first clause's audio made during the caller's pause, used
/// when the reply does start with that clause.
async fn synthesize(
    tts: Arc<dyn TextToSpeech>,
    language: String,
    out_rate: u32,
    mut clauses: mpsc::UnboundedReceiver<(usize, String)>,
    play: mpsc::Sender<PlayItem>,
    mut prepared: Option<JoinHandle<Option<Prepared>>>,
) {
    while let Some((idx, text)) = clauses.recv().await {
        // Still being made, it is waited for: synthesising the same clause
        // twice at once would only slow both.
        if let Some(task) = prepared.take()
            && let Ok(Some(mut p)) = task.await
            && p.clause == text
        {
            while let Some(item) = p.items.recv().await {
                let item = match item {
                    PlayItem::Audio { frame, .. } => PlayItem::Audio { clause: idx, frame, made: Instant::now() },
                    PlayItem::ClauseEnd { .. } => PlayItem::ClauseEnd { clause: idx },
                    other => other,
                };
                if play.send(item).await.is_err() {
                    return;
                }
            }
            continue;
        }
        let voice = voice_for(&text, &language, |l| tts.supports(l));
        let mut stream = match tts.speak(&text, &voice).await {
            Ok(s) => s,
            Err(e) => {
                let _ = play.send(PlayItem::Failed(e)).await;
                let _ = play.send(PlayItem::ClauseEnd { clause: idx }).await;
                continue;
            }
        };
        let mut resampler: Option<Resampler> = None;
        while let Some(item) = stream.recv().await {
            let made = Instant::now();
            let frame = match item {
                Ok(f) => f,
                Err(e) => {
                    let _ = play.send(PlayItem::Failed(e)).await;
                    break;
                }
            };
            let frame = if frame.rate == out_rate {
                frame
            } else {
                let r = match resampler.take() {
                    Some(r) if r.from() == frame.rate => r,
                    _ => match Resampler::new(frame.rate, out_rate) {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = play.send(PlayItem::Failed(e)).await;
                            break;
                        }
                    },
                };
                let Ok((r, out)) = tokio::task::spawn_blocking(move || {
                    let mut r = r;
                    let out = r.push(&frame.samples);
                    (r, out)
                })
                .await
                else {
                    return;
                };
                resampler = Some(r);
                AudioFrame::new(out_rate, out)
            };
            if frame.samples.is_empty() {
                continue;
            }
            if play.send(PlayItem::Audio { clause: idx, frame, made }).await.is_err() {
                return;
            }
        }
        if let Some(mut r) = resampler.take() {
            let tail = r.flush();
            if !tail.is_empty()
                && play
                    .send(PlayItem::Audio { clause: idx, frame: AudioFrame::new(out_rate, tail), made: Instant::now() })
                    .await
                    .is_err()
            {
                return;
            }
        }
        if play.send(PlayItem::ClauseEnd { clause: idx }).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(text: &str, total: usize, sent: usize, complete: bool, filler: bool) -> ClauseProgress {
        ClauseProgress { text: text.into(), filler, total, sent, complete }
    }

    fn heard(clauses: Vec<ClauseProgress>) -> String {
        let (_tx, play_rx) = mpsc::channel(1);
        let mut s = Speech::new(SpeechKind::Reply, None, None, Instant::now(), None, play_rx, tokio::spawn(async {}));
        s.clauses = clauses;
        s.heard()
    }

    #[tokio::test]
    async fn what_was_heard_is_whole_clauses_then_words_in_proportion_and_never_a_filler() {
        let got = heard(vec![
            clause("One moment please.", 100, 100, true, true),
            clause("We open at nine.", 100, 100, true, false),
            clause("On Sundays we are closed all day.", 700, 350, false, false),
            clause("Anything else?", 100, 0, false, false),
        ]);
        assert_eq!(got, "We open at nine. On Sundays we");
        assert_eq!(heard(vec![clause("Hello there.", 100, 0, false, false)]), "");
    }

    #[test]
    fn each_clause_is_read_in_the_voice_of_its_script() {
        let all = |l: &str| ["en", "hi", "bn", "mr"].contains(&l);
        assert_eq!(voice_for("हम नौ बजे खुलते हैं।", "hi", all), "hi");
        assert_eq!(voice_for("आम्ही नऊ वाजता उघडतो.", "mr", all), "mr");
        assert_eq!(voice_for("Let me check with a colleague.", "hi", all), "en");
        assert_eq!(voice_for("আমরা নটায় খুলি।", "en", all), "bn");
        assert_eq!(voice_for("हम नौ बजे खुलते हैं।", "en", all), "hi");
        assert_eq!(voice_for("42!", "bn", all), "bn");
        assert_eq!(voice_for("Hola.", "es", all), "en", "no Spanish voice: English");
        assert_eq!(voice_for("हम नौ बजे", "hi", |l| l == "en"), "en");
    }

    #[test]
    fn a_filler_is_never_the_same_twice_in_a_row() {
        let mut last = None;
        for _ in 0..200 {
            let p = pick_filler(4, last);
            assert!(p < 4);
            assert_ne!(Some(p), last);
            last = Some(p);
        }
        assert_eq!(pick_filler(1, Some(0)), 0);
    }

    #[test]
    fn backchannels_are_short_listening_words() {
        for b in ["Mm-hmm.", "mm hmm", "Okay.", "Yeah, yeah.", "uh-huh", "Right.", "Mm-m-m-m-m-m-m-m-", "Hmmmm."] {
            assert!(is_backchannel(b), "{b}");
        }
        for w in ["Wait, is there a bus?", "No", "Yes I want to book a haircut", "", "Hmm, how much?", "Man", "Mohan"] {
            assert!(!is_backchannel(w), "{w}");
        }
    }
}
