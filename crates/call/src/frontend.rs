//! The call's audio front end, on a thread of its own (never the async
//! runtime's): resamples the caller's audio to the detector's rate, runs
//! voice activity frame by frame, and decides where utterances start and
//! end. Silence is counted in audio time, so the decisions do not depend on
//! how fast frames arrive.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use switchboard_core::speech::{AudioFrame, SpeechError, TurnDetector, VoiceActivity};
use tokio::sync::mpsc;

use crate::CallConfig;
use crate::resample::Resampler;

pub enum FrontInput {
    Audio(AudioFrame),
    /// The client says the utterance ended (push-to-talk style).
    EndOfUtterance,
}

#[derive(Debug)]
pub enum FrontEvent {
    SpeechStarted,
    /// Utterance audio at the detector's rate (pre-roll included).
    Speech(AudioFrame),
    /// The caller paused long enough that they may have finished: the
    /// utterance so far, for work that can start before the end is sure.
    Paused(AudioFrame),
    /// They went on speaking after [`FrontEvent::Paused`].
    Resumed,
    SpeechEnded {
        /// When the last voiced frame arrived.
        last_voiced: Instant,
        /// When the end was decided.
        decided: Instant,
        why: EndReason,
    },
    Error(SpeechError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Silence,
    /// The end-of-turn model said the turn is complete after a short pause.
    TurnModel,
    Client,
    /// The utterance reached the length cap.
    TooLong,
}

pub struct FrontEnd {
    config: CallConfig,
    vad: Box<dyn VoiceActivity>,
    turn: Option<Arc<dyn TurnDetector>>,
    /// True while the agent's audio plays: barge-in then needs more.
    playing: Arc<AtomicBool>,
    resampler: Option<Resampler>,
    pending: Vec<f32>,
    in_speech: bool,
    voiced_ms: f64,
    silence_ms: f64,
    utterance: Vec<f32>,
    last_voiced: Instant,
    turn_checked: bool,
    /// [`FrontEvent::Paused`] was sent for the current pause.
    pause_sent: bool,
    /// Audio heard outside an utterance: its tail is the next utterance's
    /// pre-roll; all of it goes to the recogniser when a client says `end`
    /// and the detector heard no speech.
    unheard: VecDeque<f32>,
    started: Instant,
    received_secs: f64,
}

impl FrontEnd {
    pub fn new(
        config: CallConfig,
        vad: Box<dyn VoiceActivity>,
        turn: Option<Arc<dyn TurnDetector>>,
        playing: Arc<AtomicBool>,
    ) -> Self {
        Self {
            config,
            vad,
            turn,
            playing,
            resampler: None,
            pending: Vec::new(),
            in_speech: false,
            voiced_ms: 0.0,
            silence_ms: 0.0,
            utterance: Vec::new(),
            last_voiced: Instant::now(),
            turn_checked: false,
            pause_sent: false,
            unheard: VecDeque::new(),
            started: Instant::now(),
            received_secs: 0.0,
        }
    }

    /// Runs until the input closes or the output is gone.
    pub fn run(mut self, mut input: mpsc::Receiver<FrontInput>, out: mpsc::Sender<FrontEvent>) {
        while let Some(msg) = input.blocking_recv() {
            let mut events = Vec::new();
            match msg {
                FrontInput::Audio(frame) => {
                    if let Err(e) = self.audio(frame, &mut events) {
                        events.push(FrontEvent::Error(e));
                    }
                }
                FrontInput::EndOfUtterance => self.client_end(&mut events),
            }
            for e in events {
                let fatal = matches!(e, FrontEvent::Error(_));
                if out.blocking_send(e).is_err() || fatal {
                    return;
                }
            }
        }
    }

    fn rate(&self) -> u32 {
        self.vad.rate()
    }

