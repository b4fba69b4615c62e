//! The agent in a room: it joins as a participant, transcribes every
//! speaker on their own, and in an agent room talks with the caller through
//! the same call loop as browser and microphone calls.
//!
//! Invariants:
//! - One transcriber (or call) per remote audio track: a line's speaker is
//!   the identity whose track it came from, never a guess.
//! - One participant's failure (their engine, their leaving) ends only
//!   their transcriber; the room goes on.
//! - A room's transcript outlives the agent's stay: it can be exported
//!   after the agent leaves, and grows again if the agent rejoins.
//! - Every task a room starts is owned by that room's task, which is owned
//!   by [`RoomAgents`]; `shutdown` cancels and awaits them all.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_call::transcriber::{self, Heard};
use switchboard_call::{CallConfig, CallContext, CallEngines, CallEvent, CallInput, CallOutput};
use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::session::{Channel, NewSession};
use switchboard_core::speech::{AudioFrame, Usage};
use switchboard_interview::{
    EvaluationWindow, Speaker, SpeakerRole, Transcript, TranscriptLine, WindowBuffer, WindowConfig,
};
use switchboard_session::Sessions;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ffi::Ffi;
use crate::room::{AudioOut, ROOM_RATE, RemoteAudio, Room, RoomUpdate};
use crate::{LiveKit, LiveKitError, ParticipantRole, validate_name};

/// The identity the agent joins with.
pub const AGENT_IDENTITY: &str = "switchboard-agent";

/// What the agent does in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomAgentMode {
    /// Talks with the caller (the first participant who speaks).
    Agent,
    /// Only listens and transcribes everyone (interviews).
    Transcribe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomAgentState {
    InRoom,
    Left,
    /// The connection failed or dropped; `error` says how.
    Failed,
}

/// The agent's state in one room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomAgentStatus {
    pub room: String,
    pub mode: RoomAgentMode,
    pub state: RoomAgentState,
    /// The session of the caller the agent talks with (agent rooms).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub session_id: Option<Uuid>,
    /// Identities whose audio is being transcribed now.
    pub listening_to: Vec<String>,
    pub error: Option<String>,
}

/// What watchers of a room's transcript receive.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RoomLive {
    /// A final line; `latency_ms`: from the end of the speech to its
    /// transcript (none for the agent's own lines).
    Line {
        line: TranscriptLine,
        speaker_name: String,
        latency_ms: Option<u64>,
    },
    Window {
        window: EvaluationWindow,
    },
    /// A speaker joined or was renamed.
    Speaker {
        speaker: Speaker,
    },
    Status {
        status: RoomAgentStatus,
    },
}

struct RoomState {
    transcript: Mutex<Transcript>,
    windows: Mutex<WindowBuffer>,
    live: broadcast::Sender<RoomLive>,
    /// Time zero of the transcript.
    origin: Instant,
    status: Mutex<RoomAgentStatus>,
    stop: Mutex<Option<CancellationToken>>,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl RoomState {
    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64
    }

