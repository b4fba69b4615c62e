//! Native desktop notifications (freedesktop, through notify-rust) for new
//! help requests. Clicking one opens the request in the main window.

use switchboard_core::help::HelpRequest;
use tauri::{AppHandle, Runtime};

use crate::watch::notification_body;
use crate::window;

/// Shows "New help request" for `request`. Never fails: without a
/// notification service (no session bus, say) it logs a warning.
pub fn help_request<R: Runtime>(app: &AppHandle<R>, request: &HelpRequest) {
    let app = app.clone();
    let id = request.id.to_string();
    let body = notification_body(request);
    // Showing talks D-Bus synchronously, and waiting for a click blocks until
    // the notification closes: a plain thread each, off the async runtime.
    let spawned = std::thread::Builder::new().name("notification".into()).spawn(move || {
        let mut notification = notify_rust::Notification::new();
        notification.appname("Switchboard").summary("New help request").body(&body).action("default", "Open");
        #[cfg(all(unix, not(target_os = "macos")))]
        notification.hint(notify_rust::Hint::Category("im.received".into()));
        match notification.show() {
            #[cfg(all(unix, not(target_os = "macos")))]
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" {
                    window::open_request(&app, &id);
                }
            }),
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot show a desktop notification for help request {id}"),
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a notification thread");
    }
}
