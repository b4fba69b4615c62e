//! Runtime settings: request timeout and webhook URL; the agent's language model.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use switchboard_core::profile::BusinessProfile;
use switchboard_core::settings::{ModelSettings, Settings};

use crate::settings::ModelView;

use super::error::ErrorBody;
use super::extract::ApiJson;
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(show).put(update))
        .route("/settings/model", get(show_model).put(update_model))
        .route("/settings/business", get(show_profile).put(update_profile))
        .route("/settings/livekit", get(show_livekit).put(update_livekit))
        .route("/settings/speech", get(show_speech).put(update_speech))
}

#[utoipa::path(get, operation_id = "get_settings", path = "/api/settings", tag = "settings", responses((status = 200, body = Settings)))]
pub async fn show(State(s): State<AppState>) -> Json<Settings> {
    Json(s.settings.current())
}

#[utoipa::path(put, operation_id = "update_settings", path = "/api/settings", tag = "settings", request_body = Settings,
    responses((status = 200, body = Settings), (status = 422, body = ErrorBody)))]
pub async fn update(State(s): State<AppState>, ApiJson(input): ApiJson<Settings>) -> Result<Json<Settings>, ApiError> {
    Ok(Json(s.settings.update(input).await.map_err(ApiError::from_coded)?))
}

#[utoipa::path(get, operation_id = "get_model_settings", path = "/api/settings/model", tag = "settings",
    responses((status = 200, body = ModelView)))]
pub async fn show_model(State(s): State<AppState>) -> Json<ModelView> {
    Json(s.settings.model_view())
}

#[utoipa::path(put, operation_id = "update_model_settings", path = "/api/settings/model", tag = "settings",
    description = "Chooses the agent's language model; it answers from the next turn on. `api_key` is write-only: \
    absent keeps the saved key, an empty string removes it.",
    request_body = ModelSettings, responses((status = 200, body = ModelView), (status = 422, body = ErrorBody)))]
pub async fn update_model(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<ModelSettings>,
) -> Result<Json<ModelView>, ApiError> {
    Ok(Json(s.settings.update_model(input).await.map_err(ApiError::from_coded)?))
}

#[utoipa::path(get, operation_id = "get_business_profile", path = "/api/settings/business", tag = "settings",
    description = "The business the agent answers for; empty fields when not set yet (the UI then shows its first-run screen).",
    responses((status = 200, body = BusinessProfile)))]
pub async fn show_profile(State(s): State<AppState>) -> Result<Json<BusinessProfile>, ApiError> {
    Ok(Json(s.settings.profile().await.map_err(ApiError::from_coded)?))
}

#[utoipa::path(put, operation_id = "update_business_profile", path = "/api/settings/business", tag = "settings",
    description = "Replaces the business profile; the agent's prompts and fixed sentences are filled from it from the next turn on.",
    request_body = BusinessProfile, responses((status = 200, body = BusinessProfile), (status = 422, body = ErrorBody)))]
pub async fn update_profile(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<BusinessProfile>,
) -> Result<Json<BusinessProfile>, ApiError> {
    Ok(Json(s.settings.update_profile(&s.sessions, input).await.map_err(ApiError::from_coded)?))
}

#[utoipa::path(get, operation_id = "get_livekit_settings", path = "/api/settings/livekit", tag = "settings",
    responses((status = 200, body = crate::settings::LiveKitView)))]
pub async fn show_livekit(State(s): State<AppState>) -> Json<crate::settings::LiveKitView> {
    Json(crate::settings::livekit_view(&s.livekit))
}

#[utoipa::path(put, operation_id = "update_livekit_settings", path = "/api/settings/livekit", tag = "settings",
    description = "Sets the LiveKit server; the next token, room or agent join uses it, no restart. `api_secret` is \
    write-only: absent keeps the saved secret for the same URL and key, an empty string removes it.",
    request_body = switchboard_core::settings::LiveKitSettings,
    responses((status = 200, body = crate::settings::LiveKitView), (status = 409, description = "set by the environment", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_livekit(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<switchboard_core::settings::LiveKitSettings>,
) -> Result<Json<crate::settings::LiveKitView>, ApiError> {
    Ok(Json(s.settings.update_livekit(&s.livekit, input).await.map_err(ApiError::from_coded)?))
}

#[utoipa::path(get, operation_id = "get_speech_settings", path = "/api/settings/speech", tag = "settings",
    description = "The speech engine per role (offline or a cloud service) and which services have a key; never the keys.",
    responses((status = 200, body = crate::settings::SpeechView)))]
pub async fn show_speech(State(s): State<AppState>) -> Json<crate::settings::SpeechView> {
    Json(s.speech_choice.view())
}

#[utoipa::path(put, operation_id = "update_speech_settings", path = "/api/settings/speech", tag = "settings",
    description = "Chooses the speech engines; the next call runs on them, with the offline engines behind. Each chosen \
    service is connected to once with its key first: a refused key or an unreachable service is a 422 here. `api_key` \
    is write-only, per service: a service left out keeps its key, an empty string removes it.",
    request_body = switchboard_core::settings::SpeechSettings,
    responses((status = 200, body = crate::settings::SpeechView), (status = 422, body = ErrorBody)))]
pub async fn update_speech(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<switchboard_core::settings::SpeechSettings>,
) -> Result<Json<crate::settings::SpeechView>, ApiError> {
    Ok(Json(s.settings.update_speech(&s.speech_choice, input).await.map_err(ApiError::from_coded)?))
}
