//! `spotbot run`: the main job. Opens the database (migrating it), sets up the venues (paper on
//! the exchange built into this process by default, started on loopback with an accelerated
//! clock and a state file, so one command runs everything on a fresh machine; testnet and live
//! at their configured URLs), creates a demo user and bot the first time, serves the HTTP API
//! (the `api` crate) and runs every active bot's cycle at each candle close on its owner's own
//! account, until Ctrl-C or SIGTERM, which finish the cycles in flight, release the leases, stop
//! the API after its requests in flight and save the simulator.

use std::path::PathBuf;
use std::sync::Arc;

use accounts::{AccountClients, KeySubmission, Venues};
use anyhow::Context;
use binance::{Client, ClientConfig, ServerClock};
use clap::Args;
use rust_decimal::Decimal;
use sim::{Clock, Exchange, ExchangeConfig, RunningSim, SystemClock};
use store::{Mode, NewBot, NewUser, Role, Store};
use strategy::EmaRsiCrossParams;
use strategy::spec as strategy_spec;
use tracing::info;
use zeroize::Zeroizing;

use crate::Failure;
use crate::commands::sim::{demo_account, open_durable_state};
use crate::run_config::ConfigFile;
use crate::service::{ApiServer, MasterKeySource, Service, ServiceArgs, print_stopped, run_bots};
use crate::venue_setup::{paper_venue, remote_paper_client, with_binance_venues};

/// Long help for `spotbot run --help`.
pub const LONG_ABOUT: &str = "\
Run the trading bots: every active bot trades at each close of its candle interval, on its
owner's own exchange account for the bot's venue (paper, testnet or live).

With no configuration at all it runs a complete demo on this machine: a SQLite database in
./data/spotbot.db, the built-in Binance-compatible exchange in this process as the paper venue,
its market running 60 times faster than real time (balances and orders kept in
./data/sim-state.json), and the first time, a demo user with an EMA/RSI bot on BTCUSDT 1m that
spends 100 USDT per BUY. Each cycle's decision and each trade is logged. Ctrl-C (or SIGTERM)
finishes the cycles in flight, releases the bots and saves the exchange; running it again
continues with the same database. List what happened with `spotbot bots` and `spotbot trades`.

Venues: one process trades every venue it is configured for.
  paper    each user gets their own account on the paper exchange the first time one of their
           paper bots trades (or they ask for their balance), with the starting balances below;
           the built-in exchange by default, or a `spotbot sim` shared by several processes
  testnet  Binance's spot testnet (or anything standing in for it, such as a `spotbot sim`): each
           user stores their own key (PUT /api/v1/credentials/testnet, `spotbot credentials set`)
  live     Binance, only with the confirmation below; each user stores their own key

