//! `spotbot run`: the main job. Opens the database (migrating it), connects the exchange (by
//! default the simulator, started in this process on loopback with an accelerated clock and a
//! state file, so one command runs everything on a fresh machine), creates a demo user and bot
//! the first time, serves the HTTP API (the `api` crate) and runs every active bot's cycle at each
//! candle close until Ctrl-C or SIGTERM, which finish the cycles in flight, release the leases,
//! stop the API after its requests in flight and save the simulator.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use binance::{Client, ClientConfig, ServerClock};
use clap::Args;
use engine::{Engine, SchedulerStats, Venues, run_scheduler, strategy_spec};
use rust_decimal::Decimal;
use sim::{Clock, Exchange, ExchangeConfig, RunningSim, SystemClock};
use store::{Mode, NewBot, NewUser, Role, Store};
use strategy::EmaRsiCrossParams;
use tokio::sync::oneshot;
use tracing::info;

use crate::Failure;
use crate::commands::sim::{demo_account, save_periodically};
use crate::run_config::{ConfigFile, ExchangeKind};

/// Long help for `spotbot run --help`.
pub const LONG_ABOUT: &str = "\
Run the trading bots: every active bot trades at each close of its candle interval.

With no configuration at all it runs a complete demo on this machine: a SQLite database in
./data/spotbot.db, the built-in Binance-compatible exchange in this process with its market
running 60 times faster than real time (balances and orders kept in ./data/sim-state.json), and
the first time, a demo user with an EMA/RSI bot on BTCUSDT 1m that spends 100 USDT per BUY. Each
cycle's decision and each trade is logged. Ctrl-C (or SIGTERM) finishes the cycles in flight,
releases the bots and saves the exchange; running it again continues with the same database.
List what happened with `spotbot bots` and `spotbot trades`.

Configuration: a TOML file (--config), overridden by environment variables, overridden by flags.
  database_url = \"sqlite://data/spotbot.db\"   # or postgres://user:pass@host/db; SPOTBOT_DATABASE_URL
  exchange = \"sim\"                             # sim | testnet | live; SPOTBOT_EXCHANGE, --exchange
  data_dir = \"data\"
  [sim]      speed = 60, seed = 42, state_file = \"data/sim-state.json\"
  [binance]  api_key, api_secret (BINANCE_API_KEY, BINANCE_API_SECRET),
             retry_max_attempts, retry_backoff_base (BINANCE_RETRY_MAX_ATTEMPTS, BINANCE_RETRY_BACKOFF_BASE)
  [engine]   parallelism = 64, cycle_delay_ms = 1000, max_consecutive_failures = 5,
             lease_ttl_secs = 60, worker_id = \"host-pid\"
  [live]     confirm = \"I accept that spotbot trades real money\"   (required for --exchange live)
  [api]      listen = \"127.0.0.1:8080\" (--listen), session_ttl_secs = 86400
  SPOTBOT_MASTER_KEY  the key that encrypts users' exchange secrets (64 hex characters or base64
             of 32 bytes); without it, data_dir/master.key, created with permissions 0600 on first run

The HTTP API (health, readiness, register, login, logout, me) is served on --listen; create the
first admin with `spotbot user add --admin`.

A process trades the bots whose mode matches its exchange: paper bots on sim, testnet bots on
testnet, live bots on live. Several processes may share one PostgreSQL database: a bot's lease
makes sure only one of them runs it at a time.

Examples:
  spotbot run
  spotbot run --sim-speed 600
  SPOTBOT_DATABASE_URL=postgres://spotbot@127.0.0.1/spotbot spotbot run
  BINANCE_API_KEY=... BINANCE_API_SECRET=... spotbot run --exchange testnet";

/// Options of `spotbot run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML configuration file (see above); every key is optional.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where bots trade: sim (built-in exchange, paper bots), testnet or live.
    #[arg(long, value_enum)]
    pub exchange: Option<ExchangeKind>,
    /// Database URL: sqlite://FILE or postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Directory of the default database and the simulator's state.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// How many times faster than real time the built-in exchange's market runs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sim_speed: Option<u32>,
    /// Address of the HTTP API (default 127.0.0.1:8080; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

