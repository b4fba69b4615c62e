//! LiveKit: tokens for a web widget and for each seat of a room, and the
//! rooms themselves (`switchboard-livekit` does the work). Without a LiveKit
//! configuration every route answers 503 saying what to set.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchboard_interview::{ExportFormat, Speaker, TranscriptExport};
use switchboard_livekit::agent::{JoinWith, RoomAgentMode, RoomAgentStatus, RoomLive};
use switchboard_livekit::{
    CreatedRoom, Grant, LiveKitError, Participant, ParticipantRole, Room, TOKEN_TTL, WIDGET_TTL, validate_name,
};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/get-livekit-token", get(widget_token))
        .route("/tokens/generate", post(generate))
        .route("/rooms", get(list))
        .route("/rooms/create", post(create))
        .route("/rooms/{room_name}", delete(remove))
        .route("/rooms/{room_name}/participants", get(participants))
        .route("/rooms/{room_name}/agent", post(agent_join).delete(agent_leave).get(agent_status))
        .route("/rooms/{room_name}/transcript", get(transcript))
        .route("/rooms/{room_name}/transcript/export", get(export))
        .route("/rooms/{room_name}/transcript/live", get(live))
        .route("/rooms/{room_name}/speakers/{identity}", put(rename))
}

impl From<LiveKitError> for ApiError {
    fn from(e: LiveKitError) -> Self {
        ApiError::from_coded(e)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WidgetQuery {
    /// The room to join; a new `call-…` room when absent.
    #[param(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    room: Option<String>,
    /// The participant's identity; a new `caller-…` one when absent.
    #[param(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    identity: Option<String>,
    #[param(max_length = 200)]
    name: Option<String>,
}

/// The token a web widget joins with (as a talking participant).
#[derive(Serialize, ToSchema)]
pub struct WidgetToken {
    pub token: String,
    #[serde(rename = "serverUrl")]
    pub server_url: String,
    pub room_name: String,
    pub participant_identity: String,
}

#[utoipa::path(get, operation_id = "livekit_widget_token", path = "/api/get-livekit-token", tag = "livekit",
    params(WidgetQuery),
    responses((status = 200, body = WidgetToken), (status = 422, body = ErrorBody),
        (status = 503, description = "LiveKit is not configured", body = ErrorBody)))]
pub async fn widget_token(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<WidgetQuery>,
) -> Result<Json<WidgetToken>, ApiError> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let room = q.room.unwrap_or_else(|| format!("call-{id}"));
    let identity = q.identity.unwrap_or_else(|| format!("caller-{id}"));
    let g = s.livekit.token(&room, &identity, q.name.as_deref(), ParticipantRole::Participant, WIDGET_TTL)?;
    Ok(Json(WidgetToken {
        token: g.token,
        server_url: g.url,
        room_name: g.room_name,
        participant_identity: g.participant_identity,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub room_name: String,
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub participant_identity: String,
    #[schema(max_length = 200)]
    pub participant_name: Option<String>,
    pub role: ParticipantRole,
}

#[utoipa::path(post, operation_id = "generate_livekit_token", path = "/api/tokens/generate", tag = "livekit",
    request_body = TokenRequest,
    responses((status = 200, body = Grant), (status = 503, description = "LiveKit is not configured", body = ErrorBody)))]
