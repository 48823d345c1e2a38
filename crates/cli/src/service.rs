//! What the long-running commands share: `spotbot run` (everything in one process),
//! `spotbot worker` (the bots only) and `spotbot api` (the HTTP API only) read the same
//! configuration ([`ServiceArgs`]), open the same database and master key ([`Service`]), serve
//! the API the same way ([`ApiServer`]) and run the bots the same way ([`run_bots`]): as a worker
//! registered in the `workers` table, its heartbeat written every few seconds with the number of
//! bots it holds, and said stopped on a clean shutdown, with the users' notifications sent
//! beside them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use accounts::{AccountClients, MasterKey, Venues};
use anyhow::Context;
use binance::RetryPolicy;
use clap::Args;
use engine::{Engine, SchedulerStats, run_scheduler};
use store::{NewWorker, Store, WORKER_HEARTBEAT_MS, WorkerState};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::warn;

use crate::Failure;
use crate::run_config::ConfigFile;

/// The options every long-running command takes: where the configuration, the database and the
/// venues are.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// TOML configuration file (see `spotbot run --help`); every key is optional.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    #[command(flatten)]
    pub venues: VenueArgs,
    /// Serve Prometheus metrics at http://ADDR/metrics ([metrics] listen; default off). Port 0
    /// picks a free one, printed at start.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

impl ServiceArgs {
    /// The configuration: file, then environment, then these flags.
    pub fn config(&self) -> Result<ConfigFile, Failure> {
        let mut config = ConfigFile::load(self.config.as_deref())?;
        if let Some(url) = &self.database {
            config.database_url = Some(url.clone());
        }
        if let Some(listen) = self.metrics {
            config.metrics.listen = Some(listen);
        }
        self.venues.apply(&mut config);
        Ok(config)
    }
}

/// Where the data directory (the master key) and the venues are: the options of every command
/// that reaches a user's exchange account (the long-running ones, `credentials`, `bot add`).
#[derive(Debug, Args)]
pub struct VenueArgs {
    /// Directory of the default database, the master key file and the built-in exchange's state.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The paper exchange: a running `spotbot sim` (`spotbot run` has one built in otherwise).
    #[arg(long, value_name = "URL")]
    pub paper_url: Option<String>,
    /// The testnet's REST URL (default Binance's spot testnet).
    #[arg(long, value_name = "URL")]
    pub testnet_url: Option<String>,
    /// Live Binance's REST URL (default https://api.binance.com; live needs [live] confirm).
    #[arg(long, value_name = "URL")]
    pub live_url: Option<String>,
}

impl VenueArgs {
    /// Sets the flags given over `config` (file and environment).
    pub fn apply(&self, config: &mut ConfigFile) {
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        for (flag, slot) in [
            (&self.paper_url, &mut config.venues.paper.url),
            (&self.testnet_url, &mut config.venues.testnet.url),
            (&self.live_url, &mut config.venues.live.url),
        ] {
            if let Some(url) = flag {
                *slot = Some(url.clone());
            }
        }
    }
}

/// A long-running command once its configuration checked out: the retry policy, the master key
/// and the open database.
pub struct Service {
    /// The command's name in what it prints (`run`, `worker`, `api`).
    pub name: &'static str,
    /// The configuration.
    pub config: ConfigFile,
    /// Retries of every exchange client.
    pub retry: RetryPolicy,
    /// The key of the users' exchange secrets.
    pub master_key: MasterKey,
    /// The database.
    pub store: Store,
}

/// Whether a command may create the master key when it finds none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `spotbot run`, which starts an installation: a new key file on first run.
    CreateIfMissing,
    /// `spotbot worker` and `spotbot api`, which join one (often on another machine): the key
    /// must be given, since a new one could not decrypt the secrets already stored.
    MustExist,
}

