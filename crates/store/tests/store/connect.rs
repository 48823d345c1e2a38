//! Opening stores: URLs, SQLite files and their pragmas, migrations run again on reopening, and
//! the two dialects' schemas describing the same tables.

use store::testing::{TestDatabase, postgres_url};
use store::{Backend, Store, StoreError, StoreOptions};

use crate::common::user;

#[tokio::test]
async fn a_sqlite_file_is_created_with_its_directories_and_reopened_with_its_data() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("not/yet/there/spotbot.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    let alice = user(&store, "alice").await;
    store.close().await;
    assert!(path.is_file());

    // Migrations are idempotent: reopening (both URL spellings) keeps the data.
    for url in [url.clone(), format!("sqlite:{}", path.display())] {
        let store = Store::connect_with(&url, StoreOptions { max_connections: 2 })
            .await
            .unwrap();
        assert_eq!(store.user(alice.id).await.unwrap(), Some(alice.clone()));
        store.close().await;
    }
}

#[tokio::test]
async fn every_sqlite_connection_is_durable_waits_for_locks_and_checks_foreign_keys() {
    let db = TestDatabase::sqlite().await;
    let pool = db.store().raw_pool();
    // Several connections at once, so that more than the first is looked at.
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(pool.acquire().await.unwrap());
    }
    for connection in &mut connections {
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        assert_eq!(
            (journal.as_str(), synchronous, foreign_keys, busy_timeout),
            ("wal", 2, 1, 10_000)
        );
    }
    drop(connections);
    db.cleanup().await;
}

#[tokio::test]
async fn urls_the_store_cannot_open_say_why() {
    match Store::connect("mysql://root:hunter2@localhost/spotbot").await {
        Err(error @ StoreError::UnsupportedUrl { .. }) => {
            let shown = error.to_string();
            assert!(
                shown.contains("\"mysql\"")
                    && shown.contains("sqlite://")
                    && shown.contains("postgres://"),
                "{shown}"
            );
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        other => panic!("expected an unsupported URL, got {other:?}"),
    }
    match Store::connect("sqlite::memory:").await {
        Err(error @ StoreError::Connect { .. }) => {
            assert!(error.to_string().contains("in-memory"), "{error}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A directory that cannot be created (a path through a file).
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("file"), b"").unwrap();
    let url = format!("sqlite://{}/file/below/spotbot.db", temp.path().display());
    assert!(matches!(
        Store::connect(&url).await,
        Err(StoreError::Connect { .. })
    ));
}

#[tokio::test]
async fn a_postgres_connection_error_hides_the_password() {
    let Some(url) = postgres_url() else {
        eprintln!("skipped: SPOTBOT_TEST_POSTGRES_URL not set");
        return;
    };
    // The test server's URL with a password (ignored: it trusts local connections) and a
    // database that does not exist.
    let (head, rest) = url.split_once("://").unwrap();
    let (userinfo, host_and_path) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    let host = host_and_path.split('/').next().unwrap();
    let bad = format!("{head}://{user}:hunter2@{host}/spotbot_no_such_database");
    match Store::connect(&bad).await {
        Err(error @ StoreError::Connect { .. }) => {
            let shown = error.to_string();
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains(&format!("{user}:***@{host}")), "{shown}");
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
}

#[test]
fn pool_sizes_default_per_backend() {
    let default = StoreOptions::default();
    assert_eq!(default.connections_for(Backend::Sqlite), 8);
    assert_eq!(default.connections_for(Backend::Postgres), 16);
    assert_eq!(
        StoreOptions { max_connections: 3 }.connections_for(Backend::Postgres),
        3
    );
    assert_eq!(Backend::Postgres.to_string(), "postgres");
}

/// `(table, column, nullable)` of every table of the schema, sorted.
async fn columns(store: &Store) -> Vec<(String, String, bool)> {
    let sql = match store.backend() {
        Backend::Sqlite => {
            "SELECT m.name, p.name, CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 THEN 0 ELSE 1 END \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text, CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END::bigint \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'"
        }
    };
    let mut rows: Vec<(String, String, i64)> = sqlx::query_as(sql)
        .fetch_all(store.raw_pool())
        .await
        .unwrap();
    rows.sort();
    rows.into_iter()
        .map(|(table, column, nullable)| (table, column, nullable == 1))
        .collect()
}

/// The names of the indexes created by name (not those behind UNIQUE and PRIMARY KEY).
async fn indexes(store: &Store) -> Vec<String> {
    let sql = match store.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' \
             AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'"
        }
    };
    let mut names: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(store.raw_pool())
        .await
        .unwrap();
    names.sort();
    names
}

#[tokio::test]
async fn both_dialects_describe_the_same_schema() {
    let sqlite = TestDatabase::sqlite().await;
    let sqlite_columns = columns(sqlite.store()).await;
    assert_eq!(sqlite_columns.len(), 117, "{sqlite_columns:#?}");
    assert!(sqlite_columns.contains(&("trades".to_owned(), "bot_config_id".to_owned(), false)));
    assert!(sqlite_columns.contains(&("trades".to_owned(), "realized_pnl".to_owned(), true)));
    // Migration 0004: credentials per venue, keyed by user and venue, the old table gone.
    assert!(sqlite_columns.contains(&("venue_credentials".to_owned(), "venue".to_owned(), false)));
    assert!(sqlite_columns.contains(&(
        "venue_credentials".to_owned(),
        "can_trade".to_owned(),
        true
    )));
    assert!(
        !sqlite_columns
            .iter()
            .any(|(table, ..)| table == "exchange_credentials")
    );
    // Migration 0005: the workers of a fleet.
    assert!(sqlite_columns.contains(&("workers".to_owned(), "heartbeat_at_ms".to_owned(), false)));
    assert!(sqlite_columns.contains(&("workers".to_owned(), "stopped_at_ms".to_owned(), true)));
    // Migration 0006: the candle a decision was about.
    assert!(sqlite_columns.contains(&("events".to_owned(), "candle_open_ms".to_owned(), true)));
    // Migration 0009: notifications.
    assert!(sqlite_columns.contains(&(
        "notification_deliveries".to_owned(),
        "idempotency_key".to_owned(),
        false
    )));
    // Migration 0010: whose lease an acquisition replaced.
    assert!(sqlite_columns.contains(&(
        "bot_configs".to_owned(),
        "lease_previous_owner".to_owned(),
        true
    )));
    let sqlite_indexes = indexes(sqlite.store()).await;
    assert_eq!(
        sqlite_indexes,
        [
            "events_bot_candle",
            "events_bot_id",
            // Migration 0009: the notifications' queue, by due time and by user.
            "notification_deliveries_due",
            "notification_deliveries_user",
            "notification_subscriptions_channel",
            "orders_bot_id",
            "orders_status",
            "sessions_expires_at_ms",
            "trades_bot_config_id",
            "trades_user_id",
            // Migration 0008: names unique whatever their case.
            "users_email_lower",
            "users_username_lower"
        ]
    );
    let Some(postgres) = TestDatabase::postgres().await else {
        eprintln!("skipped: SPOTBOT_TEST_POSTGRES_URL not set");
        return;
    };
    assert_eq!(postgres.store().backend(), Backend::Postgres);
    assert_eq!(columns(postgres.store()).await, sqlite_columns);
    assert_eq!(indexes(postgres.store()).await, sqlite_indexes);
    postgres.cleanup().await;
    sqlite.cleanup().await;
}
