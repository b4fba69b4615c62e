//! Help requests: the escalation queue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use switchboard_core::ErrorCode;
use switchboard_core::help::{HelpRequest, HelpStatus, LearningDecision, NewHelpRequest, RespondInput};
use switchboard_core::knowledge::KnowledgeEntry;
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery, parse_id};
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/help-requests", get(list).post(create))
        .route("/help-requests/{id}", get(show))
        .route("/help-requests/{id}/response", post(respond))
        .route("/help-requests/{id}/timeout", post(time_out))
        .route("/help-requests/{id}/learning", post(learning))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending`, `resolved` or `unresolved`; all when absent or empty.
    #[param(pattern = "^(|pending|resolved|unresolved)$")]
    status: Option<String>,
}

#[utoipa::path(get, operation_id = "list_help_requests", path = "/api/help-requests", tag = "help-requests", params(ListQuery),
    responses((status = 200, body = [HelpRequest]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<HelpRequest>>, ApiError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(HelpStatus::parse(raw).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("status must be pending, resolved or unresolved (got {raw:?})"),
            )
        })?),
    };
    Ok(Json(s.escalation.list(status).await?))
}

#[utoipa::path(post, operation_id = "create_help_request", path = "/api/help-requests", tag = "help-requests", request_body = NewHelpRequest,
    responses((status = 201, body = HelpRequest), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<NewHelpRequest>,
) -> Result<(StatusCode, Json<HelpRequest>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.escalation.create(&input).await?)))
}

#[utoipa::path(get, operation_id = "get_help_request", path = "/api/help-requests/{id}", tag = "help-requests", params(("id" = String, Path)),
    responses((status = 200, body = HelpRequest), (status = 404, body = ErrorBody)))]
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<HelpRequest>, ApiError> {
    Ok(Json(s.escalation.get(parse_id(&id, "help request")?).await?))
}

/// The outcome of a supervisor's response.
#[derive(Serialize, ToSchema)]
pub struct RespondResult {
    pub request: HelpRequest,
    /// The knowledge entry the answer created or updated.
    pub knowledge_entry: Option<KnowledgeEntry>,
}

#[utoipa::path(post, operation_id = "respond_to_help_request", path = "/api/help-requests/{id}/response", tag = "help-requests", params(("id" = String, Path)),
    request_body = RespondInput,
    responses((status = 200, body = RespondResult), (status = 404, body = ErrorBody),
        (status = 409, description = "already resolved or timed out; `details.current` is the request as it is", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn respond(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RespondInput>,
) -> Result<Json<RespondResult>, ApiError> {
    let id = parse_id(&id, "help request")?;
    let r = s.escalation.respond(id, &input).await?;
    Ok(Json(RespondResult { request: r.request, knowledge_entry: r.knowledge }))
}

#[utoipa::path(post, operation_id = "review_learning", path = "/api/help-requests/{id}/learning", tag = "help-requests",
    params(("id" = String, Path)),
    request_body = LearningDecision,
    responses((status = 200, body = RespondResult), (status = 404, body = ErrorBody),
        (status = 409, description = "no answer of this request is waiting for review", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn learning(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<LearningDecision>,
) -> Result<Json<RespondResult>, ApiError> {
    let (request, knowledge_entry) = s.escalation.review(parse_id(&id, "help request")?, input.approve).await?;
    Ok(Json(RespondResult { request, knowledge_entry }))
}

#[utoipa::path(post, operation_id = "time_out_help_request", path = "/api/help-requests/{id}/timeout", tag = "help-requests", params(("id" = String, Path)),
    responses((status = 200, body = HelpRequest), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn time_out(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<HelpRequest>, ApiError> {
    Ok(Json(s.escalation.time_out(parse_id(&id, "help request")?).await?))
}
