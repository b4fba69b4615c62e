//! Notification sinks available to the core: a webhook (how "text the
//! customer" reaches an SMS gateway) and the live event stream.

use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::notify::{Notification, Notifier, NotifyError};

/// POSTs the notification as JSON. Any 2xx is success; the outbox id goes in
/// `Idempotency-Key` so a gateway can drop redeliveries.
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl WebhookNotifier {
    pub fn new(url: reqwest::Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self { client, url })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn target(&self) -> &str {
        "webhook"
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let resp = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", n.id.to_string())
            .json(n)
            .send()
            .await
            .map_err(|e| NotifyError(format!("webhook request failed: {e}")))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(NotifyError(format!("webhook answered {}", resp.status())))
        }
    }
}

/// Publishes the notification on the event bus, where an open session (or a
/// watching UI) picks it up.
pub struct EventStreamNotifier {
    events: EventBus,
}

impl EventStreamNotifier {
    pub fn new(events: EventBus) -> Self {
        Self { events }
    }
}

#[async_trait]
impl Notifier for EventStreamNotifier {
    fn target(&self) -> &str {
        "events"
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        self.events.publish(EventKind::CustomerNotified { notification: n.clone() });
        Ok(())
    }
}
