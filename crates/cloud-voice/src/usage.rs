//! Audio seconds sent to and received from each service: what a call costs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One service's audio, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ServiceUsage {
    pub sent_seconds: f64,
    pub received_seconds: f64,
}

/// Shared by the engines of one call (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Usage {
    inner: Arc<Mutex<BTreeMap<&'static str, ServiceUsage>>>,
}

impl Usage {
    pub fn sent(&self, service: &'static str, seconds: f64) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).entry(service).or_default().sent_seconds += seconds;
    }

    pub fn received(&self, service: &'static str, seconds: f64) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).entry(service).or_default().received_seconds += seconds;
    }

    /// Per service, in name order.
    pub fn snapshot(&self) -> BTreeMap<&'static str, ServiceUsage> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up_per_service() {
        let u = Usage::default();
        let c = u.clone();
        u.sent("deepgram", 1.5);
        c.sent("deepgram", 0.5);
        u.received("elevenlabs", 2.0);
        let s = u.snapshot();
        assert_eq!(s["deepgram"], ServiceUsage { sent_seconds: 2.0, received_seconds: 0.0 });
        assert_eq!(s["elevenlabs"].received_seconds, 2.0);
    }
}