impl RunArgs {
    /// The configuration: file, then environment, then these flags.
    pub fn config(&self) -> Result<ConfigFile, Failure> {
        let mut config = ConfigFile::load(self.config.as_deref()).map_err(Failure::Usage)?;
        if let Some(url) = &self.database {
            config.database_url = Some(url.clone());
        }
        if let Some(exchange) = self.exchange {
            config.exchange = Some(exchange);
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if let Some(speed) = self.sim_speed {
            config.sim.speed = Some(speed);
        }
        if let Some(listen) = self.listen {
            config.api.listen = Some(listen);
        }
        Ok(config)
    }
}

/// The simulator's clock, read by the client: an accelerated market has no wall-clock offset
/// the client could estimate.
#[derive(Debug)]
struct SimServerClock(Arc<SystemClock>);

impl ServerClock for SimServerClock {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

/// The simulator started for this run, and how to stop it.
struct InProcessSim {
    server: RunningSim,
    stop_saving: oneshot::Sender<()>,
    saver: tokio::task::JoinHandle<Result<(), sim::StateError>>,
    state_file: PathBuf,
}

/// Runs until Ctrl-C or SIGTERM.
pub fn run(args: RunArgs) -> Result<(), Failure> {
    let config = args.config()?;
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: ConfigFile) -> Result<(), Failure> {
    let shutdown = crate::signals::shutdown_signal().context("cannot listen for Ctrl-C")?;
    let retry = config
        .retry_policy(|name| std::env::var(name).ok())
        .map_err(Failure::Usage)?;
    let exchange = config.exchange();
    if exchange == ExchangeKind::Live {
        config.check_live_confirmed().map_err(Failure::Usage)?;
    }
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    // Loaded before anything starts, so that a bad key or a key file open to others stops the
    // run with a message saying what to fix.
    let master_key = api::vault::MasterKey::load(
        std::env::var(api::vault::MASTER_KEY_ENV).ok().as_deref(),
        &data_dir,
    )
    .map_err(|err| Failure::Usage(err.to_string()))?;
    let api_config = api::ApiConfig {
        master_key: Some(master_key),
        ..config.api_config()
    };
    let database_url = config.database_url();
    let store = Store::connect(&database_url)
        .await
        .map_err(|err| Failure::Runtime(anyhow::Error::new(err)))?;
    println!(
        "spotbot run: database {}",
        store::redacted_url(&database_url)
    );
    // Bound before anything else starts, so that a taken address stops the run at once.
    let listen = config.api_listen();
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|err| {
        Failure::Runtime(anyhow::anyhow!(
            "cannot listen on {listen} for the HTTP API: {err}; choose another address with --listen ADDR (or [api] listen in the config file)"
        ))
    })?;
    let api_address = listener
        .local_addr()
        .context("cannot read the HTTP API's address")?;
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let api_server = tokio::spawn(api::serve(
        listener,
        api::ApiState::new(store.clone(), api_config),
        async {
            let _ = api_stopped.await;
        },
    ));
    println!("spotbot run: HTTP API at http://{api_address}");

    let (venues, sim, mode) = match exchange {
        ExchangeKind::Sim => {
            let (client, sim) = start_sim(&config, retry).await?;
            (
                Venues::new().with(Mode::Paper, client),
                Some(sim),
                Mode::Paper,
            )
        }
        ExchangeKind::Testnet | ExchangeKind::Live => {
            let (key, secret) = match (&config.binance.api_key, &config.binance.api_secret) {
                (Some(key), Some(secret)) => (key.clone(), secret.clone()),
                _ => {
                    return Err(Failure::Usage(
                        "trading on Binance needs API keys: set BINANCE_API_KEY and BINANCE_API_SECRET (or [binance] api_key and api_secret in the config file)".to_owned(),
                    ));
                }
            };
            let (url, mode) = if exchange == ExchangeKind::Testnet {
                (binance::BINANCE_SPOT_TESTNET_URL, Mode::Testnet)
            } else {
                (binance::BINANCE_LIVE_URL, Mode::Live)
            };
            let mut client_config =
                ClientConfig::new(url).with_credentials(binance::Credentials::hmac(key, secret));
            client_config.retry = retry;
            let client = Client::new(client_config).context("cannot set up the Binance client")?;
            println!("spotbot run: exchange {url}");
            (Venues::new().with(mode, client), None, mode)
        }
    };

    ensure_demo(&store, exchange).await?;
    let bots = store
        .bots(None)
        .await
        .map_err(|err| Failure::Runtime(err.into()))?;
    let runnable = bots
        .iter()
        .filter(|bot| bot.mode == mode && bot.is_active)
        .count();
    println!(
        "spotbot run: {} bots in the database, {runnable} active {} bots run here",
        bots.len(),
        mode.as_str()
    );
    println!("Press Ctrl-C to stop.");

    let worker_id = format!("{}-{}", host_name(), std::process::id());
    let engine = Engine::new(store.clone(), venues, config.engine_settings(worker_id));
    let stats = Arc::new(SchedulerStats::default());
    run_scheduler(engine, config.scheduler_settings(), stats.clone(), shutdown)
        .await
        .map_err(|err| Failure::Runtime(err.into()))?;

    let _ = stop_api.send(());
    api_server
        .await
        .context("the HTTP API's task failed")?
        .context("the HTTP API failed")?;

