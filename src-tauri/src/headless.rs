//! No display: no window (GTK would panic), just what `switchboard serve`
//! does, so the command still works on a server or over SSH.

use std::net::SocketAddr;
use std::path::Path;

use switchboard_server::config::DEFAULT_BIND;

use crate::server::Server;
use crate::settings;
use switchboard_server::config::Resolved as Settings;
use switchboard_server::shutdown_signal;

pub fn run(settings: Settings, resource_dir: Option<&Path>) -> anyhow::Result<()> {
    // On stderr: stdout carries only the URL lines, as with `switchboard serve`.
    eprintln!(
        "No display found (neither DISPLAY nor WAYLAND_DISPLAY is set): serving the web UI over HTTP instead of opening a window."
    );
    let Settings { bind, mut config } = settings;
    let ui_dir = settings::ui_dir(config.ui_dir.take(), resource_dir);
    tracing::info!(dir = %ui_dir.display(), "web UI");
    config.ui_dir = Some(ui_dir);
    let bind = bind.unwrap_or_else(|| DEFAULT_BIND.parse::<SocketAddr>().expect("valid default"));
    let data_dir = config.data_dir.clone();
    tauri::async_runtime::block_on(async move {
        // Before anything is announced: a signal from now on stops cleanly.
        let stop = shutdown_signal();
        let server = Server::start(config, bind).await?;
        // The same lines as `switchboard serve`: stdout carries only these.
        println!("Switchboard is running: open {}", server.ui_url());
        println!("Data directory: {}", data_dir.display());
        server
            .run_until(async {
                stop.await;
                tracing::info!("shutting down");
            })
            .await?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}
