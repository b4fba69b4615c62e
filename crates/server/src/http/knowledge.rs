//! The knowledge base: list, search, create, update, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use switchboard_core::knowledge::{KnowledgeEntry, KnowledgeInput, KnowledgeSource};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery, parse_id};
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/knowledge-base", get(list).post(create))
        .route("/knowledge-base/{id}", get(show).put(update).delete(remove))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Full-text query; when present, results are search hits, best first.
    q: Option<String>,
    /// At most this many (default 100 for lists, 20 for searches; max 500).
    limit: Option<u32>,
    offset: Option<u32>,
}

/// An entry, with its BM25 score when the list is a search.
#[derive(Serialize, ToSchema)]
pub struct KnowledgeItem {
    #[serde(flatten)]
    pub entry: KnowledgeEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

#[utoipa::path(get, operation_id = "list_knowledge", path = "/api/knowledge-base", tag = "knowledge-base", params(ListQuery),
    responses((status = 200, body = [KnowledgeItem]), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<KnowledgeItem>>, ApiError> {
    let limit = q.limit.unwrap_or(if q.q.is_some() { 20 } else { 100 }).clamp(1, 500);
    let Some(query) = q.q else {
        let entries = s.knowledge.list(limit, q.offset.unwrap_or(0)).await?;
        return Ok(Json(entries.into_iter().map(|entry| KnowledgeItem { entry, score: None }).collect()));
    };
    let mut items = Vec::new();
    for hit in s.knowledge.search(&query, limit as usize).await? {
        let Ok(id) = uuid::Uuid::parse_str(&hit.doc.id) else { continue };
        // The index may briefly hold an entry deleted a moment ago: skip it.
        match s.knowledge.get(id).await {
            Ok(entry) => items.push(KnowledgeItem { entry, score: Some(hit.score) }),
            Err(switchboard_knowledge::KnowledgeError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(items))
}

#[utoipa::path(post, operation_id = "create_knowledge", path = "/api/knowledge-base", tag = "knowledge-base", request_body = KnowledgeInput,
    responses((status = 201, body = KnowledgeEntry), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<KnowledgeInput>,
) -> Result<(StatusCode, Json<KnowledgeEntry>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.knowledge.create(&input, KnowledgeSource::Manual).await?)))
}

#[utoipa::path(get, operation_id = "get_knowledge", path = "/api/knowledge-base/{id}", tag = "knowledge-base", params(("id" = String, Path)),
    responses((status = 200, body = KnowledgeEntry), (status = 404, body = ErrorBody)))]
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<KnowledgeEntry>, ApiError> {
    Ok(Json(s.knowledge.get(parse_id(&id, "knowledge entry")?).await?))
}

#[utoipa::path(put, operation_id = "update_knowledge", path = "/api/knowledge-base/{id}", tag = "knowledge-base", params(("id" = String, Path)),
    request_body = KnowledgeInput,
    responses((status = 200, body = KnowledgeEntry), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<KnowledgeInput>,
) -> Result<Json<KnowledgeEntry>, ApiError> {
    Ok(Json(s.knowledge.update(parse_id(&id, "knowledge entry")?, &input).await?))
}

#[utoipa::path(delete, operation_id = "delete_knowledge", path = "/api/knowledge-base/{id}", tag = "knowledge-base", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove(State(s): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.knowledge.delete(parse_id(&id, "knowledge entry")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
