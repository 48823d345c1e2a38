//! Opening a [`Store`]: telling the backend from the URL, preparing a SQLite file (its directory,
//! its pragmas on every pooled connection), running the embedded migrations of the backend's
//! dialect, and [`redacted_url`] so a URL can be shown without its password.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool};

use crate::error::{StoreError, StoreResult};
use crate::{Backend, Store, StoreOptions};

/// The SQLite dialect of the schema.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
/// The PostgreSQL dialect of the same schema.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite connection waits for another connection's lock before failing: long enough
/// for any write transaction of this store, short enough to surface a stuck process.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

impl Store {
    /// Opens the database at `url` with the default [`StoreOptions`] and brings its schema up to
    /// date.
    ///
    /// `url` is `sqlite://path/to/file.db` (relative to the working directory;
    /// `sqlite:///abs/path.db` for an absolute path; the directory and file are created when
    /// missing) or `postgres://user:password@host:port/database` (`postgresql://` too).
    pub async fn connect(url: &str) -> StoreResult<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`] with explicit options.
    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Store> {
        let backend = backend_of(url)?;
        sqlx::any::install_default_drivers();
        let connect_error = |source| StoreError::Connect {
            url_redacted: redacted_url(url),
            source,
        };
        let pool_options = AnyPoolOptions::new().max_connections(options.connections_for(backend));
        let mut sqlite_file = None;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let (url, file) = prepare_sqlite(url).map_err(connect_error)?;
                sqlite_file = Some(file);
                let sqlite_pool = |options: AnyPoolOptions| {
                    options.after_connect(|connection, _| Box::pin(configure_sqlite(connection)))
                };
                // SQLite lets one connection write at a time. Writers queued on a one-connection
                // pool wait their turn without cost, where writers on many connections would
                // spin in SQLite's busy handler (sleeps of up to 100 ms) for the file's lock.
                let writer = sqlite_pool(AnyPoolOptions::new().max_connections(1))
                    .connect(&url)
                    .await
                    .map_err(connect_error)?;
                let readers = sqlite_pool(pool_options)
                    .connect(&url)
                    .await
                    .map_err(connect_error)?;
                (readers, writer)
            }
            Backend::Postgres => {
                let pool = pool_options.connect(url).await.map_err(connect_error)?;
                (pool.clone(), pool)
            }
        };
        if let Err(error) = migrate(&writer, sqlite_file.as_deref()).await {
            pool.close().await;
            writer.close().await;
            return Err(error);
        }
        Ok(Store {
            pool,
            writer,
            backend,
        })
    }
}

/// The backend `url` names, from its scheme.
fn backend_of(url: &str) -> StoreResult<Backend> {
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => Err(StoreError::UnsupportedUrl {
            scheme: scheme.to_owned(),
        }),
    }
}

/// Checks a SQLite URL, creates the directory of its file, and returns the URL to open (with
/// `mode=rwc`, create the file when missing, unless the URL chose a mode itself) and the file's
/// path.
fn prepare_sqlite(url: &str) -> Result<(String, PathBuf), sqlx::Error> {
    // The scheme is `sqlite` in any case; `sqlite:x.db` and `sqlite://x.db` name the same file.
    let rest = &url["sqlite:".len()..];
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        // An in-memory database lives and dies with its connections: the pool would lose it,
        // and a second process could never see it.
        return Err(sqlx::Error::Configuration(
            "in-memory SQLite databases are not supported: name a file, e.g. sqlite://data/spotbot.db"
                .into(),
        ));
    }
    let mut url = format!("sqlite://{path}");
    if !query.split('&').any(|pair| pair.starts_with("mode=")) {
        url.push_str(if query.is_empty() {
            "?mode=rwc"
        } else {
            "?mode=rwc&"
        });
    } else {
        url.push('?');
    }
    url.push_str(query);
    // sqlx's own parser (percent-decoding, parameters), so the directory created here is that of
    // the file sqlx will open.
    let options = SqliteConnectOptions::from_str(&url)?;
    let file = options.get_filename().to_path_buf();
    if let Some(directory) = file.parent()
        && directory != Path::new("")
    {
        std::fs::create_dir_all(directory)?;
    }
    Ok((url, file))
}

/// How much of a SQLite file is memory-mapped: 1 GiB of address space (not memory: only the
/// pages read are resident, and they are the OS's page cache, shared).
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// Sets up every new SQLite connection of the pool.
async fn configure_sqlite(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    for pragma in [
        // First, so that the statements after it wait for locks rather than fail.
        format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"),
        // Readers never block the writer nor it them; persistent in the file, so a no-op after
        // the first connection.
        "PRAGMA journal_mode = WAL".to_owned(),
        // In WAL mode NORMAL may lose the last commits on power loss; FULL syncs every commit,
        // and a trade that was recorded must stay recorded.
        "PRAGMA synchronous = FULL".to_owned(),
        // SQLite checks foreign keys only when asked, per connection.
        "PRAGMA foreign_keys = ON".to_owned(),
        // Reads straight from the OS's page cache, mapped, instead of a read() and a copy into
        // each connection's own cache for every page: the pages of one file are shared by all
        // the reader pool's connections (SQLite's memory-mapped I/O; writes still go through
        // write() and the WAL). Measured on the API's trade pages: see docs/BENCHMARKS.md.
        format!("PRAGMA mmap_size = {SQLITE_MMAP_BYTES}"),
    ] {
        sqlx::query(&pragma).execute(&mut *connection).await?;
    }
    Ok(())
}

