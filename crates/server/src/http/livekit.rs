//! LiveKit: tokens for a web widget and for each seat of a room, and the
//! rooms themselves (`switchboard-livekit` does the work). Without a LiveKit
//! configuration every route answers 503 saying what to set.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use switchboard_livekit::{
    CreatedRoom, Grant, LiveKitError, Participant, ParticipantRole, Room, TOKEN_TTL, WIDGET_TTL,
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
