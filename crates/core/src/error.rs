//! Stable error codes shared by every crate.
//!
//! Each crate keeps its own `thiserror` enum; each variant maps to one
//! [`ErrorCode`]. The HTTP shell maps codes to statuses in one place, and only
//! the code plus a public message ever reaches a client.

use serde::Serialize;

/// A stable, client-visible error code. Never rename a variant's string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be understood (malformed JSON, bad query).
    BadRequest,
    /// Missing or wrong API token.
    Unauthorized,
    /// No such resource.
    NotFound,
    /// The resource is not in a state that allows this change.
    Conflict,
    /// The request body is over the size limit.
    PayloadTooLarge,
    /// The request body is not JSON.
    UnsupportedMediaType,
    /// The request was well formed but a field is invalid.
    ValidationFailed,
    /// A dependency is temporarily unavailable.
    Unavailable,
    /// Something failed inside; details are in the server log only.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// Whether the error's own text is safe to show a client. Internal and
    /// unavailable errors carry driver or IO text, which stays in the log.
    pub fn is_public(self) -> bool {
        !matches!(self, ErrorCode::Internal | ErrorCode::Unavailable)
    }
}

/// Implemented by every crate's error enum.
pub trait Coded: std::error::Error {
    fn code(&self) -> ErrorCode;

    /// Structured detail a client may use (e.g. the current state on a
    /// conflict). Only consulted for public codes.
    fn details(&self) -> Option<serde_json::Value> {
        None
    }

    /// The message a client sees: the error's text for public codes, a generic
    /// sentence otherwise.
    fn public_message(&self) -> String {
        let code = self.code();
        if code.is_public() {
            self.to_string()
        } else if code == ErrorCode::Unavailable {
            "a service is temporarily unavailable; try again shortly".into()
        } else {
            "internal error; see the server log".into()
        }
    }
}
