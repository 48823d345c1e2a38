//! Throwaway databases for tests (feature `testing`): [`TestDatabase`] holds a migrated [`Store`]
//! on a fresh SQLite file in a temporary directory, or on a fresh PostgreSQL database created on
//! the server that `SPOTBOT_TEST_POSTGRES_URL` names, and [`backend_tests!`](crate::backend_tests)
//! runs one test body on both. [`TestDatabase::upgraded_from`] gives one whose rows were written
//! under an older schema, to test what a migration does to them.
//!
//! `scripts/test` starts a local PostgreSQL (`scripts/postgres-for-tests`), sets
//! `SPOTBOT_TEST_POSTGRES_URL` and `SPOTBOT_REQUIRE_POSTGRES=1`, so CI runs every PostgreSQL test
//! for real. A plain `cargo test` without the URL skips them, saying so.
//!
//! ```no_run
//! store::backend_tests! {
//!     async fn a_user_round_trips(store: Store) {
//!         assert!(store.users().await.unwrap().is_empty());
//!     }
//!     // The database itself, e.g. to open a second Store on it with `db.url()`.
//!     async fn two_stores_share_the_data(db: &TestDatabase) {
//!         let second = db.another_store().await;
//!         assert_eq!(second.backend(), db.store().backend());
//!     }
//! }
//! ```
//!
//! Each entry becomes a module with two `#[tokio::test]` functions, `sqlite` and `postgres` (so
//! `cargo test sqlite` runs one backend); the calling crate needs `tokio` (features `macros`,
//! `rt`) among its dependencies.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::BoxFuture;
use sqlx::Connection;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use tempfile::TempDir;

use crate::{Backend, Store};

/// The environment variable naming the PostgreSQL server for tests: a URL of an existing database
/// whose user may create databases, e.g. `postgres://spotbot@127.0.0.1:55432/spotbot`.
pub const POSTGRES_URL_ENV: &str = "SPOTBOT_TEST_POSTGRES_URL";

/// The environment variable that, set to `1`, makes a missing [`POSTGRES_URL_ENV`] an error
/// rather than a reason to skip (CI sets it, so PostgreSQL tests cannot silently not run).
pub const REQUIRE_POSTGRES_ENV: &str = "SPOTBOT_REQUIRE_POSTGRES";

/// The PostgreSQL server for tests, from [`POSTGRES_URL_ENV`]; `None` when it is not set.
///
/// # Panics
///
/// When it is not set but [`REQUIRE_POSTGRES_ENV`] is `1`.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var(REQUIRE_POSTGRES_ENV).as_deref() != Ok("1"),
                "{POSTGRES_URL_ENV} is not set but {REQUIRE_POSTGRES_ENV}=1 requires the PostgreSQL \
                 tests: run them through scripts/test, which starts PostgreSQL \
                 (scripts/postgres-for-tests) and sets {POSTGRES_URL_ENV}"
            );
            None
        }
    }
}

/// A fresh, migrated database that lives as long as this value.
pub struct TestDatabase {
    store: Store,
    url: String,
    owner: Owner,
}

/// What must live as long as the database, and how to get rid of it.
enum Owner {
    /// The temporary directory holding the SQLite file, deleted on drop.
    Sqlite(#[allow(dead_code, reason = "held for its Drop, which deletes the directory")] TempDir),
    /// A database created for the test on the server of `admin_url`, dropped at the end.
    Postgres {
        admin_url: String,
        name: String,
        dropped: bool,
    },
}

impl TestDatabase {
    /// A store on a new database of `backend`, for tools that take the backend as an option
    /// (the load examples): an error saying what to set when PostgreSQL is asked for and
    /// [`POSTGRES_URL_ENV`] is not set.
    pub async fn on(backend: Backend) -> Result<TestDatabase, String> {
        match backend {
            Backend::Sqlite => Ok(TestDatabase::sqlite().await),
            Backend::Postgres => TestDatabase::postgres().await.ok_or_else(|| {
                format!(
                    "a PostgreSQL database needs {POSTGRES_URL_ENV}: start one with \
                     scripts/postgres-for-tests and set it to the URL that prints"
                )
            }),
        }
    }

    /// A store on a new SQLite file in a new temporary directory.
    ///
    /// # Panics
    ///
    /// When the directory or the database cannot be created.
    pub async fn sqlite() -> TestDatabase {
        TestDatabase::new_sqlite(None).await
    }

