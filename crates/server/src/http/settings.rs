//! Runtime settings: request timeout and webhook URL.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use switchboard_core::settings::Settings;

use super::error::ErrorBody;
use super::extract::ApiJson;
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/settings", get(show).put(update))
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