    pub fn audio(&mut self, frame: AudioFrame, events: &mut Vec<FrontEvent>) -> Result<(), SpeechError> {
        switchboard_core::speech::check_rate(frame.rate)?;
        // A client sending audio much faster than it can be spoken is broken
        // or hostile; real time plus a generous burst is the most we take.
        self.received_secs += frame.seconds();
        let allowed = self.started.elapsed().as_secs_f64() + self.config.burst_secs;
        if self.received_secs > allowed {
            return Err(SpeechError::BadAudio(format!(
                "audio is arriving faster than real time ({:.0} s of audio in {:.0} s)",
                self.received_secs,
                self.started.elapsed().as_secs_f64()
            )));
        }
        let rate = self.rate();
        let samples = if frame.rate == rate {
            frame.samples
        } else {
            let r = match self.resampler.as_mut() {
                Some(r) if r.from() == frame.rate => r,
                _ => self.resampler.insert(Resampler::new(frame.rate, rate)?),
            };
            r.push(&frame.samples)
        };
        self.pending.extend_from_slice(&samples);
        let n = self.vad.frame_len();
        let frame_ms = n as f64 * 1000.0 / rate as f64;
        let mut start = 0;
        while self.pending.len() - start >= n {
            let chunk: Vec<f32> = self.pending[start..start + n].to_vec();
            start += n;
            self.step(&chunk, frame_ms, events);
        }
        self.pending.drain(..start);
        Ok(())
    }

    fn step(&mut self, chunk: &[f32], frame_ms: f64, events: &mut Vec<FrontEvent>) {
        let rate = self.rate();
        let p = self.vad.probability(chunk);
        let playing = self.playing.load(Ordering::Relaxed);
        // While the agent speaks, its own voice may leak back into the
        // microphone: only clearer speech counts then.
        let threshold = if playing { self.config.barge_in_threshold } else { self.config.vad_threshold };
        let voiced = p >= threshold;
        if !self.in_speech {
            self.unheard.extend(chunk.iter().copied());
            let cap = rate as usize * self.config.max_utterance_secs as usize;
            if self.unheard.len() > cap {
                self.unheard.drain(..self.unheard.len() - cap);
            }
            if voiced {
                self.voiced_ms += frame_ms;
            } else {
                self.voiced_ms = 0.0;
            }
            let need = if playing { self.config.barge_in_min_speech_ms } else { self.config.min_speech_ms };
            if self.voiced_ms >= need {
                self.in_speech = true;
                self.silence_ms = 0.0;
                self.turn_checked = false;
                self.last_voiced = Instant::now();
                // The utterance starts with the audio just before it was
                // detected (the pre-roll): its first sound is not lost.
                let keep = (rate as f64 * self.config.preroll_ms / 1000.0) as usize;
                let skip = self.unheard.len().saturating_sub(keep);
                self.utterance = self.unheard.drain(..).skip(skip).collect();
                events.push(FrontEvent::SpeechStarted);
                events.push(FrontEvent::Speech(AudioFrame::new(rate, self.utterance.clone())));
            }
            return;
        }
        self.utterance.extend_from_slice(chunk);
        events.push(FrontEvent::Speech(AudioFrame::new(rate, chunk.to_vec())));
        if voiced {
            self.silence_ms = 0.0;
            self.turn_checked = false;
            self.last_voiced = Instant::now();
            if std::mem::take(&mut self.pause_sent) {
                events.push(FrontEvent::Resumed);
            }
        } else {
            self.silence_ms += frame_ms;
        }
        let too_long = self.utterance.len() as f64 / rate as f64 >= self.config.max_utterance_secs;
        let mut why = None;
        if too_long {
            why = Some(EndReason::TooLong);
        } else if self.silence_ms >= self.silence_limit() {
            why = Some(EndReason::Silence);
        } else if let Some(turn) = &self.turn
            && !self.turn_checked
            && self.silence_ms >= self.config.turn_check_ms
        {
            // The end-of-turn model runs once per pause.
            self.turn_checked = true;
            match resample_for(turn.as_ref(), &self.utterance, rate).and_then(|a| turn.complete_probability(&a)) {
                Ok(p) if p >= self.config.turn_complete_threshold => why = Some(EndReason::TurnModel),
                Ok(_) => {}
                Err(e) => {
                    // Not again this call: the plain silence timeout decides.
                    tracing::warn!(error = %e, "end-of-turn model failed; the silence timeout decides");
                    self.turn = None;
                }
            }
        }
        if let Some(why) = why {
            self.end(why, events);
        } else if !self.pause_sent
            && self.config.preempt_after_ms > 0.0
            && self.silence_ms >= self.config.preempt_after_ms
        {
            self.pause_sent = true;
            events.push(FrontEvent::Paused(AudioFrame::new(rate, self.utterance.clone())));
        }
    }

