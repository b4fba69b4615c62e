//! Follows the event bus for the desktop shell: keeps the pending count
//! current and announces each new help request. Free of Tauri, so it is
//! tested against a real App without a display.

use std::fmt::Write as _;

use switchboard_core::events::EventKind;
use switchboard_core::help::{HelpRequest, HelpStatus};
use switchboard_server::http::AppState;
use tokio::sync::broadcast::error::RecvError;

/// What the watcher drives: the tray and the notifications.
pub trait Shell: Send + Sync + 'static {
    /// The number of pending requests changed (or may have).
    fn pending_changed(&self, pending: Pending);
    /// A supervisor should know about this request now.
    fn help_requested(&self, request: &HelpRequest);
}

/// The number of pending help requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub count: u64,
}

impl Pending {
    /// "3 pending".
    pub fn short(self) -> String {
        format!("{} pending", self.count)
    }

    /// The tray's tooltip and title: "Switchboard — 3 pending".
    pub fn label(self) -> String {
        format!("Switchboard — {}", self.short())
    }
}

/// Runs until the app's cancellation token fires or the bus closes.
pub async fn watch(state: AppState, shell: impl Shell) {
    // Subscribe before the first count, so no change falls in between.
    let mut events = state.events.subscribe();
    recount(&state, &shell).await;
    loop {
        let event = tokio::select! {
            _ = state.cancel.cancelled() => break,
            e = events.recv() => e,
        };
        match event {
            Ok(e) => match e.kind {
                EventKind::HelpRequestCreated { request } => {
                    shell.help_requested(&request);
                    recount(&state, &shell).await;
                }
                EventKind::HelpRequestResolved { .. } | EventKind::HelpRequestUnresolved { .. } => {
                    recount(&state, &shell).await
                }
                _ => {}
            },
            // Missed events: the count is recomputed from the store anyway.
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "desktop shell fell behind the event bus");
                recount(&state, &shell).await;
            }
            Err(RecvError::Closed) => break,
        }
    }
}

async fn recount(state: &AppState, shell: &impl Shell) {
    match state.escalation.count(Some(HelpStatus::Pending)).await {
        Ok(count) => shell.pending_changed(Pending { count }),
        Err(e) => tracing::warn!(error = %e, "cannot count pending help requests"),
    }
}

/// A notification's body: "<customer>: <question>", cut to a readable length.
pub fn notification_body(request: &HelpRequest) -> String {
    const MAX_CHARS: usize = 240;
    let mut body = String::new();
    let _ = write!(body, "{}: {}", request.customer_name, request.question);
    if body.chars().count() > MAX_CHARS {
        body = body.chars().take(MAX_CHARS - 1).collect::<String>().trim_end().to_string();
        body.push('…');
    }
    body
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use switchboard_core::help::{NewHelpRequest, RespondInput};
    use switchboard_server::{App, Config};

    use super::*;

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Shell for Recorder {
        fn pending_changed(&self, pending: Pending) {
            self.0.lock().unwrap().push(pending.label());
        }
        fn help_requested(&self, request: &HelpRequest) {
            self.0.lock().unwrap().push(format!("notify {}", notification_body(request)));
        }
    }

    impl Recorder {
        async fn wait_for(&self, n: usize) -> Vec<String> {
            for _ in 0..200 {
                if self.0.lock().unwrap().len() >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.0.lock().unwrap().clone()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counts_pending_and_announces_new_requests() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::start(Config::new(dir.path())).await.unwrap();
        let state = app.state();
        let rec = Recorder::default();
        let watcher = tokio::spawn(watch(state.clone(), rec.clone()));
        assert_eq!(rec.wait_for(1).await, ["Switchboard — 0 pending"]);

        let input = NewHelpRequest {
            customer_name: "Ada".into(),
            channel: "phone".into(),
            question: "Do you open on Sundays?".into(),
            ..Default::default()
        };
        let request = state.escalation.create(&input).await.unwrap();
        assert_eq!(rec.wait_for(3).await[1..], ["notify Ada: Do you open on Sundays?", "Switchboard — 1 pending"]);

        let answer = RespondInput { answer: Some("From 10 to 4.".into()), ..Default::default() };
        state.escalation.respond(request.id, &answer).await.unwrap();
        assert_eq!(rec.wait_for(4).await[3], "Switchboard — 0 pending");

        // The app's shutdown ends the watcher.
        app.shutdown().await;
        tokio::time::timeout(Duration::from_secs(5), watcher).await.expect("watcher stops on shutdown").unwrap();
    }

    #[test]
    fn labels_and_bodies() {
        assert_eq!(Pending { count: 3 }.label(), "Switchboard — 3 pending");
        assert_eq!(Pending { count: 1200 }.short(), "1200 pending");
        let mut r: HelpRequest = serde_json::from_value(serde_json::json!({
            "id": "0190a5a0-0000-7000-8000-000000000000", "customer_name": "Ada", "customer_contact": "",
            "channel": "phone", "question": "q".repeat(500), "status": "pending",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "deadline_at": "2026-01-01T00:15:00Z",
            "resolved_at": null, "answer": null, "topic": null, "notes": null, "resolved_by": null, "session_id": null, "history": []
        }))
        .unwrap();
        let body = notification_body(&r);
        assert_eq!(body.chars().count(), 240);
        assert!(body.starts_with("Ada: qqq") && body.ends_with('…'));
        r.question = "Short?".into();
        assert_eq!(notification_body(&r), "Ada: Short?");
    }
}