pub async fn generate(State(s): State<AppState>, ApiJson(r): ApiJson<TokenRequest>) -> Result<Json<Grant>, ApiError> {
    let name = r.participant_name.as_deref();
    Ok(Json(s.livekit.token(&r.room_name, &r.participant_identity, name, r.role, TOKEN_TTL)?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    /// A new `room-…` name when absent.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub room_name: Option<String>,
    /// 0 or absent: the server's limit.
    #[schema(maximum = 1000)]
    pub max_participants: Option<u32>,
}

#[utoipa::path(post, operation_id = "create_room", path = "/api/rooms/create", tag = "livekit",
    request_body = CreateRoomRequest,
    responses((status = 201, body = CreatedRoom), (status = 503, description = "LiveKit is not configured or not reachable", body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiJson(r): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<CreatedRoom>), ApiError> {
    let room = s.livekit.create_room(r.room_name.as_deref(), r.max_participants.unwrap_or(0)).await?;
    Ok((StatusCode::CREATED, Json(room)))
}

#[utoipa::path(get, operation_id = "list_rooms", path = "/api/rooms", tag = "livekit",
    responses((status = 200, body = [Room]), (status = 503, description = "LiveKit is not configured or not reachable", body = ErrorBody)))]
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<Room>>, ApiError> {
    Ok(Json(s.livekit.rooms().await?))
}

#[utoipa::path(get, operation_id = "list_room_participants", path = "/api/rooms/{room_name}/participants", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    responses((status = 200, body = [Participant]), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "LiveKit is not configured or not reachable", body = ErrorBody)))]
pub async fn participants(
    State(s): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<Vec<Participant>>, ApiError> {
    Ok(Json(s.livekit.participants(&room).await?))
}

#[utoipa::path(delete, operation_id = "delete_room", path = "/api/rooms/{room_name}", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "LiveKit is not configured or not reachable", body = ErrorBody)))]
pub async fn remove(State(s): State<AppState>, Path(room): Path<String>) -> Result<StatusCode, ApiError> {
    s.livekit.delete_room(&room).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    /// `agent` talks with the caller; `transcribe` only listens.
    pub mode: RoomAgentMode,
}

#[utoipa::path(post, operation_id = "room_agent_join", path = "/api/rooms/{room_name}/agent", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    request_body = AgentRequest,
    responses((status = 201, body = RoomAgentStatus), (status = 409, description = "the agent is already in the room", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "LiveKit is not configured, not reachable, or the media library is missing", body = ErrorBody)))]
pub async fn agent_join(
    State(s): State<AppState>,
    Path(room): Path<String>,
    ApiJson(r): ApiJson<AgentRequest>,
) -> Result<(StatusCode, Json<RoomAgentStatus>), ApiError> {
    validate_name("room_name", &room)?;
    if r.mode == RoomAgentMode::Agent
        && let Some(missing) = s.speech_missing()
    {
        return Err(ApiError::from_coded(switchboard_core::speech::SpeechError::ModelMissing {
            what: "a speech engine".into(),
            hint: missing,
        }));
    }
    let (app, app2) = (s.clone(), s.clone());
    let with = JoinWith {
        engines: Arc::new(move |session, usage| app.call_engines(session, usage)),
        voice_agent: Arc::new(move |usage| app2.voice_agent(usage)),
        call: s.call.clone(),
    };
    Ok((StatusCode::CREATED, Json(s.rooms.join(&room, r.mode, with).await?)))
}

#[utoipa::path(delete, operation_id = "room_agent_leave", path = "/api/rooms/{room_name}/agent", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    responses((status = 200, body = RoomAgentStatus), (status = 409, description = "the agent is not in the room", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn agent_leave(
    State(s): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<RoomAgentStatus>, ApiError> {
    Ok(Json(s.rooms.leave(&room).await?))
}

fn known_room(s: &AppState, room: &str) -> Result<(), ApiError> {
    validate_name("room_name", room)?;
    if s.rooms.status(room).is_none() {
        return Err(ApiError::new(
            switchboard_core::ErrorCode::NotFound,
            format!("the agent has not been in room `{room}`; there is no transcript"),
        ));
    }
    Ok(())
}

#[utoipa::path(get, operation_id = "room_agent_status", path = "/api/rooms/{room_name}/agent", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    responses((status = 200, body = RoomAgentStatus), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn agent_status(
    State(s): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<RoomAgentStatus>, ApiError> {
    known_room(&s, &room)?;
    Ok(Json(s.rooms.status(&room).expect("checked")))
}

/// A room's transcript with speaker names resolved.
#[derive(Serialize, ToSchema)]
pub struct RoomTranscript {
    pub status: RoomAgentStatus,
    #[serde(flatten)]
    pub transcript: TranscriptExport,
}

