//! The `workers` table: every process that runs bots registers itself at start
//! ([`Store::register_worker`]), beats its heart with the number of bots it holds
//! ([`Store::worker_heartbeat`]) and says goodbye on a clean shutdown
//! ([`Store::stop_worker`]), so that an operator sees the fleet ([`Store::workers`]). The table
//! only reports: the leases on the bots stay what keeps a bot from running twice.

use crate::Store;
use crate::error::StoreResult;
use crate::row::RowReader;

/// A worker as it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorker {
    /// Its name, unique in the fleet: the owner its leases carry.
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: i64,
}

/// A worker as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// Its name: the owner its leases carry.
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: i64,
    /// When it started, in ms since the epoch.
    pub started_at_ms: i64,
    /// Its last heartbeat, in ms since the epoch.
    pub heartbeat_at_ms: i64,
    /// How many bots' leases it held at its last heartbeat.
    pub bots_held: i64,
    /// When it stopped cleanly; `None` while it runs, or after it died.
    pub stopped_at_ms: Option<i64>,
}

/// How often a worker beats its heart, in ms.
pub const WORKER_HEARTBEAT_MS: i64 = 5_000;
/// How long a worker may go unheard before it is reported silent: three missed heartbeats (it
/// died, stalled, or lost the database; its leases pass to others when they expire).
pub const WORKER_SILENT_AFTER_MS: i64 = 3 * WORKER_HEARTBEAT_MS;

/// What a worker's row says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Heard from within [`WORKER_SILENT_AFTER_MS`].
    Running,
    /// Not heard from for longer, and it did not say it stopped.
    Silent,
    /// It stopped cleanly.
    Stopped,
}

impl WorkerState {
    /// `running`, `silent` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Silent => "silent",
            WorkerState::Stopped => "stopped",
        }
    }
}

impl WorkerRow {
    /// What the row says of the worker at `now_ms`.
    pub fn state(&self, now_ms: i64) -> WorkerState {
        if self.stopped_at_ms.is_some() {
            WorkerState::Stopped
        } else if now_ms - self.heartbeat_at_ms > WORKER_SILENT_AFTER_MS {
            WorkerState::Silent
        } else {
            WorkerState::Running
        }
    }
}

const WORKER_COLUMNS: &str =
    "id, host, pid, started_at_ms, heartbeat_at_ms, bots_held, stopped_at_ms";

impl Store {
    /// Registers `worker`, started at `now_ms`. A worker of the same name (a restarted process
    /// that kept its configured name) is replaced: its row now tells of this run.
    pub async fn register_worker(&self, worker: &NewWorker, now_ms: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO workers (id, host, pid, started_at_ms, heartbeat_at_ms, bots_held) \
             VALUES ($1, $2, $3, $4, $4, 0) \
             ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
             started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms, \
             bots_held = 0, stopped_at_ms = NULL",
        )
        .bind(&worker.id)
        .bind(&worker.host)
        .bind(worker.pid)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records that worker `id` is alive at `now_ms`, holding `bots_held` leases; whether it is
    /// registered.
    pub async fn worker_heartbeat(
        &self,
        id: &str,
        bots_held: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE workers SET heartbeat_at_ms = $2, bots_held = $3, stopped_at_ms = NULL \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms)
        .bind(bots_held)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Records that worker `id` stopped cleanly at `now_ms`, holding no bot.
    pub async fn stop_worker(&self, id: &str, now_ms: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE workers SET heartbeat_at_ms = $2, stopped_at_ms = $2, bots_held = 0 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Every worker that ever registered, the most recently heard from first.
    pub async fn workers(&self) -> StoreResult<Vec<WorkerRow>> {
        sqlx::query(&format!(
            "SELECT {WORKER_COLUMNS} FROM workers ORDER BY heartbeat_at_ms DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let r = RowReader::new(row, "workers", "pid")?;
            Ok(WorkerRow {
                id: r.string("id")?,
                host: r.string("host")?,
                pid: r.i64("pid")?,
                started_at_ms: r.i64("started_at_ms")?,
                heartbeat_at_ms: r.i64("heartbeat_at_ms")?,
                bots_held: r.i64("bots_held")?,
                stopped_at_ms: r.opt_i64("stopped_at_ms")?,
            })
        })
        .collect()
    }
}
