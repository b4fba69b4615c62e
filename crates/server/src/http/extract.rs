//! Extractors whose rejections speak the API's error format.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use switchboard_core::ErrorCode;
use uuid::Uuid;

use super::ApiError;

/// `Json<T>` with rejections mapped: malformed JSON 400, wrong shape 422,
/// too large 413, not JSON 415.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // Every body is a JSON object: serde would also read a struct from
        // an array of its fields in order, which no client means to send.
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(r) => return Err(json_rejection(r)),
        };
        if !value.is_object() {
            return Err(ApiError::new(ErrorCode::ValidationFailed, "the body must be a JSON object"));
        }
        let mut value = value;
        whole_numbers(&mut value);
        // The message names the field (`question: invalid type…`), as axum's own would.
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.to_string()))
    }
}

/// `400.0` is the integer 400 to JSON Schema (and to JavaScript): numbers
/// with no fraction become integers, so an integer field takes them.
fn whole_numbers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(whole_numbers),
        serde_json::Value::Object(o) => o.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let code = match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::new(ErrorCode::PayloadTooLarge, "request body is over the size limit");
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            return ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            );
        }
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
        _ => ErrorCode::BadRequest,
    };
    // serde's text names the field and position; it contains no server internals.
    ApiError::new(code, r.body_text())
}

/// `Query<T>` with a 400 in the API's format.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(ApiError::new(ErrorCode::BadRequest, r.body_text()))
            }
            Err(r) => Err(ApiError::new(ErrorCode::BadRequest, r.body_text())),
        }
    }
}

/// Parses a path id. Something that is not a UUID cannot name anything, so
/// it is a 404 like any other unknown id.
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::new(ErrorCode::NotFound, format!("{what} not found")))
}
