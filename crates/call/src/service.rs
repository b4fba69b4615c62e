//! A call on a voice-to-voice service (Gemini Live, the Deepgram Voice
//! Agent API): the service listens, thinks and speaks, and Switchboard keeps
//! the conversation. Its tool calls run the agent's own tools (through the
//! grounding policy for knowledge searches), its transcripts become the
//! session's turns with timings, its "the caller started speaking" stops the
//! agent's audio here (barge-in), and a supervisor's answer is handed to it
//! to say. When the service fails, the call goes on with the offline
//! pipeline (`crate::run`), and the transcript says so once.
//!
//! The caller's audio is resampled, and checked for voice activity (for the
//! turn's timings), on a blocking thread; the agent's audio is resampled
//! there too, then paced out at real time a little ahead of playback, so a
//! barge-in drops what the caller has not heard yet.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_cloud_voice::agent::{AgentCommand, AgentEvent, AgentLink, AgentSetup, VoiceAgent};
use switchboard_core::session::{Decision, Grounding, NewTurn, TurnInput, TurnRole, TurnTimings};
use switchboard_core::speech::AudioFrame;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::resample::Resampler;
use crate::{CallContext, CallEvent, CallInput, CallOutput, EndCause};

/// How a call on a service ended.
pub enum ServiceEnd {
    /// The call is over.
    Ended { cause: EndCause, turns: usize },
    /// The service failed: the call goes on offline with the caller's
    /// input, after `unanswered` (the caller's audio since their last turn
    /// the service finished hearing, so they need not repeat it).
    Failed { why: String, input: mpsc::Receiver<CallInput>, unanswered: Vec<AudioFrame> },
}

/// Audio work off the runtime: the caller's frames to the service's rate
/// (and their voice activity), the service's frames to the transport's.
enum AudioJob {
    In(AudioFrame),
    Out(AudioFrame),
}

enum AudioDone {
    In { frame: AudioFrame, voiced: bool },
    Out(AudioFrame),
}

fn audio_thread(
    ctx: &CallContext,
    in_rate: u32,
    out_rate: u32,
    agent_out_rate: u32,
) -> (std::sync::mpsc::Sender<AudioJob>, mpsc::Receiver<AudioDone>, JoinHandle<()>) {
    let (job_tx, job_rx) = std::sync::mpsc::channel::<AudioJob>();
    let (done_tx, done_rx) = mpsc::channel::<AudioDone>(512);
    let mut vad = ctx.engines.vad.detector();
    let threshold = ctx.config.vad_threshold;
    let task = tokio::task::spawn_blocking(move || {
        let mut to_service: Option<Resampler> = None;
        let mut to_vad: Option<Resampler> = None;
        let mut to_caller = Resampler::new(agent_out_rate, out_rate).ok();
        let mut vad_buf: Vec<f32> = Vec::new();
        while let Ok(job) = job_rx.recv() {
            let done = match job {
                AudioJob::In(frame) => {
                    let conv = to_service.get_or_insert_with(|| {
                        Resampler::new(frame.rate, in_rate).expect("rates were checked by the transport")
                    });
                    let samples = conv.push(&frame.samples);
                    let vconv = to_vad.get_or_insert_with(|| {
                        Resampler::new(frame.rate, vad.rate()).expect("rates were checked by the transport")
                    });
                    vad_buf.extend(vconv.push(&frame.samples));
                    let n = vad.frame_len();
                    let mut voiced = false;
                    while vad_buf.len() >= n {
                        voiced |= vad.probability(&vad_buf[..n]) >= threshold;
                        vad_buf.drain(..n);
                    }
                    AudioDone::In { frame: AudioFrame::new(in_rate, samples), voiced }
                }
                AudioJob::Out(frame) => {
                    let samples = match &mut to_caller {
                        Some(c) if frame.rate == c.from() => c.push(&frame.samples),
                        _ => Resampler::convert(&frame, out_rate).map(|f| f.samples).unwrap_or_default(),
                    };
                    AudioDone::Out(AudioFrame::new(out_rate, samples))
                }
            };
            if done_tx.blocking_send(done).is_err() {
                return;
            }
        }
    });
    (job_tx, done_rx, task)
}

