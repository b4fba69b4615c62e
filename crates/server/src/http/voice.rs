//! Voice: the engines' status, the browser call (`WS /api/voice/stream`) and
//! the batch call (`POST /api/voice/process`). Handlers only move audio and
//! events between the socket and `switchboard-call`.

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use switchboard_call::resample::Resampler;
use switchboard_call::{CallEvent, CallInput, CallOutput};
use switchboard_core::session::{Channel, NewSession, TurnInput};
use switchboard_core::speech::{AudioFrame, SpeechEngineInfo, SpeechError, SttOptions, check_rate};
use switchboard_core::{Coded, ErrorCode};
use switchboard_session::CallerMessage;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::ErrorBody;
use super::extract::{ApiQuery, parse_id};
use super::{ApiError, AppState};

/// Largest WAV the batch call takes (about two minutes of 16 kHz audio).
const MAX_WAV_BYTES: usize = 8 * 1024 * 1024;
/// Largest binary frame on the browser call (a second of 48 kHz PCM16 is 96 KB).
const MAX_FRAME_BYTES: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/voice", get(status))
        .route("/voice/stream", get(stream))
        .route("/voice/process", post(process).layer(DefaultBodyLimit::disable()))
        .route("/audio-devices", get(audio_devices))
        .route("/voice/local-call", post(start_local_call).delete(end_local_call))
}

#[derive(Serialize, ToSchema)]
pub struct VoiceStatus {
    pub stt: SpeechEngineInfo,
    pub tts: SpeechEngineInfo,
    pub vad: SpeechEngineInfo,
    /// Whether a call can run (speech-to-text and text-to-speech ready).
    pub ready: bool,
    pub call: switchboard_call::CallConfig,
}

#[utoipa::path(get, operation_id = "voice_status", path = "/api/voice", tag = "voice",
    responses((status = 200, body = VoiceStatus)))]
pub async fn status(State(s): State<AppState>) -> Json<VoiceStatus> {
    let ready = s.speech_missing().is_none();
    let engines = s.call_engines(None, &Default::default());
    Json(VoiceStatus {
        stt: engines.stt.info(),
        tts: engines.tts.info(),
        vad: s.speech.vad.info(),
        ready,
        call: s.call.clone(),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Sample rate of the PCM16 mono audio the client sends (default 16000).
    #[param(minimum = 8000, maximum = 96000)]
    rate: Option<u32>,
    /// Sample rate the client wants the reply audio at (default: `rate`).
    #[param(minimum = 8000, maximum = 96000)]
    out_rate: Option<u32>,
    /// The caller's language (ISO 639-1), when known.
    #[param(pattern = "^[a-z]{2}$")]
    language: Option<String>,
    /// Browsers pass the API token here (WebSockets carry no header).
    #[allow(dead_code)]
    token: Option<String>,
}

#[utoipa::path(get, operation_id = "voice_stream", path = "/api/voice/stream", tag = "voice", params(StreamQuery),
    description = "WebSocket upgrade: a call with the agent. The server first sends \
    `{\"type\":\"session\",\"session_id\",\"input_rate\",\"output_rate\"}`. The client sends binary PCM16 little-endian mono \
    frames at `input_rate` and may send `{\"type\":\"end\"}` to end an utterance (else the server's voice activity \
    detection decides) or `{\"type\":\"hangup\"}`. The server sends binary PCM16 reply audio at `output_rate` and JSON \
    events: `transcript` (partial/final), `agent_text`, `latency`, `paused`, `resumed`, `interrupted`, `audio_end`, \
    `error`, `ended`.",
    responses((status = 101, description = "switching to WebSocket", body = CallEvent), (status = 422, body = ErrorBody)))]
pub async fn stream(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let rate = q.rate.unwrap_or(16_000);
    let out_rate = q.out_rate.unwrap_or(rate);
    check_rate(rate).and_then(|_| check_rate(out_rate)).map_err(ApiError::from_coded)?;
    let language = validate_language(q.language)?;
    Ok(ws.max_message_size(MAX_FRAME_BYTES).on_upgrade(move |socket| call(socket, s, rate, out_rate, language)))
}