    if let Some(sim) = sim {
        sim.server
            .stop()
            .await
            .context("the simulator failed while stopping")?;
        let _ = sim.stop_saving.send(());
        sim.saver
            .await
            .context("the simulator's state saver failed")?
            .map_err(|err| Failure::Runtime(err.into()))?;
        info!(state = %sim.state_file.display(), "simulator state saved");
    }
    store.close().await;
    println!(
        "spotbot run: stopped after {} cycles, {} trades, {} failed cycles",
        stats.cycles.load(std::sync::atomic::Ordering::Relaxed),
        stats.trades.load(std::sync::atomic::Ordering::Relaxed),
        stats.failures.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}

/// Starts the built-in exchange on loopback with its state file, and a client for its demo
/// account reading the exchange's (accelerated) clock.
async fn start_sim(
    config: &ConfigFile,
    retry: binance::RetryPolicy,
) -> Result<(Client, InProcessSim), Failure> {
    let state_file = config.sim_state_file();
    let saved = sim::load_state(&state_file).map_err(|err| Failure::Usage(err.to_string()))?;
    let clock = Arc::new(SystemClock::resume(
        saved.as_ref().and_then(|state| state.market_time_ms),
        config.sim_speed(),
    ));
    let mut exchange_config = ExchangeConfig::default().with_order_ids_from_now();
    if let Some(seed) = config.sim.seed {
        exchange_config.seed = seed;
    }
    let mut exchange =
        Exchange::new(exchange_config, clock.clone()).context("cannot set up the simulator")?;
    let restored_demo = saved.as_ref().and_then(|state| state.demo_api_key.clone());
    if let Some(state) = saved {
        exchange
            .restore_state(&state_file, state)
            .map_err(|err| Failure::Usage(err.to_string()))?;
    }
    let (credentials, _) = demo_account(&mut exchange, restored_demo.as_deref());
    let server = sim::start(exchange, "127.0.0.1:0".parse().expect("a valid address"))
        .await
        .context("cannot start the simulator")?;
    let url = format!("http://{}", server.local_addr());
    println!(
        "spotbot run: built-in exchange at {url} (market {}x real time, state {})",
        config.sim_speed(),
        state_file.display()
    );
    let (stop_saving, saving_stopped) = oneshot::channel();
    let saver = tokio::spawn(save_periodically(
        server.exchange().clone(),
        state_file.clone(),
        Some(credentials.api_key.clone()),
        saving_stopped,
    ));
    let mut client_config = ClientConfig::new(url)
        .with_credentials(binance::Credentials::hmac(
            credentials.api_key.clone(),
            credentials.secret.clone(),
        ))
        .with_server_clock(Arc::new(SimServerClock(clock)));
    client_config.retry = retry;
    let client = Client::new(client_config).context("cannot set up the exchange client")?;
    Ok((
        client,
        InProcessSim {
            server,
            stop_saving,
            saver,
            state_file,
        },
    ))
}

/// The demo user and bot, created the first time the simulator runs on an empty database.
async fn ensure_demo(store: &Store, exchange: ExchangeKind) -> Result<(), Failure> {
    let runtime = |err: store::StoreError| Failure::Runtime(err.into());
    if exchange != ExchangeKind::Sim || !store.users().await.map_err(runtime)?.is_empty() {
        return Ok(());
    }
    let now_ms = engine::wall_now_ms();
    let user = store
        .create_user(
            &NewUser {
                email: "demo@spotbot.invalid".to_owned(),
                username: "demo".to_owned(),
                password_hash: None,
                role: Role::Admin,
            },
            now_ms,
        )
        .await
        .map_err(runtime)?;
    // Shorter EMAs than the defaults, so the demo trades within its first minute.
    let params = EmaRsiCrossParams {
        fast: 5,
        slow: 13,
        rsi_period: 14,
        overbought: 70.0,
    };
    let bot = store
        .create_bot(
            &NewBot {
                user_id: user.id,
                name: "demo-ema-rsi".to_owned(),
                symbol: "BTCUSDT".to_owned(),
                interval: "1m".to_owned(),
                strategy: strategy_spec::EMA_RSI_CROSS.to_owned(),
                strategy_params: strategy_spec::ema_rsi_cross_json(&params),
                quote_per_buy: Decimal::from(100),
                mode: Mode::Paper,
                is_active: true,
            },
            now_ms,
        )
        .await
        .map_err(runtime)?;
    println!(
        "spotbot run: created the demo user \"demo\" and bot {} \"{}\" (BTCUSDT 1m, EMA 5/13, RSI 14 < 70, 100 USDT per BUY)",
        bot.id, bot.name
    );
    Ok(())
}

/// This machine's name, for worker ids (falls back to "spotbot").
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "spotbot".to_owned())
}
