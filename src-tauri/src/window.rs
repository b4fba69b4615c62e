//! The main window: the web UI served by the in-process server.

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

pub const MAIN: &str = "main";

/// Opens the main window on `url` (the UI with its token in the fragment).
pub fn create<R: Runtime>(app: &AppHandle<R>, url: &str) -> anyhow::Result<WebviewWindow<R>> {
    let url = url.parse().map_err(|e| anyhow::anyhow!("UI address {url:?}: {e}"))?;
    Ok(WebviewWindowBuilder::new(app, MAIN, WebviewUrl::External(url))
        .title("Switchboard")
        .inner_size(1200.0, 800.0)
        .min_inner_size(640.0, 480.0)
        .build()?)
}

/// Shows, restores and focuses the main window (tray, second launch, notification).
pub fn show<R: Runtime>(app: &AppHandle<R>) -> Option<WebviewWindow<R>> {
    let Some(window) = app.get_webview_window(MAIN) else {
        tracing::warn!("the main window is gone");
        return None;
    };
    for (what, result) in [("show", window.show()), ("unminimize", window.unminimize()), ("focus", window.set_focus())]
    {
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot {what} the main window");
        }
    }
    Some(window)
}

/// Shows the main window on one help request (a notification was clicked).
pub fn open_request<R: Runtime>(app: &AppHandle<R>, id: &str) {
    if let Some(window) = show(app)
        && let Err(e) = window.eval(request_route_js(id))
    {
        tracing::warn!(error = %e, "cannot open help request {id} in the window");
    }
}

/// The script that routes the UI to a request; the hash goes in as a JSON
/// string literal, which is valid JavaScript whatever the id holds.
fn request_route_js(id: &str) -> String {
    let hash = serde_json::Value::String(format!("#/requests/{id}"));
    format!("location.hash = {hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_script_quotes_the_id() {
        assert_eq!(
            request_route_js("0190a5a0-0000-7000-8000-000000000000"),
            r##"location.hash = "#/requests/0190a5a0-0000-7000-8000-000000000000""##
        );
        assert_eq!(request_route_js("x\"; alert(1); \""), r##"location.hash = "#/requests/x\"; alert(1); \"""##);
    }
}