fn validate_language(l: Option<String>) -> Result<Option<String>, ApiError> {
    match l {
        Some(l) if l.len() == 2 && l.chars().all(|c| c.is_ascii_lowercase()) => Ok(Some(l)),
        Some(_) => Err(ApiError::new(ErrorCode::ValidationFailed, "language: must be a two-letter ISO 639-1 code")),
        None => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    End,
    Hangup,
}

fn event_text(e: &CallEvent) -> Message {
    Message::Text(serde_json::to_string(e).unwrap_or_default().into())
}

async fn call(mut socket: WebSocket, s: AppState, rate: u32, out_rate: u32, language: Option<String>) {
    let send_error = |code: ErrorCode, message: String| {
        Message::Text(serde_json::json!({"type": "error", "code": code, "message": message}).to_string().into())
    };
    if let Some(missing) = s.speech_missing() {
        let _ = socket
            .send(send_error(ErrorCode::Unavailable, format!("voice calls need the speech models: {missing}")))
            .await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    let session = match s
        .sessions
        .start(&NewSession {
            channel: Some(Channel::Voice),
            caller_name: None,
            caller_contact: None,
            language: language.clone(),
        })
        .await
    {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(error = %e, "voice call: the session did not start");
            let _ = socket.send(send_error(e.code(), e.public_message())).await;
            return;
        }
    };
    let hello =
        serde_json::json!({"type": "session", "session_id": session.id, "input_rate": rate, "output_rate": out_rate});
    if socket.send(Message::Text(hello.to_string().into())).await.is_err() {
        let _ = s.sessions.end(session.id).await;
        return;
    }
    let mut config = s.call.clone();
    if language.is_some() {
        config.language = language;
    }
    let ctx = s.call_context(session.id, out_rate, config);
    let (in_tx, in_rx) = mpsc::channel(256);
    let (out_tx, mut out_rx) = mpsc::channel(256);
    let task = s.calls.spawn(switchboard_call::run(ctx, in_rx, out_tx));
    let mut in_tx = Some(in_tx);
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(CallOutput::Audio(frame)) => {
                    if socket.send(Message::Binary(frame.to_pcm16_le().into())).await.is_err() { break; }
                }
                Some(CallOutput::Event(e)) => {
                    if let CallEvent::Latency { timings, .. } = &e {
                        s.voice_latency.record(timings);
                    }
                    let last = matches!(e, CallEvent::Ended { .. });
                    if socket.send(event_text(&e)).await.is_err() || last { break; }
                }
                None => break,
            },
            incoming = socket.recv(), if in_tx.is_some() => {
                let tx = in_tx.as_ref().expect("checked");
                let input = match incoming {
                    Some(Ok(Message::Binary(bytes))) => match AudioFrame::from_pcm16_le(rate, &bytes) {
                        Ok(frame) => Some(CallInput::Audio(frame)),
                        Err(e) => {
                            let _ = socket.send(send_error(ErrorCode::ValidationFailed, e.to_string())).await;
                            None
                        }
                    },
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientMessage>(&text) {
                        Ok(ClientMessage::End) => Some(CallInput::EndOfUtterance),
                        Ok(ClientMessage::Hangup) => Some(CallInput::HangUp),
                        Err(_) => {
                            let _ = socket.send(send_error(ErrorCode::BadRequest,
                                "unknown message: send binary PCM16 audio, {\"type\":\"end\"} or {\"type\":\"hangup\"}".into())).await;
                            None
                        }
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    // The client vanished: the call ends as a hang-up.
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Some(CallInput::HangUp),
                };
                if let Some(input) = input {
                    let hang_up = matches!(input, CallInput::HangUp);
                    // Never wait on the call here: it may be waiting on us to
                    // drain its output. Seconds of audio queued means the
                    // client sends faster than anyone speaks; the call ends.
                    match tx.try_send(input) {
                        Ok(()) if !hang_up => {}
                        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => in_tx = None,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            let _ = socket.send(send_error(ErrorCode::ValidationFailed,
                                "audio is arriving faster than real time; the call is closed".into())).await;
                            in_tx = None;
                        }
                    }
                }
            }
        }
    }
    drop(in_tx);
    // Keep draining so the call never blocks on a full channel while ending.
    tokio::spawn(async move { while out_rx.recv().await.is_some() {} });
    let _ = task.await;
    let _ = socket.send(Message::Close(None)).await;
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProcessQuery {
    /// Continue this voice session instead of starting one.
    session_id: Option<String>,
    /// The caller's language (ISO 639-1), when known.
    #[param(pattern = "^[a-z]{2}$")]
    language: Option<String>,
    /// Sample rate of the reply WAV (default: the input's).
    #[param(minimum = 8000, maximum = 96000)]
    out_rate: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct ProcessResult {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: Uuid,
    pub transcript: switchboard_core::speech::Transcript,
    pub reply_text: String,
    /// The spoken reply: a base64 WAV (PCM16 mono).
    pub reply_wav_base64: String,
    pub reply_rate: u32,
    /// The stored agent turn's timings.
    pub timings: Option<switchboard_core::session::TurnTimings>,
}

#[utoipa::path(post, operation_id = "voice_process", path = "/api/voice/process", tag = "voice", params(ProcessQuery),
    request_body(content = Vec<u8>, content_type = "audio/wav", description = "one utterance as a WAV file"),
    responses((status = 200, body = ProcessResult), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn process(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ProcessQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<ProcessResult>, ApiError> {
    let body: Bytes = axum::body::to_bytes(body, MAX_WAV_BYTES).await.map_err(|_| {
        ApiError::new(ErrorCode::PayloadTooLarge, format!("the WAV is over {} MiB", MAX_WAV_BYTES / (1024 * 1024)))
    })?;
    let ctype = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !matches!(ctype.split(';').next().unwrap_or("").trim(), "audio/wav" | "audio/x-wav" | "audio/wave") {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the utterance as audio/wav"));
    }
    let language = validate_language(q.language)?;
    if let Some(r) = q.out_rate {
        check_rate(r).map_err(ApiError::from_coded)?;
    }
    let audio = switchboard_voice::wav::decode(&body).map_err(ApiError::from_coded)?;
    if audio.seconds() < 0.1 {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "the audio is empty"));
    }
    let out_rate = q.out_rate.unwrap_or(audio.rate);
    let stt_rate = s.speech.stt.rate();
    let mut vad = s.speech.vad.detector();
    // Resampling and voice activity: compute, so off the runtime.
    let (audio, voiced_secs) = tokio::task::spawn_blocking(move || {
        let for_vad = Resampler::convert(&audio, vad.rate())?;
        let n = vad.frame_len();
        let voiced = for_vad.samples.chunks_exact(n).filter(|f| vad.probability(f) >= 0.5).count();
        let secs = voiced as f64 * n as f64 / vad.rate() as f64;
        Resampler::convert(&audio, stt_rate).map(|a| (a, secs))
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "resampling failed"))?
    .map_err(ApiError::from_coded)?;
    // Whisper writes words even for silence ("you"): only audio with some
    // speech in it goes to it.
    if voiced_secs < 0.15 {
        return Err(ApiError::from_coded(SpeechError::BadAudio("no speech was heard in the audio".into())));
    }
    let transcript = s
        .speech
        .stt
        .transcribe(
            audio,
            SttOptions { language: language.clone(), languages: s.call.languages.clone(), partial_every: None },
        )
        .await
        .map_err(ApiError::from_coded)?;
    if !transcript.has_words() {
        return Err(ApiError::from_coded(SpeechError::BadAudio("no speech was heard in the audio".into())));
    }
    let session_id = match q.session_id {
        Some(id) => parse_id(&id, "session")?,
        None => {
            s.sessions
                .start(&NewSession {
                    channel: Some(Channel::Voice),
                    caller_name: None,
                    caller_contact: None,
                    language: None,
                })
                .await?
                .id
        }
    };
    let message = CallerMessage {
        text: transcript.text.clone(),
        input: TurnInput::Transcribed { confidence: transcript.confidence, language: transcript.language.clone() },
        interrupt: false,
    };
    let outcome = s.sessions.ask_message(session_id, message).await?;
    let reply_text = outcome.reply.text.clone();
    let lang = transcript.language.clone().filter(|l| s.speech.tts.supports(l)).unwrap_or_else(|| "en".into());
    let mut speech = s.speech.tts.speak(&reply_text, &lang).await.map_err(ApiError::from_coded)?;
    let mut samples = Vec::new();
    let mut rate = out_rate;
    while let Some(frame) = speech.recv().await {
        let frame = frame.map_err(ApiError::from_coded)?;
        rate = frame.rate;
        samples.extend(frame.samples);
    }
    let spoken = AudioFrame::new(rate, samples);
    let reply = tokio::task::spawn_blocking(move || Resampler::convert(&spoken, out_rate))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "resampling failed"))?
        .map_err(ApiError::from_coded)?;
    let wav = switchboard_voice::wav::encode(&reply);
    Ok(Json(ProcessResult {
        session_id,
        transcript,
        reply_text,
        reply_wav_base64: base64::engine::general_purpose::STANDARD.encode(wav),
        reply_rate: out_rate,
        timings: outcome.reply.timings,
    }))
}