    fn speaker(&self, identity: &str, name: &str, role: SpeakerRole) {
        let speaker = {
            let mut t = self.transcript.lock().unwrap_or_else(|e| e.into_inner());
            if t.speaker(identity).is_some() {
                return;
            }
            t.add_speaker(identity, name, role);
            t.speaker(identity).cloned()
        };
        if let Some(speaker) = speaker {
            let _ = self.live.send(RoomLive::Speaker { speaker });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn line(
        &self,
        events: &EventBus,
        room: &str,
        identity: &str,
        text: &str,
        start: u64,
        end: u64,
        latency_ms: Option<u64>,
    ) {
        let (line, name, window) = {
            let mut t = self.transcript.lock().unwrap_or_else(|e| e.into_inner());
            let seq = t.push(TranscriptLine::new(identity, text, start, end.max(start)));
            let line = t.lines().iter().find(|l| l.seq == seq).cloned().expect("just pushed");
            let name = t.display_name(identity).to_string();
            let window = self.windows.lock().unwrap_or_else(|e| e.into_inner()).push(&line);
            (line, name, window)
        };
        let _ = self.live.send(RoomLive::Line { line, speaker_name: name, latency_ms });
        if let Some(w) = window {
            self.window(events, room, w);
        }
    }

    fn window(&self, events: &EventBus, room: &str, window: EvaluationWindow) {
        events.publish(EventKind::InterviewWindow { room: room.to_string(), window: window.clone() });
        let _ = self.live.send(RoomLive::Window { window });
    }

    fn set_status(&self, f: impl FnOnce(&mut RoomAgentStatus)) {
        let status = {
            let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut s);
            s.clone()
        };
        let _ = self.live.send(RoomLive::Status { status });
    }
}

/// The agent's rooms.
#[derive(Clone)]
pub struct RoomAgents {
    inner: Arc<Inner>,
}

struct Inner {
    livekit: LiveKit,
    sessions: Sessions,
    events: EventBus,
    library: RwLock<PathBuf>,
    windows: WindowConfig,
    rooms: Mutex<HashMap<String, Arc<RoomState>>>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// Makes the engines for one participant: for the call with a session
/// (agent mode, the engines' switch noted in its transcript) or for a
/// transcript (none), counting cloud audio into the usage given.
pub type EngineFactory = Arc<dyn Fn(Option<Uuid>, &Usage) -> CallEngines + Send + Sync>;

/// Makes the voice-to-voice service a call in a room runs on, if one is
/// chosen, counting into the usage given.
pub type VoiceAgentFactory =
    Arc<dyn Fn(&Usage) -> Option<Arc<dyn switchboard_cloud_voice::agent::VoiceAgent>> + Send + Sync>;

/// What joining needs from the app besides the room.
pub struct JoinWith {
    pub engines: EngineFactory,
    pub voice_agent: VoiceAgentFactory,
    pub call: CallConfig,
}

impl RoomAgents {
    pub fn new(
        livekit: LiveKit,
        sessions: Sessions,
        events: EventBus,
        library: PathBuf,
        windows: WindowConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                livekit,
                sessions,
                events,
                library: RwLock::new(library),
                windows,
                rooms: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                shutdown,
            }),
        }
    }

    pub fn set_library(&self, path: PathBuf) {
        *self.inner.library.write().unwrap_or_else(|e| e.into_inner()) = path;
    }

    fn state(&self, room: &str) -> Option<Arc<RoomState>> {
        self.inner.rooms.lock().unwrap_or_else(|e| e.into_inner()).get(room).cloned()
    }

    /// Sends the agent into `room`. Returns once it is in (or failed to get in).
    pub async fn join(&self, room: &str, mode: RoomAgentMode, with: JoinWith) -> Result<RoomAgentStatus, LiveKitError> {
        validate_name("room_name", room)?;
        let inner = &self.inner;
        if inner.shutdown.is_cancelled() {
            return Err(LiveKitError::AgentState("the app is shutting down".into()));
        }
        let state = {
            let mut rooms = inner.rooms.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = rooms.get(room)
                && s.stop.lock().unwrap_or_else(|e| e.into_inner()).is_some()
            {
                return Err(LiveKitError::AgentState(format!("the agent is already in room `{room}`")));
            }
            let state = rooms.entry(room.to_string()).or_insert_with(|| {
                Arc::new(RoomState {
                    transcript: Mutex::new(Transcript::new()),
                    windows: Mutex::new(WindowBuffer::new(inner.windows).unwrap_or_else(|_| {
                        WindowBuffer::new(WindowConfig::default()).expect("the default window config is valid")
                    })),
                    live: broadcast::channel(1024).0,
                    origin: Instant::now(),
                    status: Mutex::new(RoomAgentStatus {
                        room: room.to_string(),
                        mode,
                        state: RoomAgentState::Left,
                        session_id: None,
                        listening_to: Vec::new(),
                        error: None,
                    }),
                    stop: Mutex::new(None),
                    done: Mutex::new(None),
                })
            });
            // Claimed: a second join now sees it taken.
            *state.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(inner.shutdown.child_token());
            state.clone()
        };
        let release = |state: &RoomState| {
            *state.stop.lock().unwrap_or_else(|e| e.into_inner()) = None;
        };
        let connected = async {
            let grant = inner.livekit.token(
                room,
                AGENT_IDENTITY,
                Some("Switchboard agent"),
                ParticipantRole::Agent,
                Duration::from_secs(600),
            )?;
            let path = inner.library.read().unwrap_or_else(|e| e.into_inner()).clone();
            let ffi = tokio::task::spawn_blocking(move || Ffi::load(&path))
                .await
                .map_err(|_| LiveKitError::Library("the library loader thread failed".into()))??;
            let url = ws_url(&grant.url);
            let (room_conn, updates) = Room::connect(ffi, &url, &grant.token, Duration::from_secs(10)).await?;
            let out = match mode {
                RoomAgentMode::Agent => Some(room_conn.publish_audio("agent-voice", ROOM_RATE).await?),
                RoomAgentMode::Transcribe => None,
            };
            Ok::<_, LiveKitError>((room_conn, updates, out))
        }
        .await;
        let (room_conn, updates, out) = match connected {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(room, error = %e, "the agent could not join");
                release(&state);
                state.set_status(|s| {
                    s.mode = mode;
                    s.state = RoomAgentState::Failed;
                    s.error = Some(coded_message(&e));
                });
                return Err(e);
            }
        };
        state.speaker(AGENT_IDENTITY, "Agent", SpeakerRole::Agent);
        for p in &room_conn.present {
            state.speaker(&p.identity, &p.name, role_of(&p.metadata));
        }
        state.set_status(|s| {
            s.mode = mode;
            s.state = RoomAgentState::InRoom;
            s.session_id = None;
            s.listening_to.clear();
            s.error = None;
        });
        let stop = state.stop.lock().unwrap_or_else(|e| e.into_inner()).clone().expect("claimed above");
        let ctx = RoomCtx {
            room: room.to_string(),
            mode,
            state: state.clone(),
            sessions: inner.sessions.clone(),
            events: inner.events.clone(),
            with,
            out: out.map(Arc::new),
        };
        let task = inner.tasks.spawn(async move {
            let outcome = run_room(ctx, room_conn, updates, stop).await;
            release(&state);
            state.set_status(|s| {
                s.listening_to.clear();
                match outcome {
                    Ok(()) => s.state = RoomAgentState::Left,
                    Err(reason) => {
                        s.state = RoomAgentState::Failed;
                        s.error = Some(reason);
                    }
                }
            });
            let last = state.windows.lock().unwrap_or_else(|e| e.into_inner()).finish();
            if let Some(w) = last {
                let _ = state.live.send(RoomLive::Window { window: w });
            }
        });
        *self.state(room).expect("inserted").done.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(self.status(room).expect("inserted"))
    }

    /// Takes the agent out of `room`; its transcript stays.
    pub async fn leave(&self, room: &str) -> Result<RoomAgentStatus, LiveKitError> {
        validate_name("room_name", room)?;
        let state =
            self.state(room).ok_or_else(|| LiveKitError::AgentState(format!("the agent is not in room `{room}`")))?;
        let stop = state.stop.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(stop) = stop else {
            return Err(LiveKitError::AgentState(format!("the agent is not in room `{room}`")));
        };
        stop.cancel();
        let done = state.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            let _ = tokio::time::timeout(Duration::from_secs(15), done).await;
        }
        Ok(self.status(room).expect("known room"))
    }

    pub fn status(&self, room: &str) -> Option<RoomAgentStatus> {
        self.state(room).map(|s| s.status.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    pub fn transcript(&self, room: &str) -> Option<Transcript> {
        self.state(room).map(|s| s.transcript.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// The transcript so far and the live feed after it, with nothing lost
    /// between the two.
    pub fn watch(&self, room: &str) -> Option<(Transcript, RoomAgentStatus, broadcast::Receiver<RoomLive>)> {
        let s = self.state(room)?;
        let t = s.transcript.lock().unwrap_or_else(|e| e.into_inner());
        let rx = s.live.subscribe();
        let status = s.status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some((t.clone(), status, rx))
    }

    pub fn rename(&self, room: &str, identity: &str, name: &str) -> Result<Speaker, LiveKitError> {
        let s = self.state(room).ok_or_else(|| LiveKitError::NoSuchRoom(room.to_string()))?;
        let speaker = {
            let mut t = s.transcript.lock().unwrap_or_else(|e| e.into_inner());
            t.rename(identity, name).map_err(|e| match e {
                switchboard_interview::InterviewError::NotFound { .. } => {
                    LiveKitError::NoSuchSpeaker(identity.to_string())
                }
                other => LiveKitError::Invalid(other.to_string()),
            })?;
            t.speaker(identity).cloned().expect("renamed")
        };
        let _ = s.live.send(RoomLive::Speaker { speaker: speaker.clone() });
        Ok(speaker)
    }

    /// Every room the agent is or was in.
    pub fn list(&self) -> Vec<RoomAgentStatus> {
        let rooms: Vec<Arc<RoomState>> =
            self.inner.rooms.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut out: Vec<RoomAgentStatus> =
            rooms.iter().map(|s| s.status.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect();
        out.sort_by(|a, b| a.room.cmp(&b.room));
        out
    }

    /// Leaves every room and waits for every task.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

/// The signalling URL: clients accept `http(s)://` for `ws(s)://`.
fn ws_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        url.to_string()
    }
}

fn coded_message(e: &LiveKitError) -> String {
    use switchboard_core::Coded;
    e.public_message()
}

/// The role our tokens put in the participant's metadata.
fn role_of(metadata: &str) -> SpeakerRole {
    #[derive(Deserialize)]
    struct Meta {
        role: Option<String>,
    }
    match serde_json::from_str::<Meta>(metadata).ok().and_then(|m| m.role).as_deref() {
        Some("interviewer") => SpeakerRole::Interviewer,
        Some("candidate") => SpeakerRole::Candidate,
        Some("agent") => SpeakerRole::Agent,
        _ => SpeakerRole::Participant,
    }
}

struct RoomCtx {
    room: String,
    mode: RoomAgentMode,
    state: Arc<RoomState>,
    sessions: Sessions,
    events: EventBus,
    with: JoinWith,
    out: Option<Arc<AudioOut>>,
}

/// Who a participant's audio goes to.
enum Listener {
    Transcriber(CancellationToken),
    Caller { input: mpsc::Sender<CallInput> },
}

async fn run_room(
    ctx: RoomCtx,
    room: Room,
    mut updates: mpsc::UnboundedReceiver<RoomUpdate>,
    stop: CancellationToken,
) -> Result<(), String> {
    let mut roles: HashMap<String, (String, SpeakerRole)> =
        room.present.iter().map(|p| (p.identity.clone(), (p.name.clone(), role_of(&p.metadata)))).collect();
    let mut listeners: HashMap<String, Listener> = HashMap::new();
    let mut work: JoinSet<()> = JoinSet::new();
    // Ends every participant's task when the room ends, whatever ended it
    // (a track whose participant vanished may never send its end).
    let ending = stop.child_token();
    let (heard_tx, mut heard_rx) = mpsc::channel::<(String, Heard)>(64);
    let mut caller: Option<(String, Uuid)> = None;
    let result = loop {
        tokio::select! {
            _ = stop.cancelled() => break Ok(()),
            Some((identity, heard)) = heard_rx.recv() => {
                let (start, end) = (ctx.state.ms(heard.started), ctx.state.ms(heard.ended));
                let latency = heard.transcribed.saturating_duration_since(heard.ended).as_millis() as u64;
                ctx.state.line(&ctx.events, &ctx.room, &identity, &heard.text, start, end, Some(latency));
            }
            Some(_) = work.join_next(), if !work.is_empty() => {}
            update = updates.recv() => match update {
                None => break Err("the room connection closed".into()),
                Some(RoomUpdate::Disconnected { reason }) => break Err(format!("disconnected from the room ({reason})")),
                Some(RoomUpdate::Joined { identity, name, metadata }) => {
                    let role = role_of(&metadata);
                    ctx.state.speaker(&identity, &name, role);
                    roles.insert(identity, (name, role));
                }
                Some(RoomUpdate::Left { identity }) => {
                    stop_listener(&mut listeners, &identity).await;
                    ctx.state.set_status(|s| s.listening_to.retain(|i| i != &identity));
                    if caller.as_ref().is_some_and(|(c, _)| c == &identity) {
                        caller = None;
                    }
                }
                Some(RoomUpdate::TrackEnded { identity, .. }) => {
                    stop_listener(&mut listeners, &identity).await;
                    ctx.state.set_status(|s| s.listening_to.retain(|i| i != &identity));
                }
                Some(RoomUpdate::Audio { identity, name, audio }) => {
                    if identity == AGENT_IDENTITY {
                        continue;
                    }
                    let (name, role) = roles.get(&identity).cloned().unwrap_or((name, SpeakerRole::Participant));
                    ctx.state.speaker(&identity, &name, role);
                    stop_listener(&mut listeners, &identity).await;
                    let talk = ctx.mode == RoomAgentMode::Agent && caller.is_none() && ctx.out.is_some();
                    let listener = if talk {
                        match start_call(&ctx, &identity, &name, audio, &mut work, ending.child_token()).await {
                            Ok((input, session_id)) => {
                                caller = Some((identity.clone(), session_id));
                                ctx.state.set_status(|s| s.session_id = Some(session_id));
                                Listener::Caller { input }
                            }
                            Err(e) => {
                                tracing::warn!(room = %ctx.room, identity, error = %e, "could not start the call");
                                continue;
                            }
                        }
                    } else {
                        // `finish` ends their audio (what they said is still
                        // transcribed); `stop` drops everything.
                        let finish = ending.child_token();
                        let hard = stop.child_token();
                        work.spawn(listen((ctx.with.engines)(None, &Usage::default()), ctx.with.call.clone(), identity.clone(), audio, heard_tx.clone(), finish.clone(), hard));
                        Listener::Transcriber(finish)
                    };
                    listeners.insert(identity.clone(), listener);
                    ctx.state.set_status(|s| {
                        if !s.listening_to.contains(&identity) {
                            s.listening_to.push(identity.clone());
                        }
                    });
                }
            },
        }
    };
    ending.cancel();
    for (_, l) in listeners.drain() {
        match l {
            Listener::Transcriber(c) => c.cancel(),
            Listener::Caller { input } => {
                let _ = input.try_send(CallInput::HangUp);
            }
        }
    }
    drop(heard_tx);
    // Lines still being transcribed when the room ended are kept.
    while let Some((identity, heard)) = heard_rx.recv().await {
        let (start, end) = (ctx.state.ms(heard.started), ctx.state.ms(heard.ended));
        let latency = heard.transcribed.saturating_duration_since(heard.ended).as_millis() as u64;
        ctx.state.line(&ctx.events, &ctx.room, &identity, &heard.text, start, end, Some(latency));
        if work.is_empty() {
            break;
        }
    }
    while work.join_next().await.is_some() {}
    room.disconnect().await;
    result
}

async fn stop_listener(listeners: &mut HashMap<String, Listener>, identity: &str) {
    match listeners.remove(identity) {
        // Their audio ends; what they said up to now is still transcribed.
        Some(Listener::Transcriber(finish)) => finish.cancel(),
        Some(Listener::Caller { input }) => {
            let _ = input.send(CallInput::HangUp).await;
        }
        None => {}
    }
}

/// One participant's transcriber: frames in, lines out.
async fn listen(
    engines: CallEngines,
    config: CallConfig,
    identity: String,
    mut audio: RemoteAudio,
    heard: mpsc::Sender<(String, Heard)>,
    finish: CancellationToken,
    cancel: CancellationToken,
) {
    let (tx, rx) = mpsc::channel(100);
    let (out_tx, mut out_rx) = mpsc::channel(16);
    let task = tokio::spawn(transcriber::transcribe(engines, config, rx, out_tx, cancel.clone()));
    let forward = async {
        loop {
            let frame = tokio::select! {
                f = audio.frames.recv() => f,
                _ = finish.cancelled() => None,
            };
            let Some(frame) = frame else { break };
            if tx.send(frame).await.is_err() {
                break;
            }
        }
        drop(tx);
    };
    let relay = async {
        while let Some(h) = out_rx.recv().await {
            let _ = heard.send((identity.clone(), h)).await;
        }
    };
    tokio::join!(forward, relay);
    match task.await {
        Ok(Err(e)) => tracing::warn!(identity, error = %e, "transcribing a speaker failed; the others go on"),
        Err(e) => tracing::warn!(identity, error = %e, "a transcriber task failed; the others go on"),
        Ok(Ok(())) => {}
    }
}

/// Starts the voice call with the room's caller. Returns its input.
async fn start_call(
    ctx: &RoomCtx,
    identity: &str,
    name: &str,
    mut audio: RemoteAudio,
    work: &mut JoinSet<()>,
    ending: CancellationToken,
) -> Result<(mpsc::Sender<CallInput>, Uuid), String> {
    let out = ctx.out.clone().ok_or("no track to speak on")?;
    let session = ctx
        .sessions
        .start(&NewSession {
            channel: Some(Channel::Livekit),
            caller_name: Some(if name.is_empty() { identity.to_string() } else { name.to_string() }),
            caller_contact: None,
            language: None,
        })
        .await
        .map_err(|e| e.to_string())?;
    let usage = Usage::default();
    let call_ctx = CallContext {
        sessions: ctx.sessions.clone(),
        engines: (ctx.with.engines)(Some(session.id), &usage),
        config: ctx.with.call.clone(),
        session_id: session.id,
        out_rate: out.rate,
        cancel: ending.child_token(),
        voice_agent: (ctx.with.voice_agent)(&usage),
        usage,
    };
    let (in_tx, in_rx) = mpsc::channel(256);
    let (out_tx, mut out_rx) = mpsc::channel(256);
    let call_cancel = call_ctx.cancel.clone();
    work.spawn(async move {
        let summary = switchboard_call::run(call_ctx, in_rx, out_tx).await;
        tracing::info!(?summary.cause, turns = summary.turns, "a room call ended");
    });
    let input = in_tx.clone();
    work.spawn(async move {
        loop {
            let frame = tokio::select! {
                f = audio.frames.recv() => f,
                _ = ending.cancelled() => None,
            };
            let Some(frame) = frame else { break };
            if input.try_send(CallInput::Audio(frame)).is_err() && input.is_closed() {
                break;
            }
        }
        let _ = input.try_send(CallInput::HangUp);
    });
    // The agent's voice: frames are handed to the library one after the
    // other. A barge-in bumps the epoch, so frames queued here before it are
    // skipped, and clears what the library holds.
    let epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (play_tx, mut play_rx) = mpsc::unbounded_channel::<(u64, AudioFrame)>();
    let speaker = out.clone();
    let current = epoch.clone();
    work.spawn(async move {
        while let Some((at, frame)) = play_rx.recv().await {
            if at != current.load(std::sync::atomic::Ordering::Acquire) {
                continue;
            }
            if let Err(e) = speaker.capture(&frame.samples).await {
                tracing::warn!(error = %e, "the agent's audio could not be sent");
            }
        }
    });
    let state = ctx.state.clone();
    let events = ctx.events.clone();
    let room = ctx.room.clone();
    let caller = identity.to_string();
    work.spawn(async move {
        while let Some(o) = out_rx.recv().await {
            match o {
                CallOutput::Audio(frame) => {
                    let _ = play_tx.send((epoch.load(std::sync::atomic::Ordering::Acquire), frame));
                }
                CallOutput::Event(e) => match e {
                    CallEvent::Paused | CallEvent::Interrupted { .. } => {
                        epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        out.clear();
                    }
                    CallEvent::Transcript { text, is_final: true, .. } => {
                        let now = state.ms(Instant::now());
                        state.line(&events, &room, &caller, &text, now, now, None);
                    }
                    // Stamped when said (a clause at a time), like the caller's
                    // lines when transcribed: the call loop reports no start.
                    CallEvent::AgentText { text, .. } => {
                        let now = state.ms(Instant::now());
                        state.line(&events, &room, AGENT_IDENTITY, &text, now, now, None);
                    }
                    CallEvent::Ended { .. } => break,
                    _ => {}
                },
            }
        }
        call_cancel.cancel();
    });
    Ok((in_tx, session.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_our_token_metadata() {
        assert_eq!(role_of(r#"{"role":"candidate"}"#), SpeakerRole::Candidate);
        assert_eq!(role_of(r#"{"role":"interviewer"}"#), SpeakerRole::Interviewer);
        assert_eq!(role_of(""), SpeakerRole::Participant);
        assert_eq!(role_of("not json"), SpeakerRole::Participant);
        assert_eq!(role_of(r#"{"role":"viewer"}"#), SpeakerRole::Participant);
    }
}
