//! spotbot's persistence: users, their login sessions and their exchange credentials (one key per
//! venue), bot configurations and the leases that keep a bot from running twice, write-ahead
//! orders, trades, positions and the cycle events, the operations on all of a user's bots on one
//! venue at once, the workers of a fleet, and each user's notification channels with the
//! persistent queue of their deliveries.
//!
//! One [`Store`] speaks to SQLite (the default, one file) or PostgreSQL (many worker processes)
//! through sqlx's `Any` driver, so every repository function is written once in portable SQL.
//! Both backends store values the same way: decimals as canonical text (money is
//! [`rust_decimal::Decimal`], never a float), times as milliseconds since the epoch, booleans as
//! 0/1 and enums as their lower-case spelling. A value read back that does not parse is
//! [`StoreError::Corrupt`], never a panic.
//!
//! ```no_run
//! # async fn demo() -> store::StoreResult<()> {
//! let store = store::Store::connect("sqlite://data/spotbot.db").await?;
//! println!("{} users", store.users().await?.len());
//! # Ok(())
//! # }
//! ```

mod bots;
mod connect;
mod credentials;
mod error;
mod events;
mod leases;
mod model;
mod notifications;
mod orders;
mod positions;
mod row;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
mod trades;
mod users;
mod venues;
mod workers;

use std::fmt;

use sqlx::AnyPool;

pub use bots::{BotConfig, BotControl, BotDeletion, NewBot};
pub use connect::redacted_url;
pub use credentials::{NewCredentials, StoredCredentials, Verification};
pub use error::{StoreError, StoreResult};
pub use events::{ERROR_EVENT, EventRow, IN_DOUBT_EVENT, NewEvent, PAUSED_EVENT, SKIP_EVENT};
pub use leases::{LEASE_BATCH, Lease};
pub use model::{
    BotId, BotStatus, ChannelId, ChannelKind, DeliveryId, DeliveryStatus, KeyType, Mode,
    NotifyEvent, OrderStatus, Role, TradeId, UnknownValue, UserId,
};
pub use notifications::{
    ChannelRow, DeliveryFilter, DeliveryRow, NewChannel, RetryAt, Subscription,
};
pub use orders::{NewOrder, OrderRow};
pub use positions::PositionRow;
pub use tokens::{Session, SessionId};
pub use trades::{
    Execution, NewTrade, PageOrder, Performance, RATIO_DECIMAL_PLACES, SignalTrade,
    TRADE_JSON_KEYS, TradeFilter, TradePageJson, TradeRow, TradesPerformance,
};
pub use users::{NewUser, User};
pub use venues::OrdersInDoubt;
pub use workers::{NewWorker, WORKER_HEARTBEAT_MS, WORKER_SILENT_AFTER_MS, WorkerRow, WorkerState};

/// A handle on the database: a connection pool, cheap to clone and share between tasks.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, everything).
    pool: AnyPool,
    /// Writes: on SQLite a pool of one connection (see [`Store::connect_with`]); on PostgreSQL
    /// the same pool as `pool`.
    writer: AnyPool,
    backend: Backend,
}

/// Which database a [`Store`] speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file (`sqlite://...`).
    Sqlite,
    /// A PostgreSQL database (`postgres://...`).
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    /// `sqlite` or `postgres`, as [`Backend`] displays.
    fn from_str(text: &str) -> Result<Backend, String> {
        match text {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => Err(format!(
                "unknown database {other:?}: expected sqlite or postgres"
            )),
        }
    }
}

/// How a [`Store`] connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most connections the pool opens; `0` means the backend's default
    /// ([`StoreOptions::SQLITE_DEFAULT_CONNECTIONS`] or
    /// [`StoreOptions::POSTGRES_DEFAULT_CONNECTIONS`]).
    pub max_connections: u32,
}

impl StoreOptions {
    /// The pool size for SQLite when none is given: SQLite serialises writers anyway, so a few
    /// connections serve concurrent readers.
    pub const SQLITE_DEFAULT_CONNECTIONS: u32 = 8;
    /// The pool size for PostgreSQL when none is given: well under the server's usual limit of
    /// 100, leaving room for several worker processes.
    pub const POSTGRES_DEFAULT_CONNECTIONS: u32 = 16;

    /// The pool size to use on `backend`.
    pub fn connections_for(self, backend: Backend) -> u32 {
        match (self.max_connections, backend) {
            (0, Backend::Sqlite) => Self::SQLITE_DEFAULT_CONNECTIONS,
            (0, Backend::Postgres) => Self::POSTGRES_DEFAULT_CONNECTIONS,
            (given, _) => given,
        }
    }
}

impl Default for StoreOptions {
    /// The backend's default pool size.
    fn default() -> Self {
        StoreOptions { max_connections: 0 }
    }
}

impl Store {
    /// Which database this store speaks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection, waiting for those in use to be returned. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// The connection pool itself, for tests that must write what the store never would (garbage
    /// in a decimal column) or inspect the schema.
    #[cfg(feature = "testing")]
    pub fn raw_pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes fails with
    /// "database is locked" without waiting when another connection wrote in between, whereas
    /// taking the lock up front waits for it (the busy timeout).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }
}
