//! Listening without answering: one speaker's audio in, their final
//! transcripts out. The same front end as a call (voice activity, end of
//! turn), so a room's transcript is cut where a call's turns would be.
//!
//! Invariants:
//! - One transcriber per speaker: lines are never attributed by guessing.
//! - An utterance is transcribed after it ends, while the next one is being
//!   heard; each line carries when the speech started and stopped.
//! - It ends when its audio ends or it is cancelled; an engine error ends
//!   only this speaker's transcriber.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use switchboard_core::speech::{AudioFrame, SpeechError, SttOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::frontend::{FrontEnd, FrontEvent, FrontInput};
use crate::resample::Resampler;
use crate::{CallConfig, CallEngines};

/// One utterance, transcribed.
#[derive(Debug, Clone)]
pub struct Heard {
    pub text: String,
    pub language: Option<String>,
    /// When the speech began (pre-roll excluded) and when it stopped.
    pub started: Instant,
    pub ended: Instant,
    /// When the transcript was ready.
    pub transcribed: Instant,
}

/// Transcribes `audio` until it closes or `cancel` fires.
pub async fn transcribe(
    engines: CallEngines,
    config: CallConfig,
    mut audio: mpsc::Receiver<AudioFrame>,
    out: mpsc::Sender<Heard>,
    cancel: CancellationToken,
) -> Result<(), SpeechError> {
    let (fin_tx, fin_rx) = mpsc::channel(256);
    let (fev_tx, mut fev_rx) = mpsc::channel(256);
    let front =
        FrontEnd::new(config.clone(), engines.vad.detector(), engines.turn.clone(), Arc::new(AtomicBool::new(false)));
    let front_task = tokio::task::spawn_blocking(move || front.run(fin_rx, fev_tx));
    let mut fin_tx = Some(fin_tx);
    let mut utterance: Vec<f32> = Vec::new();
    let mut rate = 16_000;
    let mut started = Instant::now();
    let options =
        SttOptions { language: config.language.clone(), languages: config.languages.clone(), partial_every: None };
    // Utterances are transcribed one after the other (lines stay in order)
    // while the next is being heard; each line goes out as soon as it is made.
    let (clip_tx, mut clip_rx) = mpsc::channel::<(AudioFrame, Instant, Instant)>(16);
    let stt = engines.stt.clone();
    let mut worker = tokio::spawn(async move {
        while let Some((clip, started, ended)) = clip_rx.recv().await {
            if let Some(h) = transcribe_clip(&stt, options.clone(), clip, started, ended).await?
                && out.send(h).await.is_err()
            {
                break;
            }
        }
        Ok::<(), SpeechError>(())
    });
    let result = loop {
        tokio::select! {
            _ = cancel.cancelled() => break Ok(()),
            frame = audio.recv(), if fin_tx.is_some() => match frame {
                Some(f) => {
                    if let Some(tx) = &fin_tx && tx.send(FrontInput::Audio(f)).await.is_err() {
                        fin_tx = None;
                    }
                }
                // The speaker left: what they said last still counts.
                None => fin_tx = None,
            },
            ev = fev_rx.recv() => match ev {
                None => break Ok(()),
                Some(FrontEvent::SpeechStarted) => {
                    started = Instant::now();
                    utterance.clear();
                }
                Some(FrontEvent::Speech(f)) => {
                    rate = f.rate;
                    utterance.extend_from_slice(&f.samples);
                }
                Some(FrontEvent::Paused(_) | FrontEvent::Resumed) => {}
                Some(FrontEvent::SpeechEnded { last_voiced, .. }) => {
                    let clip = AudioFrame::new(rate, std::mem::take(&mut utterance));
                    if clip_tx.send((clip, started, last_voiced)).await.is_err() {
                        // The worker stopped on an engine error: say which.
                        break Ok(());
                    }
                }
                Some(FrontEvent::Error(e)) => break Err(e),
            },
        }
    };
    drop(fin_tx);
    // Speech cut off by the speaker leaving (or the room closing) is kept.
    if !cancel.is_cancelled() && utterance.len() > rate as usize / 4 {
        let clip = AudioFrame::new(rate, std::mem::take(&mut utterance));
        let _ = clip_tx.send((clip, started, Instant::now())).await;
    }
    drop(clip_tx);
    drop(fev_rx);
    let _ = front_task.await;
    let worked = tokio::select! {
        r = &mut worker => r.unwrap_or_else(|_| Err(SpeechError::Engine("a transcription task failed".into()))),
        _ = cancel.cancelled() => {
            worker.abort();
            Ok(())
        }
    };
    result.and(worked)
}

async fn transcribe_clip(
    stt: &std::sync::Arc<dyn switchboard_core::speech::SpeechToText>,
    options: SttOptions,
    clip: AudioFrame,
    started: Instant,
    ended: Instant,
) -> Result<Option<Heard>, SpeechError> {
    let want = stt.rate();
    let clip = if clip.rate == want {
        clip
    } else {
        tokio::task::spawn_blocking(move || Resampler::convert(&clip, want))
            .await
            .map_err(|_| SpeechError::Engine("the resampler thread failed".into()))??
    };
    let t = stt.transcribe(clip, options).await?;
    let text = t.text.trim().to_string();
    Ok((!text.is_empty()).then(|| Heard { text, language: t.language, started, ended, transcribed: Instant::now() }))
}