Configuration: a TOML file (--config), overridden by environment variables, overridden by flags.
  database_url = \"sqlite://data/spotbot.db\"   # or postgres://user:pass@host/db; SPOTBOT_DATABASE_URL
  data_dir = \"data\"
  [sim]             speed = 60, seed = 42, state_file = \"data/sim-state.json\", admin_token
                    (SPOTBOT_SIM_ADMIN_TOKEN; default one per run that only the process knows)
                    (the built-in exchange)
  [venues.paper]    url = \"http://127.0.0.1:8765\" (SPOTBOT_PAPER_URL, --paper-url; default built in),
                    starting_balances = { USDT = \"10000\" }, admin_token (SPOTBOT_PAPER_ADMIN_TOKEN:
                    the admin token of that `spotbot sim`, which opens users' accounts)
  [venues.testnet]  url (SPOTBOT_TESTNET_URL, --testnet-url; default https://testnet.binance.vision),
                    stream_url, ws_api_url (user data streams), enabled = true
  [venues.live]     url (SPOTBOT_LIVE_URL, --live-url; default https://api.binance.com), stream_url,
                    ws_api_url, enabled = true
  [live]            confirm = \"I accept that spotbot trades real money\"   (required for live bots)
  [binance]         retry_max_attempts, retry_backoff_base
                    (BINANCE_RETRY_MAX_ATTEMPTS, BINANCE_RETRY_BACKOFF_BASE)
  [engine]          parallelism = 64, streams = true (candles, prices and balances from the
                    exchange's WebSockets, shared by every bot; false polls REST every cycle),
                    cycle_delay_ms = 1000 (bots without a stream), tick_ms = 20 (how often
                    the scheduler looks at the clock), max_consecutive_failures = 5,
                    lease_ttl_secs = 60, order_absent_after_secs = 60 (orders are sent within its
                    first half; keep it above twice the recvWindow), worker_id = \"host-pid\"
                    (one process per name)
  [api]             listen = \"127.0.0.1:8080\" (--listen), session_ttl_secs = 86400,
                    secure_cookies = false (true behind an HTTPS proxy), candles_dir (the
                    candle files users may backtest from the dashboard; --candles-dir),
                    uploads_dir = data_dir/uploads (the candle files users upload, 64 MiB and
                    8 files each)
  [metrics]         listen = \"127.0.0.1:9100\" (--metrics; default off), per_bot_max = 100
  [notifications]   telegram_api_url = \"https://api.telegram.org\", allow_private_targets = false
                    (webhooks to private addresses), max_attempts = 20, retry_base_ms = 5000,
                    retry_max_ms = 900000, request_timeout_secs = 10, concurrency = 16,
                    keep_log_days = 30: users' webhooks and Telegram messages, sent by every
                    process that runs bots
  SPOTBOT_MASTER_KEY  the key that encrypts users' exchange secrets (64 hex characters or base64
             of 32 bytes); without it, data_dir/master.key, created with permissions 0600 on first run
             (`spotbot worker` and `spotbot api` never create one: they need the same key)

Exchange keys belong to users, not to the process: BINANCE_API_KEY and BINANCE_API_SECRET are
read only by `spotbot credentials set --user U --venue V`, which stores them for that user.

The HTTP API (users, keys, accounts, bots, trades) is served on --listen; create the first admin
with `spotbot user add --admin`. Several processes may share one PostgreSQL database: a bot's
lease makes sure only one of them runs it at a time.

Examples:
  spotbot run
  spotbot run --sim-speed 600
  spotbot run --testnet-url http://127.0.0.1:8765      # a local `spotbot sim` as the testnet
  SPOTBOT_DATABASE_URL=postgres://spotbot@127.0.0.1/spotbot spotbot run";

/// Options of `spotbot run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// How many times faster than real time the built-in exchange's market runs.
    #[arg(long, value_name = "N", value_parser = crate::commands::sim::speed_flag)]
    pub sim_speed: Option<u32>,
    /// Address of the HTTP API (default 127.0.0.1:8080; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Directory of candle CSV files users may backtest from the dashboard ([api] candles_dir).
    #[arg(long, value_name = "DIR")]
    pub candles_dir: Option<std::path::PathBuf>,
}

impl RunArgs {
    /// The configuration: file, then environment, then these flags.
    pub fn config(&self) -> Result<ConfigFile, Failure> {
        let mut config = self.service.config()?;
        if let Some(speed) = self.sim_speed {
            config.sim.speed = Some(speed);
        }
        if let Some(listen) = self.listen {
            config.api.listen = Some(listen);
        }
        if let Some(dir) = &self.candles_dir {
            config.api.candles_dir = Some(dir.clone());
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
    state_file: PathBuf,
    /// The demo account: the demo user's paper account.
    demo: sim::Credentials,
    /// The token of its admin API, which only this process knows.
    admin_token: String,
}

/// Runs until Ctrl-C or SIGTERM.
pub fn run(args: RunArgs) -> Result<(), Failure> {
    let config = args.config()?;
    crate::service::block_on(serve(config))
}

async fn serve(config: ConfigFile) -> Result<(), Failure> {
    let shutdown = crate::signals::shutdown_signal().context("cannot listen for Ctrl-C")?;
    let service = Service::open("run", config, MasterKeySource::CreateIfMissing).await?;
    let listener = service.bind_api().await?;
    let (venues, sim) = venues(&service.config, &service.retry).await?;
    let accounts = service.accounts(venues);
    let api = ApiServer::start(&service, listener, accounts.clone())?;
    let store = &service.store;
    ensure_demo(store, &accounts, sim.as_ref().map(|sim| &sim.demo)).await?;

    let bots = store
        .bots(None)
        .await
        .map_err(|err| Failure::Runtime(err.into()))?;
    let runnable = bots
        .iter()
        .filter(|bot| bot.is_active && accounts.venues().serves(bot.mode))
        .count();
    println!(
        "spotbot run: {} bots in the database, {runnable} active on the venues served here",
        bots.len(),
    );
    println!("Press Ctrl-C to stop.");

    let worker_id = service.worker_id();
    let stats = run_bots(&service, accounts, worker_id, Arc::default(), shutdown).await?;
    api.stop().await?;

    if let Some(sim) = sim {
        sim.server
            .stop()
            .await
            .context("the simulator failed while stopping")?;
        info!(state = %sim.state_file.display(), "simulator state saved");
    }
    service.store.close().await;
    print_stopped("run", &stats);
    Ok(())
}

/// The venues of this run: paper (the built-in exchange, started here, unless a URL is
/// configured), and the testnet and live venues the configuration enables.
async fn venues(
    config: &ConfigFile,
    retry: &binance::RetryPolicy,
) -> Result<(Venues, Option<InProcessSim>), Failure> {
    let (paper, sim) = match config.paper_url() {
        Some(url) => {
            let (client, url) = remote_paper_client(url, retry).await?;
            (paper_venue(config, client, &url, None)?, None)
        }
        None => {
            let (client, sim) = start_sim(config, retry.clone()).await?;
            let url = client.config().base_url.clone();
            // The built-in exchange answers this process's admin token only.
            let token = sim.admin_token.clone();
            (paper_venue(config, client, &url, Some(token))?, Some(sim))
        }
    };
    let venues = with_binance_venues(Venues::new().with(paper), config, retry)?;
    Ok((venues, sim))
}

/// Starts the built-in exchange on loopback with its state file, and the paper venue's client
/// reading the exchange's (accelerated) clock.
async fn start_sim(
    config: &ConfigFile,
    retry: binance::RetryPolicy,
) -> Result<(Client, InProcessSim), Failure> {
    let state_file = config.sim_state_file();
    let mut durable = open_durable_state(&state_file, "spotbot run")?;
    let clock = Arc::new(SystemClock::resume(
        durable.saved().and_then(|state| state.market_time_ms),
        config.sim_speed(),
    ));
    let mut exchange_config = ExchangeConfig::default().with_order_ids_from_now();
    if let Some(seed) = config.sim.seed {
        exchange_config.seed = seed;
    }
    let mut exchange =
        Exchange::new(exchange_config, clock.clone()).context("cannot set up the simulator")?;
    durable
        .restore_into(&mut exchange)
        .map_err(|err| Failure::Usage(err.to_string()))?;
    let (demo, _) = demo_account(&mut exchange);
    // The admin API opens users' funded accounts: only this process may use it, with a token
    // made for this run and never shown (no other process of the machine can mint accounts),
    // unless the operator gave one to read it with.
    let admin_token = match &config.sim.admin_token {
        Some(token) => token.expose().to_owned(),
        None => super::sim::new_admin_token()?,
    };
    let options = sim::ServeOptions {
        durable: Some(durable),
        limits: config.serve_limits(),
        admin_token: Some(
            sim::AdminToken::new(&admin_token).map_err(|reason| anyhow::anyhow!(reason))?,
        ),
    };
    let server = sim::start_with(
        exchange,
        "127.0.0.1:0".parse().expect("a valid address"),
        options,
    )
    .await
    .context("cannot start the simulator")?;
    let url = format!("http://{}", server.local_addr());
    println!(
        "spotbot run: built-in exchange at {url} (market {}x real time, state {})",
        config.sim_speed(),
        state_file.display()
    );
    let mut client_config =
        ClientConfig::new(url).with_server_clock(Arc::new(SimServerClock(clock)));
    client_config.retry = retry;
    let client = Client::new(client_config).context("cannot set up the exchange client")?;
    Ok((
        client,
        InProcessSim {
            server,
            state_file,
            demo,
            admin_token,
        },
    ))
}

/// The demo user and bot, created the first time the built-in exchange runs on an empty
/// database; the demo user's paper account is the built-in exchange's demo account.
async fn ensure_demo(
    store: &Store,
    accounts: &AccountClients,
    demo_account: Option<&sim::Credentials>,
) -> Result<(), Failure> {
    let runtime = |err: store::StoreError| Failure::Runtime(err.into());
    let Some(demo_account) = demo_account else {
        return Ok(());
    };
    if store.users().await.map_err(runtime)?.is_empty() {
        create_demo(store).await?;
    }
    // Only the user this command created (its name, its address, and no password, so nobody
    // can log in as it): a user who merely took the name is not handed the demo account.
    let Some(demo) = store
        .user_by_username(DEMO_USER)
        .await
        .map_err(runtime)?
        .filter(|user| user.email == DEMO_EMAIL)
    else {
        return Ok(());
    };
    if store
        .password_hash(demo.id)
        .await
        .map_err(runtime)?
        .is_some()
    {
        return Ok(());
    }
    let key = KeySubmission::hmac(
        demo_account.api_key.clone(),
        Zeroizing::new(demo_account.secret.clone()),
    );
    accounts
        .set_paper_account(demo.id, &key)
        .await
        .map_err(|err| Failure::Runtime(err.into()))?;
    Ok(())
}

/// The demo user's name and email address.
const DEMO_USER: &str = "demo";
const DEMO_EMAIL: &str = "demo@spotbot.invalid";

async fn create_demo(store: &Store) -> Result<(), Failure> {
    let runtime = |err: store::StoreError| Failure::Runtime(err.into());
    let now_ms = engine::wall_now_ms();
    let user = store
        .create_user(
            &NewUser {
                email: DEMO_EMAIL.to_owned(),
                username: DEMO_USER.to_owned(),
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
