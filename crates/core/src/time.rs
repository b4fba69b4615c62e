//! Timestamps: UTC with millisecond precision, stored as integer milliseconds.

use chrono::{DateTime, TimeZone, Utc};

/// A point in time. Serialised as RFC 3339 in the API, stored as unix millis.
pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to milliseconds so that what is stored and what
/// is returned compare equal.
pub fn now() -> Timestamp {
    from_millis(Utc::now().timestamp_millis())
}

pub fn to_millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> Timestamp {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