/// The agent's reply being spoken.
#[derive(Default)]
struct Reply {
    text: String,
    /// Audio not yet sent to the transport.
    queue: VecDeque<AudioFrame>,
    /// Seconds sent, and the playback clock they are measured on.
    sent_secs: f64,
    total_secs: f64,
    clock: Option<Instant>,
    done: bool,
    /// The service is saying a relayed answer (already in the transcript).
    relay: bool,
    first_audio: Option<Instant>,
    first_sent: Option<Instant>,
}

impl Reply {
    fn heard(&self) -> String {
        if self.total_secs <= 0.0 {
            return String::new();
        }
        let played = self.clock.map_or(0.0, |c| c.elapsed().as_secs_f64()).min(self.sent_secs);
        let words: Vec<&str> = self.text.split_whitespace().collect();
        let n = ((played / self.total_secs.max(played)) * words.len() as f64).floor() as usize;
        words[..n.min(words.len())].join(" ")
    }
}

/// Runs a call on `agent` until it ends, or until the service fails (then
/// the caller's input is handed back for the offline pipeline).
pub async fn run(
    ctx: &CallContext,
    agent: Arc<dyn VoiceAgent>,
    mut input: mpsc::Receiver<CallInput>,
    output: &mpsc::Sender<CallOutput>,
) -> ServiceEnd {
    let emit = |e: CallEvent| async { output.send(CallOutput::Event(e)).await.is_ok() };
    let rendered = ctx.sessions.rendered();
    let greeting = ctx.config.greet.then(|| rendered.phrases.greeting.clone());
    let setup = AgentSetup {
        instructions: rendered.voice_agent.clone(),
        greeting: greeting.clone(),
        tools: ctx.sessions.tool_specs(),
        language: ctx.config.language.clone(),
    };
    let link = tokio::select! {
        l = agent.connect(setup) => l,
        _ = ctx.cancel.cancelled() => return ServiceEnd::Ended { cause: EndCause::Shutdown, turns: 0 },
    };
    let AgentLink { audio, commands, mut events } = match link {
        Ok(l) => l,
        Err(e) => return ServiceEnd::Failed { why: e.to_string(), input, unanswered: Vec::new() },
    };
    let mut audio = Some(audio);
    let (jobs, mut done, audio_task) = audio_thread(ctx, agent.input_rate(), ctx.out_rate, agent.output_rate());
    let mut watch = ctx.sessions.subscribe(ctx.session_id);
    let mut tools: HashMap<String, JoinHandle<()>> = HashMap::new();
    let (tool_done_tx, mut tool_done) = mpsc::unbounded_channel::<String>();
    let mut reply = Reply::default();
    // The greeting's text is stored when the service has said it.
    let mut greeting_pending = greeting.is_some();
    let mut caller_partial = String::new();
    let mut last_voice: Option<Instant> = None;
    // The caller's audio since the service last heard a whole turn, as the
    // transport sent it: replayed into the offline pipeline if the service
    // fails mid-utterance. At most `max_utterance_secs`.
    let mut unanswered: VecDeque<AudioFrame> = VecDeque::new();
    let mut unanswered_secs = 0.0;
    let mut final_at: Option<Instant> = None;
    let mut turns = 0usize;
    let mut hang_up_after_reply = false;
    let mut last_heard = Instant::now();
    let lead = Duration::from_secs_f64(ctx.config.output_lead_ms.max(20.0) / 1000.0);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let outcome = 'call: loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => break 'call Ok(EndCause::Shutdown),
            msg = input.recv() => match msg {
                Some(CallInput::Audio(frame)) => {
                    unanswered_secs += frame.seconds();
                    unanswered.push_back(frame.clone());
                    while unanswered_secs > ctx.config.max_utterance_secs {
                        match unanswered.pop_front() {
                            Some(f) => unanswered_secs -= f.seconds(),
                            None => break,
                        }
                    }
                    if jobs.send(AudioJob::In(frame)).is_err() {
                        break 'call Ok(EndCause::Error);
                    }
                }
                // The service decides the end of the caller's turn itself.
                Some(CallInput::EndOfUtterance) => {}
                Some(CallInput::HangUp) | None => break 'call Ok(EndCause::HangUp),
            },
            d = done.recv() => match d {
                Some(AudioDone::In { frame, voiced }) => {
                    if voiced {
                        last_voice = Some(Instant::now());
                        last_heard = Instant::now();
                    }
                    if let Some(tx) = &audio {
                        if frame.samples.is_empty() {
                            continue;
                        }
                        // A full queue means the service stalls: drop the
                        // frame rather than stall the caller's side.
                        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(frame) {
                            audio = None;
                        }
                    }
                }
                Some(AudioDone::Out(frame)) => {
                    if !frame.samples.is_empty() {
                        reply.total_secs += frame.seconds();
                        reply.queue.push_back(frame);
                        // At once, not at the next tick: the first audio of
                        // a reply is the latency the caller hears.
                        if !pump(&mut reply, output, lead).await {
                            break 'call Ok(EndCause::HangUp);
                        }
                    }
                }
                None => break 'call Ok(EndCause::Error),
            },
            ev = events.recv() => match ev {
                None => break 'call Err("the service closed the conversation".to_string()),
                Some(AgentEvent::Failed(e)) => break 'call Err(e.to_string()),
                Some(AgentEvent::Ready) => {}
                Some(AgentEvent::UserText { text, is_final }) => {
                    last_heard = Instant::now();
                    if !is_final {
                        caller_partial = text.clone();
                        ctx.sessions.hearing(ctx.session_id, &text);
                        emit(CallEvent::Transcript { text, is_final: false, language: None, confidence: None }).await;
                        continue;
                    }
                    caller_partial.clear();
                    unanswered.clear();
                    unanswered_secs = 0.0;
                    let text = text.trim().to_string();
                    if text.is_empty() {
                        continue;
                    }
                    final_at = Some(Instant::now());
                    let language = ctx.config.language.clone();
                    emit(CallEvent::Transcript { text: text.clone(), is_final: true, language: language.clone(), confidence: None }).await;
                    let mut turn = NewTurn::new(TurnRole::Caller, &text);
                    turn.input = Some(TurnInput::Transcribed { confidence: None, language });
                    if ctx.sessions.record(ctx.session_id, vec![turn]).await.is_err() {
                        break 'call Ok(EndCause::SessionEnded);
                    }
                    turns += 1;
                    // The caller said goodbye: the service says it too, then
                    // the call ends.
                    hang_up_after_reply = switchboard_session::intent(&text) == switchboard_session::Intent::Goodbye;
                }
                Some(AgentEvent::UserStartedSpeaking) => {
                    if !reply.text.is_empty() || !reply.queue.is_empty() || reply.sent_secs > 0.0 {
                        let heard = reply.heard();
                        reply.queue.clear();
                        emit(CallEvent::Interrupted { heard: heard.clone() }).await;
                        if !reply.relay && !heard.trim().is_empty() {
                            store_agent(ctx, &heard, true, None).await;
                        }
                        reply = Reply::default();
                        greeting_pending = false;
                    }
                }
                Some(AgentEvent::AgentText(piece)) => {
                    if !reply.text.is_empty() && !piece.starts_with(' ') && !reply.text.ends_with(' ') {
                        reply.text.push(' ');
                    }
                    reply.text.push_str(&piece);
                    emit(CallEvent::AgentText { turn_id: None, text: piece }).await;
                }
                Some(AgentEvent::Audio(frame)) => {
                    if reply.first_audio.is_none() {
                        reply.first_audio = Some(Instant::now());
                    }
                    let _ = jobs.send(AudioJob::Out(frame));
                }
                Some(AgentEvent::AgentDone) => reply.done = true,
                Some(AgentEvent::ToolCall { call_id, name, arguments }) => {
                    let (sessions, id, commands, done) = (ctx.sessions.clone(), ctx.session_id, commands.clone(), tool_done_tx.clone());
                    let key = call_id.clone();
                    tools.insert(key.clone(), tokio::spawn(async move {
                        let output = sessions.run_tool(id, &call_id, &name, &arguments).await;
                        let _ = commands.send(AgentCommand::ToolResult { call_id, name, output }).await;
                        let _ = done.send(key);
                    }));
                }
                Some(AgentEvent::ToolCallsCancelled(ids)) => {
                    for id in ids {
                        if let Some(t) = tools.remove(&id) {
                            t.abort();
                        }
                    }
                }
            },
            Some(id) = tool_done.recv() => { tools.remove(&id); },
            seen = crate::watch_recv(&mut watch) => match seen {
                crate::Watched::Relay(text) => {
                    // A supervisor's answer: already in the transcript; the
                    // service says it.
                    reply.relay = true;
                    let _ = commands.send(AgentCommand::Say(text)).await;
                }
                crate::Watched::Ended => break 'call Ok(EndCause::SessionEnded),
            },
            _ = tick.tick() => {
                if !pump(&mut reply, output, lead).await {
                    break 'call Ok(EndCause::HangUp);
                }
                if reply.done && reply.queue.is_empty() {
                    let playing_out = reply.clock.is_some_and(|c| c.elapsed().as_secs_f64() < reply.sent_secs);
                    if !playing_out {
                        let text = reply.text.trim().to_string();
                        if greeting_pending {
                            greeting_pending = false;
                            // The greeting as it was asked for: what the
                            // service said may differ in wording.
                            if let Some(g) = &greeting {
                                let mut t = NewTurn::new(TurnRole::Agent, if text.is_empty() { g } else { &text });
                                t.grounding = Some(Grounding::bare(Decision::SmallTalk, "the greeting that opens a call"));
                                let _ = ctx.sessions.record(ctx.session_id, vec![t]).await;
                            }
                        } else if !reply.relay && !text.is_empty() {
                            let timings = timings(&reply, last_voice, final_at);
                            if let Some(t) = &timings {
                                emit(CallEvent::Latency { turn_id: Uuid::nil(), timings: t.clone() }).await;
                            }
                            store_agent(ctx, &text, false, timings).await;
                            if hang_up_after_reply {
                                emit(CallEvent::AudioEnd).await;
                                break 'call Ok(EndCause::Goodbye);
                            }
                        }
                        if reply.total_secs > 0.0 || !text.is_empty() {
                            emit(CallEvent::AudioEnd).await;
                        }
                        reply = Reply::default();
                        final_at = None;
                    }
                }
                if last_heard.elapsed().as_secs_f64() > ctx.config.idle_hangup_secs
                    && reply.queue.is_empty()
                    && reply.text.is_empty()
                {
                    break 'call Ok(EndCause::Silence);
                }
            },
        }
    };
    for (_, t) in tools.drain() {
        t.abort();
    }
    // Closing the audio closes the conversation cleanly.
    drop(audio);
    drop(commands);
    drop(jobs);
    drop(done);
    let _ = audio_task.await;
    match outcome {
        Ok(cause) => ServiceEnd::Ended { cause, turns },
        Err(why) => {
            // What the caller heard of a reply cut by the failure stays.
            let heard = reply.heard();
            if !reply.relay && !heard.trim().is_empty() {
                store_agent(ctx, &heard, true, None).await;
            }
            if !caller_partial.is_empty() {
                tracing::info!(partial = %caller_partial, "the service failed while the caller spoke");
            }
            ServiceEnd::Failed { why, input, unanswered: unanswered.into() }
        }
    }
}

