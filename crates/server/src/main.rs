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
    /// Talk to the agent through this computer's microphone and speaker; the
    /// live transcript prints here. Ctrl+C hangs up.
    Call(CallArgs),
    /// List the audio devices a call can use.
    AudioDevices,
    /// List, install or verify the offline models (language, embeddings,
    /// speech); the same installer the setup script runs.
    #[command(subcommand)]
    Models(switchboard_models::cli::ModelsCommand),
}

#[derive(clap::Args)]
struct CallArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Microphone by name (see `switchboard audio-devices`); default: the system's.
    #[arg(long)]
    input: Option<String>,
    /// Speaker by name; default: the system's.
    #[arg(long)]
    output: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    switchboard_server::init_logging();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Call(args) => call(args).await,
        Command::AudioDevices => {
            for d in switchboard_voice::device::list()? {
                let default = if d.is_default { " (default)" } else { "" };
                println!("{:<6} {}{default}  {:?} Hz, {:?} channels", d.direction, d.name, d.sample_rate, d.channels);
            }
            Ok(())
        }
        Command::Models(cmd) => Ok(switchboard_models::cli::run(cmd).await?),
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

/// A call in the terminal, like a voice-agent framework's console mode: the
/// whole app runs in-process (its API too, on the usual address), and the
/// transcript prints as it happens.
async fn call(args: CallArgs) -> anyhow::Result<()> {
    use switchboard_call::CallEvent;
    let Resolved { config: cfg, .. } = args.serve.resolve()?;
    let stop = switchboard_server::shutdown_signal();
    let app = switchboard_server::App::start(cfg).await?;
    let devices = switchboard_server::local_call::LocalDevices { input: args.input, output: args.output };
    let call = switchboard_server::local_call::start(&app.state(), devices, |e| match e {
        CallEvent::Transcript { text, is_final: true, .. } => println!("you:   {text}"),
        CallEvent::AgentText { text, .. } => println!("agent: {text}"),
        CallEvent::Interrupted { .. } => println!("       (cut off)"),
        CallEvent::Latency { timings, .. } => {
            if let Some(ms) = timings.playback_start_ms {
                println!("       ({ms:.0} ms from the end of your speech to the reply)");
            }
        }
        CallEvent::Error { message, .. } => eprintln!("error: {message}"),
        CallEvent::Ended { reason } => println!("call ended: {reason:?}"),
        _ => {}
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("On the call (session {}). Speak; Ctrl+C hangs up.", call.session_id);
    let hang_up = call.hang_up.clone();
    let mut done = call.done;
    tokio::select! {
        _ = stop => { hang_up.cancel(); let _ = (&mut done).await; }
        _ = &mut done => {}
    }
    app.shutdown().await;
    Ok(())
}
