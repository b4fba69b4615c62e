//! The desktop shell's command line: the same start-up options as
//! `switchboard serve` (flags, `SWITCHBOARD_*` variables, config file; see
//! `switchboard_server::config::ServeArgs`), plus what only the shell needs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use switchboard_server::config::ServeArgs;

/// Switchboard desktop: the supervisor queue in a native window, with a tray
/// icon and notifications.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard-desktop",
    version,
    after_help = "With neither DISPLAY nor WAYLAND_DISPLAY set, no window opens: the command serves \
                  the UI over HTTP like `switchboard serve` and prints its URL. The API token comes \
                  from SWITCHBOARD_API_TOKEN or the data directory."
)]
pub struct Cli {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// WebKitWebDriver starts the browser it drives (this app, in tests) with it.
    #[arg(long, hide = true)]
    pub automation: bool,
}

/// The web UI to serve: `SWITCHBOARD_UI_DIR`, else the bundled `ui` resource
/// when it holds a build, else `ui/dist` of the source tree this was built from.
/// Callers pass no `resource_dir` in dev builds (plain `cargo build`), whose
/// resource dir is `target/<profile>`, where a bundle build leaves a copy that
/// goes stale as the UI changes.
pub fn ui_dir(explicit: Option<PathBuf>, resource_dir: Option<&Path>) -> PathBuf {
    explicit.or_else(|| resource_dir.map(|d| d.join("ui")).filter(|d| d.join("index.html").is_file())).unwrap_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("..")).join("ui").join("dist"),
    )
}

/// True when a window can be opened at all (GTK panics without a display).
pub fn has_display(var: impl Fn(&str) -> Option<String>) -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|name| var(name).is_some_and(|v| !v.trim().is_empty()))
}

/// What a webview can load for a server listening on `addr`.
pub fn reachable_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip =
            if addr.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn command_line_is_serves_plus_automation() {
        let cli = Cli::try_parse_from([
            "switchboard-desktop",
            "--demo",
            "--automation",
            "--data-dir",
            "/tmp/sb",
            "--bind",
            "127.0.0.1:9000",
        ])
        .unwrap();
        assert!(cli.serve.demo && cli.automation);
        assert_eq!(cli.serve.data_dir, Some(PathBuf::from("/tmp/sb")));
        assert_eq!(cli.serve.bind, Some("127.0.0.1:9000".parse().unwrap()));
        assert!(Cli::try_parse_from(["switchboard-desktop", "--demoo"]).is_err());
        assert!(Cli::try_parse_from(["switchboard-desktop", "--request-timeout", "soon"]).is_err());
    }

    #[test]
    fn ui_dir_prefers_explicit_then_bundled_build_then_source_tree() {
        let bundled = tempfile::tempdir().unwrap();
        assert_eq!(ui_dir(Some("/srv/ui".into()), Some(bundled.path())), PathBuf::from("/srv/ui"));
        let source_tree = ui_dir(None, Some(bundled.path()));
        assert!(source_tree.ends_with("ui/dist"), "no build in the resource dir: {source_tree:?}");
        std::fs::create_dir_all(bundled.path().join("ui")).unwrap();
        std::fs::write(bundled.path().join("ui/index.html"), "<!doctype html>").unwrap();
        assert_eq!(ui_dir(None, Some(bundled.path())), bundled.path().join("ui"));
    }

    #[test]
    fn display_detection() {
        assert!(!has_display(env(&[])));
        assert!(!has_display(env(&[("DISPLAY", "")])));
        assert!(has_display(env(&[("DISPLAY", ":99")])));
        assert!(has_display(env(&[("WAYLAND_DISPLAY", "wayland-0")])));
    }

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(reachable_addr("0.0.0.0:81".parse().unwrap()), "127.0.0.1:81".parse().unwrap());
        assert_eq!(reachable_addr("[::]:81".parse().unwrap()), "[::1]:81".parse().unwrap());
        assert_eq!(reachable_addr("10.0.0.2:81".parse().unwrap()), "10.0.0.2:81".parse().unwrap());
    }
}
