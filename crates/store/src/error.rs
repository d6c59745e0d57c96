//! What can go wrong in the store, and the one place that turns database
//! errors into it.
//!
//! Both backends report constraint violations through sqlx's
//! [`DatabaseError::kind`](sqlx::error::DatabaseError::kind), so a taken
//! phone number or a second live conference of one name is a [`StoreError::Conflict`] and a
//! reference to a missing row a [`StoreError::NotFound`] on SQLite and
//! PostgreSQL alike; callers never look at SQLSTATEs or SQLite codes.

use sqlx::error::ErrorKind;

/// What can go wrong in the store. Callers map these to their wire
/// (the API to a `RestException`, the CLI to a message).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no database confab can use.
    #[error("unsupported database URL (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    /// A unique constraint refused the write (a taken phone number, a second
    /// live conference with the same name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row the write refers to does not exist (an unknown account).
    #[error("not found: {0}")]
    NotFound(String),
    /// The store was asked for something its set-up does not allow (a
    /// node's lease of a store that is not a node of several).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A stored value could not be read back as its type.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Maps the error of a write: unique violations become `Conflict`, foreign
/// key violations `NotFound`, each with `what` as the message (it names the
/// thing, never the stored values, which may be personal data).
pub(crate) fn write_error(err: sqlx::Error, conflict: &str, not_found: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict(conflict.to_owned()),
            ErrorKind::ForeignKeyViolation => StoreError::NotFound(not_found.to_owned()),
            _ => StoreError::Database(err),
        },
        _ => StoreError::Database(err),
    }
}

/// Whether SQLite said another connection holds the lock it needs
/// (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes). Only start-up
/// steps that SQLite cannot wait for with its busy timeout retry on this.
pub(crate) fn is_sqlite_busy(err: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            // The low byte of an extended result code is the primary code.
            .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
        _ => false,
    }
}
