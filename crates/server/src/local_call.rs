//! A call through this computer's own microphone and speaker: the desktop
//! app's "Test call" and `switchboard call`. The transport around
//! `switchboard-call`, like the browser call's WebSocket.

use std::sync::Arc;

use switchboard_call::{CallEvent, CallInput, CallOutput, CallSummary};
use switchboard_core::session::{Channel, NewSession};
use switchboard_core::speech::SpeechError;
use switchboard_voice::device::{LocalAudio, MicEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::http::{ApiError, AppState};

/// A local call in progress.
pub struct LocalCall {
    pub session_id: Uuid,
    pub hang_up: CancellationToken,
    pub done: tokio::task::JoinHandle<CallSummary>,
}

/// Which devices (by name; `None` for the defaults).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalDevices {
    #[schema(max_length = 200)]
    pub input: Option<String>,
    #[schema(max_length = 200)]
    pub output: Option<String>,
}

/// Opens the devices and starts the call; `on_event` sees every event.
pub async fn start(
    state: &AppState,
    devices: LocalDevices,
    on_event: impl Fn(&CallEvent) + Send + Sync + 'static,
) -> Result<LocalCall, ApiError> {
    if let Some(missing) = state.speech_missing() {
        return Err(ApiError::from_coded(SpeechError::ModelMissing { what: "a speech engine".into(), hint: missing }));
    }
    let (mic_tx, mut mic_rx) = mpsc::channel(256);
    let audio = tokio::task::spawn_blocking(move || {
        LocalAudio::open(devices.input.as_deref(), devices.output.as_deref(), mic_tx)
    })
    .await
    .map_err(|_| ApiError::new(switchboard_core::ErrorCode::Internal, "the audio thread failed"))?
    .map_err(ApiError::from_coded)?;
    let audio = Arc::new(audio);
    let session = state
        .sessions
        .start(&NewSession {
            channel: Some(Channel::Voice),
            caller_name: Some("Test call".into()),
            caller_contact: None,
            language: None,
        })
        .await?;
    let mut config = state.call.clone();
    // The speaker is heard by the microphone.
    config.echo_guard = true;
    let ctx = state.call_context(session.id, audio.speaker_rate, config);
    let (in_tx, in_rx) = mpsc::channel(256);
    let (out_tx, mut out_rx) = mpsc::channel(256);
    let hang_up = CancellationToken::new();
    let call = state.calls.spawn(switchboard_call::run(ctx, in_rx, out_tx));
    let latency = state.voice_latency.clone();
    let stop = hang_up.clone();
    let done = state.calls.spawn(async move {
        let mut in_tx = Some(in_tx);
        loop {
            tokio::select! {
                // Dropping the input is the hang-up: waiting to send one could
                // block on a call that is itself waiting for us to play.
                _ = stop.cancelled(), if in_tx.is_some() => in_tx = None,
                mic = mic_rx.recv(), if in_tx.is_some() => match mic {
                    Some(MicEvent::Audio(frame)) => {
                        if let Some(tx) = &in_tx && tx.try_send(CallInput::Audio(frame)).is_err() {
                            tracing::debug!("call input full; a microphone frame was dropped");
                        }
                    }
                    Some(MicEvent::Lost(_)) | None => {
                        on_event(&CallEvent::Error {
                            code: switchboard_core::ErrorCode::Unavailable,
                            message: "the microphone stopped (unplugged?); the call is closed".into(),
                        });
                        in_tx = None;
                    }
                },
                out = out_rx.recv() => match out {
                    Some(CallOutput::Audio(frame)) => audio.play(frame.samples),
                    Some(CallOutput::Event(e)) => {
                        match &e {
                            CallEvent::Paused | CallEvent::Interrupted { .. } => audio.flush(),
                            CallEvent::Latency { timings, .. } => latency.record(timings),
                            _ => {}
                        }
                        on_event(&e);
                    }
                    None => break,
                },
            }
        }
        drop(audio);
        call.await.unwrap_or(CallSummary { cause: switchboard_call::EndCause::Error, turns: 0 })
    });
    Ok(LocalCall { session_id: session.id, hang_up, done })
}
