//! `switchboard-store` owns persistence: the SQLite schema and its versioned
//! migrations, and the repositories that implement the core's `Store` port.
//!
//! Invariants:
//! - All writes go through one connection (`writer`), so SQLite never returns
//!   `SQLITE_BUSY` under our own load and a conditional update decides races.
//! - Every state change that must be atomic (resolve + learn + outbox) is one
//!   transaction; the audit log is written by triggers inside it.
//! - No SQL outside this crate. A PostgreSQL adapter would be a sibling module
//!   implementing the same traits; the domain would not change.

mod business;
mod crawl;
mod embed;
mod rows;
mod session;
mod sqlite;

pub use sqlite::SqliteStore;

use switchboard_core::ports::StoreError;

/// Errors of opening or migrating a database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open database at {path}: {source}")]
    Connect { path: String, source: sqlx::Error },
    /// The database was last used by a newer Switchboard: its tables may
    /// hold what this version cannot read, so it is left untouched.
    #[error(
        "the database at {path} was last used by a newer Switchboard (it has schema version {found}; this \
         version knows up to {known}). Run that version or a newer one, or start with another --data-dir"
    )]
    Newer { path: String, found: i64, known: i64 },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl switchboard_core::Coded for OpenError {
    fn code(&self) -> switchboard_core::ErrorCode {
        switchboard_core::ErrorCode::Internal
    }
}

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}
