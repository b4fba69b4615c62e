//! The computer's own microphone and speaker (cpal, ALSA host), for test
//! calls from the desktop app and `switchboard call`. The streams live on a
//! thread of their own (cpal streams may not move between threads); the
//! microphone callback only converts to mono and pushes into a channel, the
//! speaker callback only pulls what was queued.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use serde::Serialize;
use switchboard_core::speech::{AudioFrame, SpeechError};
use tokio::sync::mpsc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AudioDevice {
    pub name: String,
    /// `input` or `output`.
    pub direction: String,
    pub is_default: bool,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
}

fn unavailable(what: impl std::fmt::Display) -> SpeechError {
    SpeechError::ModelMissing { what: "an audio device".into(), hint: what.to_string() }
}

/// Every input and output device the audio system offers.
pub fn list() -> Result<Vec<AudioDevice>, SpeechError> {
    let host = cpal::default_host();
    let id = |d: &cpal::Device| d.id().map(|i| i.to_string()).unwrap_or_else(|_| d.to_string());
    let default_in = host.default_input_device().map(|d| id(&d));
    let default_out = host.default_output_device().map(|d| id(&d));
    let mut out = Vec::new();
    let inputs = host.input_devices().map_err(|e| unavailable(format!("cannot list input devices: {e}")))?;
    let outputs = host.output_devices().map_err(|e| unavailable(format!("cannot list output devices: {e}")))?;
    let all = inputs.map(|d| (d, "input")).chain(outputs.map(|d| (d, "output")));
    for (d, direction) in all {
        let input = direction == "input";
        // Only devices that can actually open (ALSA also lists plugins that
        // cannot, such as its rate converters).
        let cfg = if input { d.default_input_config() } else { d.default_output_config() };
        let Ok(cfg) = cfg else { continue };
        let default = if input { &default_in } else { &default_out };
        out.push(AudioDevice {
            is_default: Some(id(&d)) == *default,
            name: d.to_string(),
            direction: direction.into(),
            sample_rate: Some(cfg.sample_rate()),
            channels: Some(cfg.channels()),
        });
    }
    Ok(out)
}

/// What the microphone reports.
#[derive(Debug)]
pub enum MicEvent {
    Audio(AudioFrame),
    /// The device failed or disappeared.
    Lost(SpeechError),
}

/// Open microphone and speaker; closed when dropped.
pub struct LocalAudio {
    pub mic_rate: u32,
    pub speaker_rate: u32,
    stop: Option<std_mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    speaker: std_mpsc::Sender<Vec<f32>>,
    flush: Arc<AtomicU64>,
}