impl Service {
    /// Checks `config`, creates the data directory, loads the master key (as `key_source`
    /// allows) and opens the database (migrating it). Anything wrong stops the command here,
    /// before it starts anything, with a message that says what to fix.
    pub async fn open(
        name: &'static str,
        config: ConfigFile,
        key_source: MasterKeySource,
    ) -> Result<Service, Failure> {
        let retry = config
            .retry_policy(|variable| std::env::var(variable).ok())
            .map_err(Failure::Usage)?;
        config.check_live_confirmation().map_err(Failure::Usage)?;
        if std::env::var_os("BINANCE_API_KEY").is_some() {
            eprintln!(
                "spotbot {name}: BINANCE_API_KEY is not read here: keys belong to users; store it for one with `spotbot credentials set --user U --venue testnet`"
            );
        }
        let data_dir = config.data_dir();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let env_key = std::env::var(accounts::MASTER_KEY_ENV).ok();
        let master_key = match key_source {
            MasterKeySource::CreateIfMissing => MasterKey::load(env_key.as_deref(), &data_dir),
            MasterKeySource::MustExist => MasterKey::load_existing(env_key.as_deref(), &data_dir),
        }
        .map_err(|err| Failure::Usage(err.to_string()))?;
        let database_url = config.database_url();
        let store = Store::connect(&database_url)
            .await
            .map_err(|err| Failure::Runtime(anyhow::Error::new(err)))?;
        println!(
            "spotbot {name}: database {}",
            store::redacted_url(&database_url)
        );
        if let Some(listen) = config.metrics.listen {
            let per_bot_max = config
                .metrics
                .per_bot_max
                .unwrap_or(crate::metrics_server::PER_BOT_MAX);
            crate::metrics_server::start(name, listen, store.clone(), per_bot_max).await?;
        }
        Ok(Service {
            name,
            config,
            retry,
            master_key,
            store,
        })
    }

    /// The users' accounts on `venues`, which it prints.
    pub fn accounts(&self, venues: Venues) -> Arc<AccountClients> {
        for venue in venues.iter() {
            println!(
                "spotbot {}: {} venue at {}",
                self.name,
                venue.mode(),
                venue.client().config().base_url
            );
        }
        Arc::new(AccountClients::new(
            self.store.clone(),
            self.master_key.clone(),
            venues,
        ))
    }

    /// The HTTP API's listener, bound before anything else starts so that a taken address stops
    /// the command at once.
    pub async fn bind_api(&self) -> Result<TcpListener, Failure> {
        let listen = self.config.api_listen();
        TcpListener::bind(listen).await.map_err(|err| {
            Failure::Runtime(anyhow::anyhow!(
                "cannot listen on {listen} for the HTTP API: {err}; choose another address with --listen ADDR (or [api] listen in the config file)"
            ))
        })
    }

    /// This worker's name: `[engine] worker_id`, or the host's name and the process id.
    pub fn worker_id(&self) -> String {
        self.config
            .engine
            .worker_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", host_name(), std::process::id()))
    }
}

/// The HTTP API served in the background, and how to stop it.
pub struct ApiServer {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<serve::Drained>,
}

impl ApiServer {
    /// Serves the API of `service` on `listener` with `accounts`, and prints its address.
    pub fn start(
        service: &Service,
        listener: TcpListener,
        accounts: Arc<AccountClients>,
    ) -> Result<ApiServer, Failure> {
        let address = listener
            .local_addr()
            .context("cannot read the HTTP API's address")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let config = service.config.api_config();
        let limits = config.limits;
        let state = api::ApiState::new(service.store.clone(), accounts, config);
        // The dashboard's pages call the API on the same origin, so they are served together.
        let app = api::router(state.clone()).merge(web::router());
        let task = tokio::spawn(api::serve_router(listener, app, limits, async move {
            let _ = stopped.await;
            state.close_streams();
        }));
        println!("spotbot {}: HTTP API at http://{address}", service.name);
        println!("spotbot {}: dashboard at http://{address}/", service.name);
        tracing::info!(
            max_connections = limits.max_connections,
            "the HTTP API serves at most this many connections at once ([api] max_connections)"
        );
        Ok(ApiServer { stop, task })
    }

