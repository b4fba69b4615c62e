//! The windowed app: the in-process server, the main window on its UI, the
//! tray, notifications, one instance at a time, and a clean stop on quit.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use switchboard_core::help::HelpRequest;
use tauri::{AppHandle, Manager, RunEvent, Runtime, WindowEvent};

use crate::server::Server;
use crate::settings;
use crate::tray::Tray;
use crate::watch::{self, Pending, Shell};
use crate::{notify, window};
use switchboard_server::config::Resolved as Settings;
use switchboard_server::shutdown_signal;

/// What runs alongside the window, taken and stopped on exit.
struct Running {
    server: Server,
    watcher: tauri::async_runtime::JoinHandle<()>,
}

#[derive(Default)]
struct RunningSlot(Mutex<Option<Running>>);

pub fn run(settings: Settings, context: tauri::Context) -> anyhow::Result<()> {
    let app = tauri::Builder::default()
        // First, so a second launch hands over before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            window::show(app);
        }))
        .manage(RunningSlot::default())
        .setup(move |app| {
            if let Err(e) = setup(app.handle(), settings) {
                // Tauri would panic on a setup error; a command should say why and exit.
                eprintln!("Error: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window hides it to the tray; "Quit" in the tray exits.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == window::MAIN
            {
                api.prevent_close();
                if let Err(e) = window.hide() {
                    tracing::warn!(error = %e, "cannot hide the main window");
                }
            }
        })
        .build(context)
        .context("cannot start the desktop app")?;
    app.run(|app, event| match event {
        // Only an explicit exit (Quit, a signal) ends the app, never a last window closing.
        RunEvent::ExitRequested { code: None, api, .. } => api.prevent_exit(),
        RunEvent::Exit => stop(app),
        _ => {}
    });
    Ok(())
}

/// Listens where asked; by default on the usual port, so the UI's origin (and
/// with it the drafts and preferences it keeps in browser storage) is the same
/// at every launch. Only when that port is taken does it fall back to a free one.
async fn start_server(config: switchboard_server::Config, bind: Option<SocketAddr>) -> anyhow::Result<Server> {
    if let Some(bind) = bind {
        return Server::start(config, bind).await;
    }
    let usual: SocketAddr = switchboard_server::config::DEFAULT_BIND.parse().expect("valid default");
    match Server::start(config.clone(), usual).await {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
            }) =>
        {
            tracing::warn!(%usual, "port in use; using a free one (drafts kept in the UI will not carry over)");
            Server::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
        }
        other => other,
    }
}

fn setup<R: Runtime>(app: &AppHandle<R>, settings: Settings) -> anyhow::Result<()> {
    let Settings { bind, mut config } = settings;
    let resource_dir = if tauri::is_dev() { None } else { app.path().resource_dir().ok() };
    let ui_dir = settings::ui_dir(config.ui_dir.take(), resource_dir.as_deref());
    if ui_dir.join("index.html").is_file() {
        tracing::info!(dir = %ui_dir.display(), "serving the web UI");
    } else {
        tracing::warn!(dir = %ui_dir.display(), "no web UI build here: the window shows the server's placeholder page");
    }
    config.ui_dir = Some(ui_dir);
    let data_dir = config.data_dir.clone();
    let server = tauri::async_runtime::block_on(start_server(config, bind))?;
    tracing::info!(addr = %server.addr(), data_dir = %data_dir.display(), "Switchboard server running in-process");
    window::create(app, &server.ui_url())?;

    let tray = match Tray::build(app) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "no tray icon");
            None
        }
    };
    let watcher = tauri::async_runtime::spawn(watch::watch(server.state(), DesktopShell { app: app.clone(), tray }));
    *app.state::<RunningSlot>().0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running { server, watcher });

    // Ctrl+C and SIGTERM quit like the tray's "Quit": through a clean stop.
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        shutdown_signal().await;
        tracing::info!("signal received, quitting");
        handle.exit(0);
    });
    Ok(())
}

/// Stops the server and the watcher, and waits for both (on exit).
fn stop<R: Runtime>(app: &AppHandle<R>) {
    let running =
        app.try_state::<RunningSlot>().and_then(|slot| slot.0.lock().unwrap_or_else(|p| p.into_inner()).take());
    let Some(Running { server, watcher }) = running else { return };
    tauri::async_runtime::block_on(async move {
        // The server's stop cancels the app's token, which ends the watcher.
        match server.stop().await {
            Ok(()) => tracing::info!("stopped cleanly"),
            Err(e) => tracing::error!(error = format!("{e:#}"), "unclean stop"),
        }
        if tokio::time::timeout(Duration::from_secs(5), watcher).await.is_err() {
            tracing::warn!("the tray and notification watcher did not stop");
        }
    });
}

struct DesktopShell<R: Runtime> {
    app: AppHandle<R>,
    tray: Option<Tray<R>>,
}

impl<R: Runtime> Shell for DesktopShell<R> {
    fn pending_changed(&self, pending: Pending) {
        if let Some(tray) = &self.tray {
            tray.set_pending(pending);
        }
    }

    fn help_requested(&self, request: &HelpRequest) {
        notify::help_request(&self.app, request);
    }
}
