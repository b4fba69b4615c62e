//! The one place where error codes become HTTP statuses and JSON bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_core::{Coded, ErrorCode};
use utoipa::ToSchema;

/// `{"error": {"code": "...", "message": "...", "details": ...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None }
    }

    /// Converts a crate error, logging what must not reach the client.
    pub fn from_coded<E: Coded>(e: E) -> Self {
        let code = e.code();
        if !code.is_public() {
            tracing::error!(code = code.as_str(), error = %e, source = ?std::error::Error::source(&e), "request failed");
        }
        Self { code, message: e.public_message(), details: if code.is_public() { e.details() } else { None } }
    }
}

pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message, details: self.details } };
        let mut resp = (status(self.code), Json(body)).into_response();
        if self.code == ErrorCode::Unauthorized {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<switchboard_escalation::EscalationError> for ApiError {
    fn from(e: switchboard_escalation::EscalationError) -> Self {
        Self::from_coded(e)
    }
}

impl From<switchboard_session::SessionError> for ApiError {
    fn from(e: switchboard_session::SessionError) -> Self {
        ApiError::from_coded(e)
    }
}

impl From<switchboard_knowledge::KnowledgeError> for ApiError {
    fn from(e: switchboard_knowledge::KnowledgeError) -> Self {
        Self::from_coded(e)
    }
}

impl From<switchboard_crawl::JobsError> for ApiError {
    fn from(e: switchboard_crawl::JobsError) -> Self {
        Self::from_coded(e)
    }
}
