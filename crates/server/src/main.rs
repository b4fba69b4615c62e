//! The `switchboard` command.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard_server::config::{self, Resolved, ServeArgs};

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    switchboard_server::init_logging();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Openapi => {
            use std::io::Write;
            use utoipa::OpenApi;
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
    let Resolved { bind, config: mut cfg } = args.resolve()?;
    let bind = bind.unwrap_or_else(|| config::DEFAULT_BIND.parse().expect("valid default"));
    cfg.ui_dir = cfg.ui_dir.or_else(|| Some(PathBuf::from("ui/dist")));

    // Before anything is announced: a signal from now on stops cleanly.
    let stop = switchboard_server::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let data_dir = cfg.data_dir.clone();
    let app = switchboard_server::App::start(cfg).await?;
    // The token rides in the fragment, which browsers never send to a server.
    println!("Switchboard is running: open http://{addr}/#token={}", app.api_token());
    println!("Data directory: {}", data_dir.display());
    switchboard_server::serve(app, listener, async {
        stop.await;
        tracing::info!("shutting down");
    })
    .await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