/// The migrations of `backend`'s dialect.
pub(crate) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// Brings the schema up to date with the migrations of the backend's dialect: SQLite's when the
/// database is the SQLite file `sqlite_file`, PostgreSQL's otherwise.
async fn migrate(pool: &AnyPool, sqlite_file: Option<&Path>) -> StoreResult<()> {
    let Some(sqlite_file) = sqlite_file else {
        // sqlx holds a PostgreSQL advisory lock while it migrates: concurrent processes take turns.
        return Ok(migrator(Backend::Postgres).run(pool).await?);
    };
    // SQLite has no such lock: processes opening a fresh file at the same moment would each see a
    // migration missing, and all but one would fail creating what the first one created. A lock
    // file next to the database makes them take turns; the later ones find everything applied.
    let lock = lock_for_migration(&migration_lock_path(sqlite_file))
        .await
        .map_err(sqlx::Error::Io)?;
    let migrated = migrator(Backend::Sqlite).run(pool).await;
    drop(lock);
    Ok(migrated?)
}

/// How long a process waits for another one's SQLite migration before giving up: migrations
/// take well under a second; a lock held longer belongs to a process that hangs.
const MIGRATION_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Opens (creating it) and exclusively locks `lock_path`, waiting up to [`MIGRATION_LOCK_WAIT`]
/// while another process holds it. The lock goes with the returned handle, also when a process
/// dies holding it.
async fn lock_for_migration(lock_path: &Path) -> std::io::Result<std::fs::File> {
    let with_path = |error: std::io::Error| {
        let message = format!("cannot lock {} for migrating: {error}", lock_path.display());
        std::io::Error::new(error.kind(), message)
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(with_path)?;
    let deadline = std::time::Instant::now() + MIGRATION_LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "another process has held {} for {} s while migrating the database: \
                         stop it (a migration takes under a second), then start again",
                        lock_path.display(),
                        MIGRATION_LOCK_WAIT.as_secs()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(with_path(error)),
        }
    }
}

/// The lock file SQLite migrations of the database `sqlite_file` take turns on:
/// `spotbot.db` -> `spotbot.db-migrate-lock`, beside SQLite's own `-wal` and `-shm` files.
fn migration_lock_path(sqlite_file: &Path) -> PathBuf {
    let mut name = sqlite_file.as_os_str().to_owned();
    name.push("-migrate-lock");
    PathBuf::from(name)
}

/// `url` with its password (in the user info, or a `password=` query parameter) replaced by
/// `***`, for messages and logs.
///
/// ```
/// assert_eq!(
///     store::redacted_url("postgres://bot:s3cret@db:5432/spotbot"),
///     "postgres://bot:***@db:5432/spotbot"
/// );
/// assert_eq!(
///     store::redacted_url("postgres://db/spotbot?user=bot&password=s3cret"),
///     "postgres://db/spotbot?user=bot&password=***"
/// );
/// ```
pub fn redacted_url(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(head);
    let after_authority = if head.is_empty() {
        rest
    } else {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(end);
        match authority.rfind('@') {
            Some(at) => {
                let (userinfo, host) = authority.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        after
    };
    let (before_fragment, fragment) = match after_authority.find('#') {
        Some(at) => after_authority.split_at(at),
        None => (after_authority, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().ends_with("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!(backend_of("sqlite://a.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite:a.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://h/db").unwrap(), Backend::Postgres);
        assert_eq!(backend_of("PostgreSQL://h/db").unwrap(), Backend::Postgres);
        let error = backend_of("mysql://root:pw@h/db").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unsupported database URL scheme \"mysql\": expected sqlite://path/to/file.db (or sqlite:path/to/file.db) or postgres://user:password@host:port/database"
        );
        assert!(matches!(
            backend_of("spotbot.db"),
            Err(StoreError::UnsupportedUrl { scheme }) if scheme == "spotbot.db"
        ));
    }

    #[test]
    fn passwords_never_survive_redaction() {
        for (url, expected) in [
            ("postgres://u:p@h:1/d", "postgres://u:***@h:1/d"),
            ("postgres://u@h/d", "postgres://u@h/d"),
            (
                "postgres://u:p%40x@h/d?sslmode=require",
                "postgres://u:***@h/d?sslmode=require",
            ),
            (
                "postgres://h/d?password=p&user=u",
                "postgres://h/d?password=***&user=u",
            ),
            (
                "postgres://h/d?sslpassword=p#frag",
                "postgres://h/d?sslpassword=***#frag",
            ),
            ("postgresql://u:p@h", "postgresql://u:***@h"),
            ("sqlite://data/spotbot.db", "sqlite://data/spotbot.db"),
            ("sqlite:spotbot.db?mode=rwc", "sqlite:spotbot.db?mode=rwc"),
        ] {
            assert_eq!(redacted_url(url), expected, "{url}");
        }
    }

    #[test]
    fn in_memory_sqlite_is_refused_with_a_reason() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://",
            "sqlite://x.db?mode=memory",
        ] {
            let error = prepare_sqlite(url).unwrap_err();
            assert!(error.to_string().contains("in-memory"), "{url}: {error}");
        }
    }
}