#[utoipa::path(get, operation_id = "room_transcript", path = "/api/rooms/{room_name}/transcript", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    responses((status = 200, body = RoomTranscript), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transcript(State(s): State<AppState>, Path(room): Path<String>) -> Result<Json<RoomTranscript>, ApiError> {
    known_room(&s, &room)?;
    let t = s.rooms.transcript(&room).expect("checked");
    Ok(Json(RoomTranscript { status: s.rooms.status(&room).expect("checked"), transcript: TranscriptExport::from(&t) }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TranscriptExportQuery {
    /// `txt`, `vtt`, `srt`, `md` or `json`.
    #[param(pattern = "^(txt|vtt|srt|md|markdown|json)$")]
    format: String,
}

#[utoipa::path(get, operation_id = "export_room_transcript", path = "/api/rooms/{room_name}/transcript/export", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$"), TranscriptExportQuery),
    responses((status = 200, description = "the transcript in that format", content_type = "text/plain", body = String),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export(
    State(s): State<AppState>,
    Path(room): Path<String>,
    ApiQuery(q): ApiQuery<TranscriptExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let format: ExportFormat = q.format.parse().map_err(|_| {
        ApiError::new(switchboard_core::ErrorCode::ValidationFailed, "format must be txt, vtt, srt, md or json")
    })?;
    known_room(&s, &room)?;
    let t = s.rooms.transcript(&room).expect("checked");
    let body = switchboard_interview::export(&t, format);
    // The room name is [A-Za-z0-9._-] only: safe in the header as is.
    let disposition = format!("attachment; filename=\"{room}-transcript.{}\"", format.extension());
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, format.content_type().to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameSpeaker {
    #[schema(min_length = 1, max_length = 80)]
    pub name: String,
}

#[utoipa::path(put, operation_id = "rename_room_speaker", path = "/api/rooms/{room_name}/speakers/{identity}", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$"),
        ("identity" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    request_body = RenameSpeaker,
    responses((status = 200, body = Speaker), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rename(
    State(s): State<AppState>,
    Path((room, identity)): Path<(String, String)>,
    ApiJson(r): ApiJson<RenameSpeaker>,
) -> Result<Json<Speaker>, ApiError> {
    validate_name("participant_identity", &identity)?;
    known_room(&s, &room)?;
    Ok(Json(s.rooms.rename(&room, &identity, &r.name)?))
}

#[utoipa::path(get, operation_id = "watch_room_transcript", path = "/api/rooms/{room_name}/transcript/live", tag = "livekit",
    params(("room_name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,128}$")),
    description = "Browsers may pass the token as `?token=`.",
    responses((status = 101, description = "WebSocket: a `snapshot` frame, then `line`, `window`, `speaker` and `status` frames"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn live(
    State(s): State<AppState>,
    Path(room): Path<String>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Result<axum::response::Response, ApiError> {
    known_room(&s, &room)?;
    let (t, status, rx) = s.rooms.watch(&room).expect("checked");
    let cancel = s.cancel.clone();
    Ok(ws.on_upgrade(move |socket| watch_room(socket, t, status, rx, cancel)))
}

async fn watch_room(
    mut socket: axum::extract::ws::WebSocket,
    transcript: switchboard_interview::Transcript,
    status: RoomAgentStatus,
    mut rx: tokio::sync::broadcast::Receiver<RoomLive>,
    cancel: tokio_util::sync::CancellationToken,
) {
    use axum::extract::ws::Message;
    use tokio::sync::broadcast::error::RecvError;
    let snapshot =
        serde_json::json!({"type": "snapshot", "status": status, "transcript": TranscriptExport::from(&transcript)});
    if socket.send(Message::Text(snapshot.to_string().into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => { let _ = socket.send(Message::Close(None)).await; return; }
            ev = rx.recv() => {
                let text = match ev {
                    Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
                    Err(RecvError::Lagged(missed)) => serde_json::json!({"type": "stream.lagged", "missed": missed}).to_string(),
                    Err(RecvError::Closed) => { let _ = socket.send(Message::Close(None)).await; return; }
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    }
}
