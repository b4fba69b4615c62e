//! What the desktop shell reads from its command line and environment: the
//! same `SWITCHBOARD_*` variables as `switchboard serve`, turned into a
//! `switchboard_server::Config` plus an optional bind address.
//!
//! Kept deliberately small (no config file, no webhook flags): the shared
//! resolution belongs in `switchboard_server::config`, and this module should
//! shrink to a call into it once that exists.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use switchboard_server::config::{self, Config};

pub const USAGE: &str = "\
Switchboard desktop: the supervisor queue in a native window, with a tray icon and notifications.

Usage: switchboard-desktop [--demo]

Options:
  --demo         Seed the fictional demo business (idempotent) [env: SWITCHBOARD_DEMO]
  -h, --help     Print this help
  -V, --version  Print the version

Environment:
  SWITCHBOARD_DATA_DIR         Database, index and API token [default: the user's data dir]
  SWITCHBOARD_BIND             Address of the in-process server [default: 127.0.0.1:8787;
                               a free port when that one is taken]
  SWITCHBOARD_API_TOKEN        Overrides the per-install API token
  SWITCHBOARD_REQUEST_TIMEOUT  How long a help request waits, e.g. 15m, 90s
  SWITCHBOARD_WEBHOOK_URL      POST customer notifications to this URL
  SWITCHBOARD_UI_DIR           The built web UI [default: bundled, else ui/dist of the source tree]

With neither DISPLAY nor WAYLAND_DISPLAY set, no window opens: the command
serves the UI over HTTP like `switchboard serve` and prints its URL.";

/// What to do, from the command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run { demo: bool },
    Help,
    Version,
}

pub fn parse_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<Command> {
    let mut demo = false;
    for arg in args {
        match arg.as_str() {
            "--demo" => demo = true,
            // WebKitWebDriver starts the browser it drives (this app, in tests) with it.
            "--automation" => {}
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            other => bail!("unexpected argument {other:?} (see --help)"),
        }
    }
    Ok(Command::Run { demo })
}

/// The server's configuration and where to listen.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `SWITCHBOARD_BIND`; the caller picks the default (desktop and headless differ).
    pub bind: Option<SocketAddr>,
    /// `ui_dir` is set only when `SWITCHBOARD_UI_DIR` is; see [`ui_dir`].
    pub config: Config,
}

/// Reads the environment through `var` (so tests need not touch the process's).
pub fn from_env(demo_flag: bool, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
    // Empty means unset, as for clap's `env` in `switchboard serve`.
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());

    let bind = match var("SWITCHBOARD_BIND") {
        Some(b) => Some(b.trim().parse::<SocketAddr>().with_context(|| format!("SWITCHBOARD_BIND={b:?} is not an address like 127.0.0.1:8787"))?),
        None => None,
    };
    let mut config = Config::new(var("SWITCHBOARD_DATA_DIR").map(PathBuf::from).unwrap_or_else(config::default_data_dir));
    config.demo = demo_flag
        || match var("SWITCHBOARD_DEMO") {
            Some(v) => parse_bool(&v).with_context(|| format!("SWITCHBOARD_DEMO={v:?} is not a boolean"))?,
            None => false,
        };
    if let Some(t) = var("SWITCHBOARD_REQUEST_TIMEOUT") {
        let timeout = humantime::parse_duration(t.trim()).with_context(|| format!("SWITCHBOARD_REQUEST_TIMEOUT={t:?} is not a duration like 15m or 90s"))?;
        ensure!(timeout >= Duration::from_secs(1), "request timeout must be at least 1s");
        config.request_timeout = timeout;
    }
    if let Some(u) = var("SWITCHBOARD_WEBHOOK_URL") {
        config.webhook_url = Some(config::parse_webhook(u.trim())?);
    }
    config.api_token = var("SWITCHBOARD_API_TOKEN").map(|t| t.trim().to_string());
    config.ui_dir = var("SWITCHBOARD_UI_DIR").map(PathBuf::from);
    Ok(Settings { bind, config })
}