    /// Silence that ends a turn: with an end-of-turn model, the longer wait
    /// for when it said "not finished" (it already ended the finished ones).
    fn silence_limit(&self) -> f64 {
        if self.turn.is_some() { self.config.turn_silence_ms } else { self.config.silence_ms }
    }

    fn end(&mut self, why: EndReason, events: &mut Vec<FrontEvent>) {
        self.in_speech = false;
        self.pause_sent = false;
        self.voiced_ms = 0.0;
        self.silence_ms = 0.0;
        self.utterance.clear();
        self.vad.reset();
        events.push(FrontEvent::SpeechEnded { last_voiced: self.last_voiced, decided: Instant::now(), why });
    }

    fn client_end(&mut self, events: &mut Vec<FrontEvent>) {
        if let Some(r) = self.resampler.as_mut() {
            let tail = r.flush();
            self.pending.extend(tail);
        }
        if self.in_speech {
            if !self.pending.is_empty() {
                let tail = std::mem::take(&mut self.pending);
                events.push(FrontEvent::Speech(AudioFrame::new(self.rate(), tail)));
            }
            self.end(EndReason::Client, events);
            return;
        }
        // The detector heard nothing it called speech, but the client says
        // an utterance ended: let the recogniser judge what was sent.
        let mut audio: Vec<f32> = std::mem::take(&mut self.unheard).into();
        audio.append(&mut self.pending);
        if audio.len() as f64 / self.rate() as f64 >= 0.25 {
            self.last_voiced = Instant::now();
            events.push(FrontEvent::SpeechStarted);
            events.push(FrontEvent::Speech(AudioFrame::new(self.rate(), audio)));
            self.end(EndReason::Client, events);
        }
    }
}

fn resample_for(turn: &dyn TurnDetector, audio: &[f32], rate: u32) -> Result<Vec<f32>, SpeechError> {
    if turn.rate() == rate {
        return Ok(audio.to_vec());
    }
    let mut r = Resampler::new(rate, turn.rate())?;
    let mut out = r.push(audio);
    out.extend(r.flush());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loud frames are speech.
    struct Level;
    impl VoiceActivity for Level {
        fn rate(&self) -> u32 {
            16_000
        }
        fn frame_len(&self) -> usize {
            320
        }
        fn probability(&mut self, frame: &[f32]) -> f32 {
            if AudioFrame::new(16_000, frame.to_vec()).rms() > 0.1 { 1.0 } else { 0.0 }
        }
        fn reset(&mut self) {}
    }

    /// Event names, and the length of each pause's audio.
    fn run(config: CallConfig, audio: &[(f32, f64)]) -> (Vec<&'static str>, Vec<f64>) {
        let mut fe = FrontEnd::new(config, Box::new(Level), None, Arc::new(AtomicBool::new(false)));
        let mut events = Vec::new();
        for (level, secs) in audio {
            let n = (16_000.0 * secs) as usize;
            fe.audio(AudioFrame::new(16_000, vec![*level; n]), &mut events).unwrap();
        }
        let mut pauses = Vec::new();
        let names = events
            .iter()
            .filter_map(|e| match e {
                FrontEvent::SpeechStarted => Some("started"),
                FrontEvent::Paused(a) => {
                    pauses.push(a.seconds());
                    Some("paused")
                }
                FrontEvent::Resumed => Some("resumed"),
                FrontEvent::SpeechEnded { .. } => Some("ended"),
                FrontEvent::Speech(_) | FrontEvent::Error(_) => None,
            })
            .collect();
        (names, pauses)
    }

    #[test]
    fn a_pause_is_announced_once_before_the_end_and_withdrawn_when_speech_goes_on() {
        let config = CallConfig::default();
        // Speech, a pause shorter than the end of turn, speech, silence.
        let (names, pauses) = run(config.clone(), &[(0.0, 0.5), (0.5, 1.0), (0.0, 0.4), (0.5, 0.5), (0.0, 1.0)]);
        assert_eq!(names, ["started", "paused", "resumed", "paused", "ended"]);
        // The utterance so far: all its speech, the pre-roll and the 0.2 s
        // of silence that made the pause.
        assert!((1.2..1.6).contains(&pauses[0]), "{pauses:?}");
        assert!((2.1..2.5).contains(&pauses[1]), "{pauses:?}");
        let off = CallConfig { preempt_after_ms: 0.0, ..config };
        assert_eq!(run(off, &[(0.5, 1.0), (0.0, 1.0)]).0, ["started", "ended"]);
    }
}