#[utoipa::path(get, operation_id = "audio_devices", path = "/api/audio-devices", tag = "voice",
    responses((status = 200, body = [switchboard_voice::device::AudioDevice]), (status = 503, body = ErrorBody)))]
pub async fn audio_devices() -> Result<Json<Vec<switchboard_voice::device::AudioDevice>>, ApiError> {
    let list = tokio::task::spawn_blocking(switchboard_voice::device::list)
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the audio system did not answer"))?
        .map_err(ApiError::from_coded)?;
    Ok(Json(list))
}

#[derive(Serialize, ToSchema)]
pub struct LocalCallStarted {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: Uuid,
}

#[utoipa::path(post, operation_id = "start_local_call", path = "/api/voice/local-call", tag = "voice",
    request_body = crate::local_call::LocalDevices,
    description = "A test call through this computer's microphone and speaker (the desktop app). Its transcript \
    is the returned session's; one at a time.",
    responses((status = 201, body = LocalCallStarted), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn start_local_call(
    State(s): State<AppState>,
    super::extract::ApiJson(devices): super::extract::ApiJson<crate::local_call::LocalDevices>,
) -> Result<(axum::http::StatusCode, Json<LocalCallStarted>), ApiError> {
    for name in [&devices.input, &devices.output].into_iter().flatten() {
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(ApiError::new(ErrorCode::ValidationFailed, "device names are 1 to 200 printable characters"));
        }
    }
    let mut slot = s.local_call.lock().await;
    if slot.as_ref().is_some_and(|c| !c.done.is_finished()) {
        return Err(ApiError::new(ErrorCode::Conflict, "a test call is already running; hang it up first"));
    }
    let call = crate::local_call::start(&s, devices, |_| {}).await?;
    let session_id = call.session_id;
    *slot = Some(call);
    Ok((axum::http::StatusCode::CREATED, Json(LocalCallStarted { session_id })))
}

#[utoipa::path(delete, operation_id = "end_local_call", path = "/api/voice/local-call", tag = "voice",
    responses((status = 204, description = "hung up"), (status = 404, body = ErrorBody)))]
pub async fn end_local_call(State(s): State<AppState>) -> Result<axum::http::StatusCode, ApiError> {
    let call = s.local_call.lock().await.take().filter(|c| !c.done.is_finished());
    let Some(call) = call else {
        return Err(ApiError::new(ErrorCode::NotFound, "no test call is running"));
    };
    call.hang_up.cancel();
    let _ = call.done.await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
