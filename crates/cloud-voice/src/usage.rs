//! Audio seconds sent to and received from each service: what a call costs.
//! The type lives in `switchboard-core` so a call can store it with its
//! session whichever engines ran.

pub use switchboard_core::speech::{ServiceUsage, Usage};
