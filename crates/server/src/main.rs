//! The `switchboard` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard_server::config::{self, Config, FileConfig};

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Run and supervise AI voice agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the backend and the web UI over HTTP (headless mode).
    Serve(ServeArgs),
    /// Print the OpenAPI document of the HTTP API (the UI's types are generated from it).
    Openapi,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787]
    #[arg(long, env = "SWITCHBOARD_BIND")]
    bind: Option<SocketAddr>,
    /// Where the database, index and API token live [default: the user's data dir]
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Seed the fictional demo business (idempotent)
    #[arg(long, env = "SWITCHBOARD_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    demo: bool,
    /// A TOML config file; flags and environment override it
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// How long a help request waits before timing out, e.g. 15m, 90s
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT", value_parser = humantime::parse_duration)]
    request_timeout: Option<Duration>,
    /// POST customer notifications (answers, apologies) to this URL
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// The built web UI to serve at / [default: ui/dist when present]
    #[arg(long, env = "SWITCHBOARD_UI_DIR")]
    ui_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    // Logs on stderr; stdout carries only the URL lines, for scripts to read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tantivy=warn,tower_http=warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Openapi => {
            use utoipa::OpenApi;
            use std::io::Write;
            let doc = switchboard_server::http::openapi::ApiDoc::openapi().to_pretty_json()?;
            // A closed pipe (`| head`) is the reader's choice, not an error.
            match writeln!(std::io::stdout().lock(), "{doc}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let bind = args.bind.or(file.bind).unwrap_or_else(|| config::DEFAULT_BIND.parse().expect("valid default"));
    let mut cfg = Config::new(args.data_dir.or(file.data_dir).unwrap_or_else(config::default_data_dir));
    cfg.demo = args.demo || file.demo.unwrap_or(false);
    if let Some(t) = args.request_timeout.or(file.request_timeout) {
        anyhow::ensure!(t >= Duration::from_secs(1), "request timeout must be at least 1s");
        cfg.request_timeout = t;
    }
    if let Some(u) = args.webhook_url.or(file.webhook_url).filter(|u| !u.trim().is_empty()) {
        cfg.webhook_url = Some(config::parse_webhook(&u)?);
    }
    cfg.api_token = std::env::var("SWITCHBOARD_API_TOKEN").ok().filter(|t| !t.trim().is_empty());
    cfg.ui_dir = args.ui_dir.or(file.ui_dir).or_else(|| Some(PathBuf::from("ui/dist")));
    if let Some(b) = file.body_limit {
        cfg.body_limit = b;
    }
    if let Some(v) = file.outbox.base_backoff {
        cfg.outbox.base_backoff = v;
    }
    if let Some(v) = file.outbox.max_backoff {
        cfg.outbox.max_backoff = v;
    }
    if let Some(v) = file.outbox.max_attempts {
        cfg.outbox.max_attempts = v.max(1);
    }

    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let data_dir = cfg.data_dir.clone();
    let app = switchboard_server::App::start(cfg).await?;
    // The token rides in the fragment, which browsers never send to a server.
    println!("Switchboard is running: open http://{addr}/#token={}", app.api_token());
    println!("Data directory: {}", data_dir.display());
    switchboard_server::serve(app, listener, shutdown_signal()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
