//! Notification sinks available to the core: a webhook (how "text the
//! customer" reaches an SMS gateway) and the live event stream.

use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::events::{EventBus, EventKind};
use switchboard_core::notify::{Delivery, Notification, Notifier, NotifyError};

/// The event-stream sink's target name.
pub(crate) const EVENT_STREAM_TARGET: &str = "events";

/// POSTs the notification as JSON. Any 2xx is success; the outbox id goes in
/// `Idempotency-Key` so a gateway can drop redeliveries.
/// The URL can be changed at runtime (settings screen); with none set the sink
/// is disabled and receives no new notifications.
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: RwLock<Option<reqwest::Url>>,
}

impl WebhookNotifier {
    pub fn new(url: Option<reqwest::Url>, timeout: Duration) -> Result<Self, reqwest::Error> {
        // Straight to the configured URL: a redirect could send a customer's
        // details to another host, and a proxy from the environment is not
        // the owner's choice for this traffic.
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self { client, url: RwLock::new(url) })
    }

    pub fn url(&self) -> Option<reqwest::Url> {
        self.url.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_url(&self, url: Option<reqwest::Url>) {
        *self.url.write().unwrap_or_else(|p| p.into_inner()) = url;
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn target(&self) -> &str {
        "webhook"
    }

    fn enabled(&self) -> bool {
        self.url().is_some()
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = self.url().ok_or_else(|| NotifyError("no webhook URL is configured".into()))?;
        let resp = self
            .client
            .post(url)
            .header("Idempotency-Key", n.id.to_string())
            .json(n)
            .send()
            .await
            // Without the URL: it may hold credentials, and this text is
            // logged and stored with the outbox row.
            .map_err(|e| NotifyError(format!("webhook request failed: {}", e.without_url())))?;
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
        EVENT_STREAM_TARGET
    }

    fn delivery(&self) -> Delivery {
        Delivery::Observer
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        self.events.publish(EventKind::CustomerNotified { notification: n.clone() });
        Ok(())
    }
}
