//! `switchboard-core` owns the vocabulary every other crate speaks: ids and
//! timestamps, the help-request and knowledge domain types with their
//! validation rules, the event bus, the stable error codes, and the ports
//! (traits) through which domain services reach storage, the search index and
//! notification sinks, and
//! the speech ports (speech-to-text, text-to-speech, voice activity).
//!
//! It performs no IO and depends on no framework: adapters (SQLite, tantivy,
//! reqwest, axum, tauri) live in other crates and plug in at the ports.

pub mod business;
pub mod crawl;
pub mod embed;
pub mod error;
pub mod events;
pub mod help;
pub mod knowledge;
pub mod llm;
pub mod notify;
pub mod ports;
pub mod profile;
pub mod session;
pub mod settings;
pub mod speech;
pub mod time;
pub mod tool;
pub mod validate;

pub use error::{Coded, ErrorCode};
pub use events::{Event, EventBus, EventKind};
pub use time::Timestamp;

/// The folder offline models are installed in: `$SWITCHBOARD_MODELS_DIR`,
/// else `~/.cache/switchboard/models`. Every engine and the installer use
/// this one rule.
pub fn models_dir() -> std::path::PathBuf {
    match std::env::var_os("SWITCHBOARD_MODELS_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("."))
            .join(".cache/switchboard/models"),
    }
}
