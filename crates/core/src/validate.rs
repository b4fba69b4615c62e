//! Field validation shared by all inputs. Limits are in characters.

use thiserror::Error;

/// A field failed validation. The message names the field and the rule.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: &'static str,
    pub problem: String,
}

impl ValidationError {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self { field, problem: problem.into() }
    }
}

/// Trims `value` and requires 1..=max characters.
pub fn required(field: &'static str, value: &str, max: usize) -> Result<String, ValidationError> {
    // The limit counts what was sent (as a schema's maxLength does), spaces included.
    too_long(field, value, max)?;
    let v = value.trim();
    if v.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    bounded(field, v, max)
}

/// Trims `value` and allows 0..=max characters; empty becomes `None`.
pub fn optional(field: &'static str, value: Option<&str>, max: usize) -> Result<Option<String>, ValidationError> {
    if let Some(v) = value {
        too_long(field, v, max)?;
    }
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => bounded(field, v, max).map(Some),
    }
}

fn too_long(field: &'static str, v: &str, max: usize) -> Result<(), ValidationError> {
    let n = v.chars().count();
    if n > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters (got {n})")));
    }
    Ok(())
}

fn bounded(field: &'static str, v: &str, max: usize) -> Result<String, ValidationError> {
    let n = v.chars().count();
    if n > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters (got {n})")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_trims_and_rejects_blank() {
        assert_eq!(required("q", "  hi ", 10).unwrap(), "hi");
        assert_eq!(required("q", " \n\t ", 10).unwrap_err().problem, "must not be empty");
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(required("q", "ééééé", 5).is_ok());
        let e = required("q", "éééééé", 5).unwrap_err();
        assert_eq!(e.to_string(), "q: must be at most 5 characters (got 6)");
    }

    #[test]
    fn optional_maps_blank_to_none_and_rejects_controls() {
        assert_eq!(optional("n", Some("   "), 5).unwrap(), None);
        assert_eq!(optional("n", None, 5).unwrap(), None);
        assert!(optional("n", Some("a\u{7}b"), 5).is_err());
    }
}