    /// A store on a new database of `backend` (`None` for PostgreSQL without
    /// [`POSTGRES_URL_ENV`], as [`TestDatabase::postgres`]) whose schema was first built only up
    /// to migration `last_version`, with `old_rows` (SQL statements in the backend's dialect) run
    /// on that old schema; opening the store then applies the later migrations to those rows,
    /// as an upgrade of spotbot does.
    ///
    /// # Panics
    ///
    /// As [`TestDatabase::sqlite`] and [`TestDatabase::postgres`]; also when no migration is
    /// numbered `last_version`, or the old schema or `old_rows` fail.
    pub async fn upgraded_from(
        backend: Backend,
        last_version: i64,
        old_rows: &str,
    ) -> Option<TestDatabase> {
        let old_schema = OldSchema {
            last_version,
            old_rows,
        };
        match backend {
            Backend::Sqlite => Some(TestDatabase::new_sqlite(Some(old_schema)).await),
            Backend::Postgres => TestDatabase::new_postgres(Some(old_schema)).await,
        }
    }

    async fn new_sqlite(old_schema: Option<OldSchema<'_>>) -> TestDatabase {
        let directory = tempfile::Builder::new()
            .prefix("spotbot-store-test-")
            .tempdir()
            .expect("cannot create a temporary directory for a test database");
        let url = format!("sqlite://{}", directory.path().join("spotbot.db").display());
        if let Some(old_schema) = old_schema {
            // The store creates a missing file itself; a bare connection must be told to.
            let create_url = format!("{url}?mode=rwc");
            if let Err(error) = old_schema.build(&create_url, Backend::Sqlite).await {
                panic!("cannot build the old schema in {url}: {error}");
            }
        }
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|error| panic!("cannot open the test database {url}: {error}"));
        TestDatabase {
            store,
            url,
            owner: Owner::Sqlite(directory),
        }
    }

    /// A store on a new database `spotbot_test_<pid>_<counter>_<random>` on the server of
    /// [`postgres_url`]; `None` when that is not set (the caller skips the test).
    ///
    /// # Panics
    ///
    /// When the URL is required but missing (see [`postgres_url`]), or the database cannot be
    /// created or opened.
    pub async fn postgres() -> Option<TestDatabase> {
        TestDatabase::new_postgres(None).await
    }

    async fn new_postgres(old_schema: Option<OldSchema<'_>>) -> Option<TestDatabase> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let admin_url = postgres_url()?;
        // The process id and a counter make names unique within a run; the random part keeps
        // leftovers of an earlier run (a crashed test) from colliding with this one.
        let random = RandomState::new().build_hasher().finish() as u32;
        let name = format!(
            "spotbot_test_{}_{}_{random:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let shown = crate::redacted_url(&admin_url);
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot connect to the test PostgreSQL server {shown}: {error}")
            });
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("cannot create database {name} on {shown}: {error}"));
        // Closing is a courtesy to the server; the database exists either way.
        let _ = admin.close().await;
        let url = url_with_database(&admin_url, &name);
        if let Some(old_schema) = old_schema
            && let Err(error) = old_schema.build(&url, Backend::Postgres).await
        {
            drop_database(&admin_url, &name).await;
            panic!("cannot build the old schema in {name} on {shown}: {error}");
        }
        let store = match Store::connect(&url).await {
            Ok(store) => store,
            Err(error) => {
                drop_database(&admin_url, &name).await;
                panic!("cannot open the test database {name} on {shown}: {error}");
            }
        };
        Some(TestDatabase {
            store,
            url,
            owner: Owner::Postgres {
                admin_url,
                name,
                dropped: false,
            },
        })
    }

    /// The store on this database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The URL of this database, to open another [`Store`] (another "process") on it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A second, independent [`Store`] (its own pool) on this database.
    ///
    /// # Panics
    ///
    /// When it cannot connect.
    pub async fn another_store(&self) -> Store {
        Store::connect(&self.url).await.unwrap_or_else(|error| {
            panic!(
                "cannot open the test database {} again: {error}",
                crate::redacted_url(&self.url)
            )
        })
    }

    /// Closes the store and deletes the database (best effort: a failure is reported on stderr,
    /// not raised). Dropping a `TestDatabase` without calling this does the same, blocking.
    pub async fn cleanup(mut self) {
        self.store.close().await;
        if let Owner::Postgres {
            admin_url,
            name,
            dropped,
        } = &mut self.owner
        {
            drop_database(admin_url, name).await;
            *dropped = true;
        }
    }
}

impl fmt::Debug for TestDatabase {
    /// The URL without its password, should the test server's URL have one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("backend", &self.store.backend())
            .field("url", &crate::redacted_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // A test that panicked (or returned early) never reached cleanup(): drop its PostgreSQL
        // database anyway, on a thread with its own runtime, since this may run inside the
        // test's runtime, which cannot be blocked on. `WITH (FORCE)` ends the store's connections.
        if let Owner::Postgres {
            admin_url,
            name,
            dropped: false,
        } = &self.owner
        {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            let dropper = std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(drop_database(&admin_url, &name)),
                    Err(error) => eprintln!("cannot drop test database {name}: {error}"),
                }
            });
            let _ = dropper.join();
        }
    }
}