impl LocalAudio {
    /// Opens the named devices (`None`: the defaults). Microphone audio and
    /// device loss arrive on `mic`. Blocking: call it off the async runtime.
    pub fn open(input: Option<&str>, output: Option<&str>, mic: mpsc::Sender<MicEvent>) -> Result<Self, SpeechError> {
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(u32, u32), SpeechError>>();
        let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
        let (speaker_tx, speaker_rx) = std_mpsc::channel::<Vec<f32>>();
        let flush = Arc::new(AtomicU64::new(0));
        let input = input.map(str::to_string);
        let output = output.map(str::to_string);
        let flush_seen = flush.clone();
        let thread = std::thread::Builder::new()
            .name("switchboard-audio".into())
            .spawn(move || {
                let opened = open_streams(input.as_deref(), output.as_deref(), mic, speaker_rx, flush_seen);
                match opened {
                    Ok((streams, rates)) => {
                        let _ = ready_tx.send(Ok(rates));
                        // Streams play until asked to stop (or the owner is gone).
                        let _ = stop_rx.recv();
                        drop(streams);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| SpeechError::Engine(format!("cannot start the audio thread: {e}")))?;
        let (mic_rate, speaker_rate) =
            ready_rx.recv().map_err(|_| SpeechError::Engine("the audio thread stopped".into()))??;
        Ok(Self { mic_rate, speaker_rate, stop: Some(stop_tx), thread: Some(thread), speaker: speaker_tx, flush })
    }

    /// Queues mono audio at `speaker_rate`.
    pub fn play(&self, samples: Vec<f32>) {
        let _ = self.speaker.send(samples);
    }

    /// Drops everything queued for the speaker (the caller cut in).
    pub fn flush(&self) {
        self.flush.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for LocalAudio {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Streams = (cpal::Stream, cpal::Stream);

fn find(host: &cpal::Host, name: Option<&str>, input: bool) -> Result<cpal::Device, SpeechError> {
    let kind = if input { "microphone" } else { "speaker" };
    match name {
        None => {
            let d = if input { host.default_input_device() } else { host.default_output_device() };
            d.ok_or_else(|| unavailable(format!("no default {kind}; plug one in or pick one in Settings")))
        }
        Some(n) => {
            let mut devices = if input { host.input_devices() } else { host.output_devices() }
                .map_err(|e| unavailable(format!("cannot list devices: {e}")))?;
            devices.find(|d| d.to_string() == n).ok_or_else(|| unavailable(format!("no {kind} named {n:?}")))
        }
    }
}

fn open_streams(
    input: Option<&str>,
    output: Option<&str>,
    mic: mpsc::Sender<MicEvent>,
    speaker: std_mpsc::Receiver<Vec<f32>>,
    flush: Arc<AtomicU64>,
) -> Result<(Streams, (u32, u32)), SpeechError> {
    let host = cpal::default_host();
    let in_dev = find(&host, input, true)?;
    let out_dev = find(&host, output, false)?;
    let in_cfg = in_dev.default_input_config().map_err(|e| unavailable(format!("the microphone: {e}")))?;
    let out_cfg = out_dev.default_output_config().map_err(|e| unavailable(format!("the speaker: {e}")))?;
    let in_rate = in_cfg.sample_rate();
    let in_ch = in_cfg.channels().max(1) as usize;
    let out_rate = out_cfg.sample_rate();
    let out_ch = out_cfg.channels().max(1) as usize;

    let lost = mic.clone();
    let mic_stream = in_dev
        .build_input_stream::<f32, _, _>(
            in_cfg.config(),
            move |data: &[f32], _| {
                let mono: Vec<f32> = data.chunks(in_ch).map(|c| c.iter().sum::<f32>() / in_ch as f32).collect();
                // Never block the audio thread: a full channel drops a frame.
                let _ = mic.try_send(MicEvent::Audio(AudioFrame::new(in_rate, mono)));
            },
            move |e| {
                // ALSA reports passing glitches here too; only a device that
                // is gone ends the call.
                if matches!(e.kind(), cpal::ErrorKind::DeviceNotAvailable) {
                    let _ = lost.try_send(MicEvent::Lost(unavailable(format!("the microphone stopped: {e}"))));
                } else {
                    tracing::debug!(error = %e, "microphone stream");
                }
            },
            None,
        )
        .map_err(|e| unavailable(format!("cannot open the microphone: {e}")))?;

    let mut queue: VecDeque<f32> = VecDeque::new();
    let mut seen = 0u64;
    let speaker_stream = out_dev
        .build_output_stream::<f32, _, _>(
            out_cfg.config(),
            move |out: &mut [f32], _| {
                let generation = flush.load(Ordering::Relaxed);
                if generation != seen {
                    seen = generation;
                    queue.clear();
                    while speaker.try_recv().is_ok() {}
                }
                let need = out.len() / out_ch;
                while queue.len() < need {
                    match speaker.try_recv() {
                        Ok(v) => queue.extend(v),
                        Err(_) => break,
                    }
                }
                for frame in out.chunks_mut(out_ch) {
                    let s = queue.pop_front().unwrap_or(0.0);
                    frame.fill(s);
                }
            },
            |e| tracing::debug!(error = %e, "speaker stream"),
            None,
        )
        .map_err(|e| unavailable(format!("cannot open the speaker: {e}")))?;
    mic_stream.play().map_err(|e| unavailable(format!("the microphone does not start: {e}")))?;
    speaker_stream.play().map_err(|e| unavailable(format!("the speaker does not start: {e}")))?;
    Ok(((mic_stream, speaker_stream), (in_rate, out_rate)))
}
