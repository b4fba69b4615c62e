//! Errors returned by this crate.

/// Everything that can go wrong in this crate. Each variant maps to a stable [`code`](InterviewError::code)
/// so an HTTP layer can turn it into a status and clients can match on it without parsing messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterviewError {
    /// A value supplied by the caller breaks a documented rule (name length, window configuration, format name…).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which input was rejected, e.g. `"name"` or `"window_ms"`.
        field: &'static str,
        /// Human-readable explanation.
        reason: String,
    },
    /// The referenced speaker identity is not part of the transcript.
    #[error("speaker not found: {identity}")]
    NotFound {
        /// The identity that was looked up.
        identity: String,
    },
}

impl InterviewError {
    /// Stable machine-readable code: `"invalid"` or `"not_found"`. Never changes for a given variant.
    pub fn code(&self) -> &'static str {
        match self {
            InterviewError::Invalid { .. } => "invalid",
            InterviewError::NotFound { .. } => "not_found",
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        InterviewError::Invalid { field, reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(InterviewError::invalid("name", "empty").code(), "invalid");
        assert_eq!(InterviewError::NotFound { identity: "x".into() }.code(), "not_found");
    }

    #[test]
    fn messages_name_the_problem() {
        assert_eq!(InterviewError::invalid("name", "empty").to_string(), "invalid name: empty");
        assert_eq!(InterviewError::NotFound { identity: "bob".into() }.to_string(), "speaker not found: bob");
    }
}