/// Like clap's `BoolishValueParser`, which `switchboard serve` uses.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The web UI to serve: `SWITCHBOARD_UI_DIR`, else the bundled `ui` resource
/// when it holds a build, else `ui/dist` of the source tree this was built from.
/// Callers pass no `resource_dir` in dev builds (plain `cargo build`), whose
/// resource dir is `target/<profile>`, where a bundle build leaves a copy that
/// goes stale as the UI changes.
pub fn ui_dir(explicit: Option<PathBuf>, resource_dir: Option<&Path>) -> PathBuf {
    explicit
        .or_else(|| resource_dir.map(|d| d.join("ui")).filter(|d| d.join("index.html").is_file()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("..")).join("ui").join("dist"))
}

/// True when a window can be opened at all (GTK panics without a display).
pub fn has_display(var: impl Fn(&str) -> Option<String>) -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|name| var(name).is_some_and(|v| !v.trim().is_empty()))
}

/// What a webview can load for a server listening on `addr`.
pub fn reachable_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
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
    fn args() {
        let parse = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        assert_eq!(parse(&[]).unwrap(), Command::Run { demo: false });
        assert_eq!(parse(&["--demo"]).unwrap(), Command::Run { demo: true });
        assert_eq!(parse(&["--demo", "--help"]).unwrap(), Command::Help);
        assert_eq!(parse(&["-V"]).unwrap(), Command::Version);
        assert!(parse(&["--demoo"]).is_err());
        assert_eq!(parse(&["--automation"]).unwrap(), Command::Run { demo: false });
    }

    #[test]
    fn defaults_without_environment() {
        let s = from_env(false, env(&[])).unwrap();
        assert_eq!(s.bind, None);
        assert_eq!(s.config.data_dir, config::default_data_dir());
        assert!(!s.config.demo);
        assert_eq!(s.config.api_token, None);
        assert_eq!(s.config.ui_dir, None);
        assert_eq!(s.config.request_timeout, Config::new("x").request_timeout);
    }

    #[test]
    fn reads_the_serve_variables() {
        let s = from_env(
            false,
            env(&[
                ("SWITCHBOARD_BIND", "127.0.0.1:9000"),
                ("SWITCHBOARD_DATA_DIR", "/tmp/sb"),
                ("SWITCHBOARD_DEMO", "yes"),
                ("SWITCHBOARD_REQUEST_TIMEOUT", "90s"),
                ("SWITCHBOARD_API_TOKEN", " secret "),
                ("SWITCHBOARD_UI_DIR", "/srv/ui"),
                ("SWITCHBOARD_WEBHOOK_URL", "https://sms.example/send"),
            ]),
        )
        .unwrap();
        assert_eq!(s.bind, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(s.config.data_dir, PathBuf::from("/tmp/sb"));
        assert!(s.config.demo);
        assert_eq!(s.config.request_timeout, Duration::from_secs(90));
        assert_eq!(s.config.api_token.as_deref(), Some("secret"));
        assert_eq!(s.config.ui_dir, Some(PathBuf::from("/srv/ui")));
        assert!(s.config.webhook_url.is_some());
    }

    #[test]
    fn empty_means_unset_and_bad_values_are_errors() {
        let s = from_env(false, env(&[("SWITCHBOARD_API_TOKEN", "  "), ("SWITCHBOARD_BIND", "")])).unwrap();
        assert_eq!(s.config.api_token, None);
        assert_eq!(s.bind, None);
        assert!(from_env(true, env(&[("SWITCHBOARD_DEMO", "no")])).unwrap().config.demo, "the flag wins");
        for bad in [
            ("SWITCHBOARD_BIND", "localhost"),
            ("SWITCHBOARD_DEMO", "maybe"),
            ("SWITCHBOARD_REQUEST_TIMEOUT", "soon"),
            ("SWITCHBOARD_REQUEST_TIMEOUT", "10ms"),
            ("SWITCHBOARD_WEBHOOK_URL", "ftp://x"),
        ] {
            assert!(from_env(false, env(&[bad])).is_err(), "{bad:?} should be rejected");
        }
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
