//! Crawl jobs: onboard a website, watch, cancel, resume and re-crawl.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use switchboard_core::crawl::{CrawledPage, Job, OnboardInput};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery, parse_id};
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/onboard", post(onboard))
        .route("/jobs", get(list))
        .route("/job/{id}", get(show))
        .route("/job/{id}/pages", get(pages))
        .route("/job/{id}/cancel", post(cancel))
        .route("/job/{id}/resume", post(resume))
        .route("/job/{id}/recrawl", post(recrawl))
}

/// A job that was just queued.
#[derive(Serialize, ToSchema)]
pub struct JobCreated {
    #[schema(value_type = String, format = Uuid)]
    pub job_id: uuid::Uuid,
    pub job: Job,
}

#[utoipa::path(post, operation_id = "onboard", path = "/api/onboard", tag = "crawl", request_body = OnboardInput,
    responses((status = 202, body = JobCreated), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn onboard(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<OnboardInput>,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    let job = s.crawl.start(&input).await?;
    Ok((StatusCode::ACCEPTED, Json(JobCreated { job_id: job.id, job })))
}

#[utoipa::path(get, operation_id = "list_jobs", path = "/api/jobs", tag = "crawl", responses((status = 200, body = [Job])))]
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<Job>>, ApiError> {
    Ok(Json(s.crawl.list().await?))
}

#[utoipa::path(get, operation_id = "get_job", path = "/api/job/{id}", tag = "crawl", params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    Ok(Json(s.crawl.get(parse_id(&id, "crawl job")?).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PagesQuery {
    /// Pages to skip (by URL order); 0 when absent.
    #[serde(default)]
    #[param(value_type = u64, maximum = 4294967295_u64)]
    offset: u32,
    /// Pages to list, 1 to 1000; 500 when absent.
    #[param(minimum = 1, maximum = 1000)]
    #[serde(default = "default_page_limit")]
    limit: u32,
}

fn default_page_limit() -> u32 {
    500
}

#[utoipa::path(get, operation_id = "job_pages", path = "/api/job/{id}/pages", tag = "crawl",
    params(("id" = String, Path), PagesQuery),
    responses((status = 200, body = [CrawledPage]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn pages(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PagesQuery>,
) -> Result<Json<Vec<CrawledPage>>, ApiError> {
    Ok(Json(s.crawl.pages(parse_id(&id, "crawl job")?, q.offset, q.limit).await?))
}

#[utoipa::path(post, operation_id = "cancel_job", path = "/api/job/{id}/cancel", tag = "crawl", params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    Ok(Json(s.crawl.cancel(parse_id(&id, "crawl job")?).await?))
}

#[utoipa::path(post, operation_id = "resume_job", path = "/api/job/{id}/resume", tag = "crawl", params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    Ok(Json(s.crawl.resume(parse_id(&id, "crawl job")?).await?))
}

#[utoipa::path(post, operation_id = "recrawl_job", path = "/api/job/{id}/recrawl", tag = "crawl", params(("id" = String, Path)),
    responses((status = 202, body = JobCreated), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn recrawl(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    let job = s.crawl.recrawl(parse_id(&id, "crawl job")?).await?;
    Ok((StatusCode::ACCEPTED, Json(JobCreated { job_id: job.id, job })))
}
