//! The knowledge base: list, search, create, update, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use switchboard_core::crawl::PagePassage;
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
    #[param(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    q: Option<String>,
    /// At most this many (default 100 for lists, 20 for searches; max 500).
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    limit: Option<u32>,
    /// Entries to skip (lists only).
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    offset: Option<u32>,
}

/// An entry, with its BM25 score when the list is a search. Searches also
/// find passages of crawled web pages: those have `source: "page"`, the
/// page's `url`, the page title (and heading) as `question`, the passage as
/// `answer`, and an id that names no editable entry.
#[derive(Serialize, ToSchema)]
pub struct KnowledgeItem {
    #[serde(flatten)]
    pub entry: KnowledgeEntry,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The crawled page a passage comes from (page passages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
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
        return Ok(Json(entries.into_iter().map(|entry| KnowledgeItem { entry, score: None, url: None }).collect()));
    };
    let mut items = Vec::new();
    for hit in s.knowledge.search(&query, limit as usize).await? {
        if hit.doc.kind == KnowledgeSource::Page {
            // The index may briefly hold a passage a re-crawl just removed.
            if let Some(p) = s.knowledge.page_passage(&hit.doc.id).await? {
                items.push(page_item(p, hit.score));
            }
            continue;
        }
        let Ok(id) = uuid::Uuid::parse_str(&hit.doc.id) else { continue };
        // The index may briefly hold an entry deleted a moment ago: skip it.
        match s.knowledge.get(id).await {
            Ok(entry) => items.push(KnowledgeItem { entry, score: Some(hit.score), url: None }),
            Err(switchboard_knowledge::KnowledgeError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(items))
}

/// A page passage as a search result. Its id is derived from the passage id
/// (stable across searches), so lists can key on it.
fn page_item(p: PagePassage, score: f32) -> KnowledgeItem {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, p.doc.id.as_str()).hash(&mut h);
        h.finish()
    };
    let id = uuid::Uuid::from_u64_pair(half(1), half(2));
    KnowledgeItem {
        entry: KnowledgeEntry {
            id,
            question: p.doc.question,
            answer: p.doc.answer,
            topic: None,
            source: KnowledgeSource::Page,
            source_request_id: None,
            created_at: p.updated_at,
            updated_at: p.updated_at,
        },
        score: Some(score),
        url: p.doc.url,
    }
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
