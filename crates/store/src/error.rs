//! [`StoreError`]: every way a store operation fails, worded to say what was wrong and where, and
//! the helpers that classify the database's own errors (unique and foreign-key violations).

use sqlx::error::ErrorKind;

/// The result of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names a scheme this store does not speak.
    #[error(
        "unsupported database URL scheme {scheme:?}: expected sqlite://path/to/file.db (or sqlite:path/to/file.db) or postgres://user:password@host:port/database"
    )]
    UnsupportedUrl {
        /// The scheme given (the part before `:`), or the whole URL when it has none.
        scheme: String,
    },
    /// The database could not be opened or reached.
    #[error("cannot connect to the database {url_redacted}: {source}")]
    Connect {
        /// The URL, its password replaced by `***`.
        url_redacted: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The schema migrations failed (or the database holds migrations this build does not know).
    #[error("cannot migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure (I/O, a lost connection, a timeout, a constraint not mapped to a
    /// more precise variant).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A row with the same unique key exists already.
    #[error("{what} {key} already exists")]
    Duplicate {
        /// What kind of row, e.g. `"user with email"`.
        what: &'static str,
        /// The key that collided.
        key: String,
    },
    /// The row addressed (or one it refers to) does not exist.
    #[error("{what} {key} does not exist")]
    NotFound {
        /// What kind of row, e.g. `"bot"`.
        what: &'static str,
        /// The key looked for.
        key: String,
    },
    /// The row changed since the caller read it (another process wrote it first): read it again
    /// and redo the change on what is there now.
    #[error("{what} {key} changed since it was read; read it again")]
    Changed {
        /// What kind of row, e.g. `"position of bot"`.
        what: &'static str,
        /// The row's key.
        key: String,
    },
    /// A stored value does not parse: the database was changed outside this store, or by a
    /// newer version of it.
    #[error("corrupt data in {table}.{column} (row {row_id}): {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The row's key (its id, or the id of the bot or user it belongs to).
        row_id: String,
        /// What is wrong with the value.
        detail: String,
    },
    /// An argument the store refuses to write (a negative quantity, a forbidden status change).
    #[error("invalid {field}: {detail}")]
    InvalidValue {
        /// The argument or field.
        field: &'static str,
        /// Why it is refused.
        detail: String,
    },
}

/// The database's error kind, when `error` comes from the database server or engine itself.
fn kind(error: &sqlx::Error) -> Option<ErrorKind> {
    error.as_database_error().map(|db| db.kind())
}

/// Whether `error` is a unique-constraint violation.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    kind(error) == Some(ErrorKind::UniqueViolation)
}

/// Whether `error` is a foreign-key violation (a row refers to one that does not exist).
pub(crate) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    kind(error) == Some(ErrorKind::ForeignKeyViolation)
}

/// `error` as the store reports it: a foreign-key violation, the row referred to missing, as
/// [`StoreError::NotFound`] on `what` `key`; anything else as it is.
pub(crate) fn missing_referent(error: sqlx::Error, what: &'static str, key: String) -> StoreError {
    if is_foreign_key_violation(&error) {
        StoreError::NotFound { what, key }
    } else {
        error.into()
    }
}

/// Whether `error` is a unique violation of the constraint or index on `column`: SQLite's
/// message names the column ("UNIQUE constraint failed: users.email") or the index
/// ("... index 'users_email_lower'"), PostgreSQL's the constraint or index, named after the
/// column ("users_email_key", "users_email_lower").
pub(crate) fn unique_violation_on(error: &sqlx::Error, column: &str) -> bool {
    is_unique_violation(error)
        && error
            .as_database_error()
            .is_some_and(|db| db.message().contains(column))
}
