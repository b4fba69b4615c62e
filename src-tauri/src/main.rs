//! `switchboard-desktop`: Switchboard in a native window (Tauri 2), or, with
//! no display, the same server `switchboard serve` runs.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod desktop;
mod headless;
mod notify;
mod server;
mod settings;
mod tray;
mod watch;
mod window;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    switchboard_server::init_logging();
    let settings = settings::Cli::parse().serve.resolve()?;
    let env = |name: &str| std::env::var(name).ok();
    let context = tauri::generate_context!();
    if !settings::has_display(env) {
        let resource_dir = if tauri::is_dev() {
            None
        } else {
            tauri::utils::platform::resource_dir(context.package_info(), &tauri::Env::default()).ok()
        };
        return headless::run(settings, resource_dir.as_deref());
    }
    desktop::run(settings, context)
}
