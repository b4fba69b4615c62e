//! `switchboard-models list|install|verify`: the model installer on its
//! own, small enough for the setup script to build before the app.

use clap::Parser;

#[derive(Parser)]
#[command(about = "Lists, installs and verifies Switchboard's offline models")]
struct Args {
    #[command(subcommand)]
    command: switchboard_models::cli::ModelsCommand,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Err(e) = switchboard_models::cli::run(args.command).await {
        eprintln!("models: {e}");
        std::process::exit(1);
    }
}