    /// Stops the API after its requests in flight (those still running when the drain's time
    /// is up are dropped).
    pub async fn stop(self) -> Result<(), Failure> {
        let _ = self.stop.send(());
        self.task.await.context("the HTTP API's task failed")?;
        Ok(())
    }
}

/// What a worker reports about itself while it runs (its health endpoint reads it).
#[derive(Debug, Default)]
pub struct WorkerHealth {
    /// When its heartbeat was last written, ms since the epoch (0 before the first).
    pub heartbeat_at_ms: AtomicI64,
    /// How many bots it held then.
    pub bots_held: AtomicI64,
}

/// Runs the bots of `service` on `accounts` until `shutdown`, as worker `worker_id`: registered
/// in the workers table, its heartbeat written every [`WORKER_HEARTBEAT_MS`] (into `health`
/// too), stopped cleanly at the end. Returns the scheduler's counts.
pub async fn run_bots(
    service: &Service,
    accounts: Arc<AccountClients>,
    worker_id: String,
    health: Arc<WorkerHealth>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Arc<SchedulerStats>, Failure> {
    let store = &service.store;
    let runtime = |err: store::StoreError| Failure::Runtime(err.into());
    let worker = NewWorker {
        id: worker_id.clone(),
        host: host_name(),
        pid: i64::from(std::process::id()),
    };
    wait_for_namesake(store, &worker).await?;
    store
        .register_worker(&worker, engine::wall_now_ms())
        .await
        .map_err(runtime)?;
    let notifier = notify::Notifier::new(
        store.clone(),
        service.master_key.clone(),
        service.config.notify_settings(),
    )
    .map_err(|err| Failure::Runtime(err.into()))?;
    let (stop_notifying, notifying_stopped) = oneshot::channel::<()>();
    // Beside the bots, never on their cycles: a receiver that is down delays only its own
    // deliveries.
    let notifications = tokio::spawn(notifier.run(async {
        let _ = notifying_stopped.await;
    }));
    let engine = Engine::new(
        store.clone(),
        accounts,
        service.config.engine_settings(worker_id.clone()),
    );
    let (stop_beating, beating_stopped) = oneshot::channel::<()>();
    let heart = tokio::spawn(beat(engine.clone(), worker, health, beating_stopped));
    let stats = Arc::new(SchedulerStats::default());
    let outcome = run_scheduler(
        engine,
        service.config.scheduler_settings(),
        stats.clone(),
        shutdown,
    )
    .await
    .map_err(runtime);
    let _ = stop_beating.send(());
    let _ = heart.await;
    let _ = stop_notifying.send(());
    let _ = notifications.await;
    if let Err(error) = store.stop_worker(&worker_id, engine::wall_now_ms()).await {
        warn!(%error, "cannot record this worker's stop");
    }
    outcome.map(|()| stats)
}

/// Waits until no other live process runs as worker `worker.id` (a configured `[engine]
/// worker_id` given to two processes, or a process restarted while its previous run may still
/// be alive): both would hold the same leases, and a bot could run twice. A namesake that died
/// falls silent within [`store::WORKER_SILENT_AFTER_MS`]; one still beating after that is a
/// usage error naming it.
async fn wait_for_namesake(store: &Store, worker: &NewWorker) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_millis(WAIT_FOR_NAMESAKE_MS);
    let mut told = false;
    loop {
        let now_ms = engine::wall_now_ms();
        let namesake = store
            .workers()
            .await
            .map_err(|err| Failure::Runtime(err.into()))?
            .into_iter()
            .find(|row| {
                row.id == worker.id
                    && (row.host.as_str(), row.pid) != (worker.host.as_str(), worker.pid)
                    && row.state(now_ms) == WorkerState::Running
            });
        let Some(namesake) = namesake else {
            return Ok(());
        };
        let heard_ms = now_ms - namesake.heartbeat_at_ms;
        if Instant::now() >= deadline {
            return Err(Failure::Usage(format!(
                "another process runs as worker {:?} (pid {} on {}, heard from {heard_ms} ms ago): two workers of one name would share its leases; give this one another [engine] worker_id, or stop that one",
                worker.id, namesake.pid, namesake.host
            )));
        }
        if !told {
            println!(
                "spotbot: worker {:?} was heard from {heard_ms} ms ago (pid {} on {}); waiting until it is silent before taking its name",
                worker.id, namesake.pid, namesake.host
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How long [`wait_for_namesake`] waits: long enough for a namesake that died to fall silent.
const WAIT_FOR_NAMESAKE_MS: u64 = store::WORKER_SILENT_AFTER_MS.unsigned_abs() + 2_000;

/// Writes `worker`'s heartbeat every [`WORKER_HEARTBEAT_MS`] until `stop`; registers it again
/// when its row went missing (an operator cleared the table).
async fn beat(
    engine: Engine,
    worker: NewWorker,
    health: Arc<WorkerHealth>,
    mut stop: oneshot::Receiver<()>,
) {
    let every = Duration::from_millis(WORKER_HEARTBEAT_MS.unsigned_abs());
    let store = engine.store().clone();
    loop {
        let now_ms = engine::wall_now_ms();
        let held = i64::try_from(engine.leases_held()).unwrap_or(i64::MAX);
        let written = match store.worker_heartbeat(&worker.id, held, now_ms).await {
            Ok(true) => true,
            Ok(false) => match store.register_worker(&worker, now_ms).await {
                Ok(()) => true,
                Err(error) => {
                    warn!(%error, "cannot register this worker again");
                    false
                }
            },
            Err(error) => {
                warn!(%error, "cannot write this worker's heartbeat");
                false
            }
        };
        // The health endpoint tells of the heartbeat in the database, not of this loop.
        if written {
            health.heartbeat_at_ms.store(now_ms, Ordering::Relaxed);
            health.bots_held.store(held, Ordering::Relaxed);
        }
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Prints the scheduler's counts at the end of a command.
pub fn print_stopped(name: &str, stats: &SchedulerStats) {
    println!(
        "spotbot {name}: stopped after {} cycles, {} trades, {} failed cycles",
        stats.cycles.load(Ordering::Relaxed),
        stats.trades.load(Ordering::Relaxed),
        stats.failures.load(Ordering::Relaxed)
    );
}

/// A worker's health endpoint on `address`: `GET /health` answers 200 with the worker's name,
/// its last heartbeat and the bots it held, or 503 once the heartbeat is older than three
/// periods (it cannot reach the database); for a supervisor or a load balancer to watch.
pub async fn serve_health(
    address: SocketAddr,
    worker_id: String,
    health: Arc<WorkerHealth>,
) -> Result<SocketAddr, Failure> {
    use axum::http::StatusCode;
    let listener = TcpListener::bind(address).await.map_err(|err| {
        Failure::Runtime(anyhow::anyhow!(
            "cannot listen on {address} for the health endpoint: {err}; choose another address with --health ADDR"
        ))
    })?;
    let bound = listener
        .local_addr()
        .context("cannot read the health endpoint's address")?;
    let router = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let (worker_id, health) = (worker_id.clone(), health.clone());
            async move {
                let heartbeat_at_ms = health.heartbeat_at_ms.load(Ordering::Relaxed);
                let fresh =
                    engine::wall_now_ms() - heartbeat_at_ms <= store::WORKER_SILENT_AFTER_MS;
                let status = if fresh {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let body = serde_json::json!({
                    "status": if fresh { "ok" } else { "stale" },
                    "worker": worker_id,
                    "heartbeat_at_ms": heartbeat_at_ms,
                    "bots_held": health.bots_held.load(Ordering::Relaxed),
                });
                (status, axum::Json(body))
            }
        }),
    );
    serve::spawn_probe_endpoint(listener, router);
    Ok(bound)
}

/// Runs `service` (a long-running command's work) to its end on a multi-threaded runtime.
pub fn block_on<F: std::future::Future<Output = Result<(), Failure>>>(
    service: F,
) -> Result<(), Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(service)
}

/// This machine's name (falls back to "spotbot").
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "spotbot".to_owned())
}