/// Sends the reply's audio up to `lead` ahead of playback; false when the
/// transport is gone.
async fn pump(reply: &mut Reply, output: &mpsc::Sender<CallOutput>, lead: Duration) -> bool {
    while let Some(f) = reply.queue.front() {
        let clock = *reply.clock.get_or_insert_with(Instant::now);
        if reply.sent_secs - clock.elapsed().as_secs_f64() > lead.as_secs_f64() {
            break;
        }
        let f = f.clone();
        reply.queue.pop_front();
        reply.sent_secs += f.seconds();
        if reply.first_sent.is_none() {
            reply.first_sent = Some(Instant::now());
        }
        if output.send(CallOutput::Audio(f)).await.is_err() {
            return false;
        }
    }
    true
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// The turn's timings from the end of the caller's speech (as the call's
/// own voice-activity detector heard it).
fn timings(reply: &Reply, last_voice: Option<Instant>, final_at: Option<Instant>) -> Option<TurnTimings> {
    let t0 = last_voice.or(final_at)?;
    Some(TurnTimings {
        end_of_turn_ms: Some(0.0),
        transcript_final_ms: final_at.map(|f| ms(t0, f)),
        first_audio_ms: reply.first_audio.map(|f| ms(t0, f)),
        playback_start_ms: reply.first_sent.map(|f| ms(t0, f)),
        ..Default::default()
    })
}

async fn store_agent(ctx: &CallContext, text: &str, interrupted: bool, timings: Option<TurnTimings>) {
    let mut t = NewTurn::new(TurnRole::Agent, text);
    t.interrupted = interrupted;
    t.timings = timings;
    t.grounding = Some(Grounding::bare(Decision::Tools, "said by the voice-to-voice service"));
    if let Err(e) = ctx.sessions.record(ctx.session_id, vec![t]).await {
        tracing::warn!(session = %ctx.session_id, error = %e, "a voice service's reply was not stored");
    }
}