/// What [`TestDatabase::upgraded_from`] writes before the store opens the database.
struct OldSchema<'a> {
    /// The last migration applied.
    last_version: i64,
    /// SQL run on the schema as that migration left it.
    old_rows: &'a str,
}

impl OldSchema<'_> {
    /// Applies the migrations of `backend` up to `last_version` to the empty database at `url`,
    /// recording them as sqlx does (so that the store applies only the later ones), then runs
    /// `old_rows`.
    async fn build(&self, url: &str, backend: Backend) -> Result<(), BoxDynError> {
        let all = crate::connect::migrator(backend);
        if !all.version_exists(self.last_version) {
            return Err(format!("there is no migration {}", self.last_version).into());
        }
        let migrator = Migrator::new(MigrationsUpTo {
            all,
            last_version: self.last_version,
        })
        .await?;
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect(url).await?;
        migrator.run(&mut connection).await?;
        sqlx::raw_sql(self.old_rows)
            .execute(&mut connection)
            .await?;
        connection.close().await?;
        Ok(())
    }
}

/// The migrations of `all` numbered up to `last_version`, as a source for a [`Migrator`].
#[derive(Debug)]
struct MigrationsUpTo {
    all: &'static Migrator,
    last_version: i64,
}

impl<'s> MigrationSource<'s> for MigrationsUpTo {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        let migrations = self
            .all
            .iter()
            .filter(|migration| migration.version <= self.last_version)
            .cloned()
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// `DROP DATABASE ... WITH (FORCE)` on the server of `admin_url`, reporting failures on stderr.
async fn drop_database(admin_url: &str, name: &str) {
    // A few attempts: the server may refuse while it is still ending the store's sessions.
    const ATTEMPTS: u32 = 3;
    for attempt in 1..=ATTEMPTS {
        let result = async {
            let mut admin = sqlx::AnyConnection::connect(admin_url).await?;
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            admin.close().await
        }
        .await;
        match result {
            Ok(()) => return,
            Err(error) if attempt == ATTEMPTS => {
                eprintln!("warning: cannot drop test database {name}: {error}");
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// `url` with its database (the path) replaced by `database`, keeping its query.
fn url_with_database(url: &str, database: &str) -> String {
    let (head, rest) = url.split_at(url.find("://").map_or(0, |at| at + 3));
    let (authority, after) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let query = after.find('?').map_or("", |at| &after[at..]);
    format!("{head}{authority}/{database}{query}")
}

/// Runs each test body on SQLite and on PostgreSQL: see the [module documentation](self).
#[macro_export]
macro_rules! backend_tests {
    () => {};
    (
        $(#[$meta:meta])*
        async fn $name:ident($store:ident : Store $(,)?) $body:block
        $($rest:tt)*
    ) => {
        $crate::backend_tests!(@test [$(#[$meta])*] $name, __test_database, {
            let $store: $crate::Store = __test_database.store().clone();
            $body
        });
        $crate::backend_tests!($($rest)*);
    };
    (
        $(#[$meta:meta])*
        async fn $name:ident($db:ident : &TestDatabase $(,)?) $body:block
        $($rest:tt)*
    ) => {
        $crate::backend_tests!(@test [$(#[$meta])*] $name, $db, $body);
        $crate::backend_tests!($($rest)*);
    };
    (@test [$(#[$meta:meta])*] $name:ident, $db:ident, $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            #[tokio::test]
            async fn sqlite() {
                let database = $crate::testing::TestDatabase::sqlite().await;
                {
                    let $db: &$crate::testing::TestDatabase = &database;
                    $body
                }
                database.cleanup().await;
            }

            $(#[$meta])*
            #[tokio::test]
            async fn postgres() {
                let Some(database) = $crate::testing::TestDatabase::postgres().await else {
                    eprintln!("skipped: {} not set", $crate::testing::POSTGRES_URL_ENV);
                    return;
                };
                {
                    let $db: &$crate::testing::TestDatabase = &database;
                    $body
                }
                database.cleanup().await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_path_and_keeps_the_query() {
        for (url, expected) in [
            ("postgres://u@h:1/spotbot", "postgres://u@h:1/t"),
            (
                "postgres://u:p@h/spotbot?sslmode=disable",
                "postgres://u:p@h/t?sslmode=disable",
            ),
            ("postgres://h", "postgres://h/t"),
            ("postgres://h?user=u", "postgres://h/t?user=u"),
        ] {
            assert_eq!(url_with_database(url, "t"), expected, "{url}");
        }
    }
}
