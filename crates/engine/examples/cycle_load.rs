//! Load benchmark of the engine (issue 6's speed targets): many bots on a 1-second interval
//! against the real simulator on loopback, with durable commits to a real database, run by the
//! real scheduler. Reports sustained bot cycles per second, the engine's own time per cycle
//! (everything but the exchange's answers: database, strategy, bookkeeping) at p50/p99, and the
//! memory an idle bot costs (resident memory growth when as many bots again are added, divided by
//! their number; includes the simulator's side, so it over-states the engine's).
//!
//! ```text
//! cargo run --release -p engine --example cycle_load -- --bots 1000 --seconds 30
//! SPOTBOT_TEST_POSTGRES_URL=$(SPOTBOT_TEST_POSTGRES_DURABLE=1 scripts/postgres-for-tests | tail -n 1) \
//!     cargo run --release -p engine --example cycle_load -- --database postgres
//! ```
//!
//! Each run gets a fresh database: a SQLite file in a temporary directory, or a new database on
//! the PostgreSQL server `SPOTBOT_TEST_POSTGRES_URL` names (dropped at the end), through
//! `store::testing`. `--mix active` (the default) gives the bots short EMAs that trade often;
//! `--mix quiet` the default strategy, which on 1 s candles nearly always holds.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use accounts::{AccountClients, KeySubmission, MasterKey, Venue, Venues};
use binance::{Client, ClientConfig};
use engine::{Engine, EngineSettings, SchedulerSettings, SchedulerStats, run_scheduler};
use rust_decimal::Decimal;
use sim::{Account, Exchange, ExchangeConfig, SystemClock};
use store::testing::TestDatabase;
use store::{Backend, Mode, NewBot, NewUser, Role, Store};

const API_KEY: &str = "cycleLoadKey0123456789cycleLoadKey0123456789cycleLoadKey01234567";
const SECRET: &str = "cycleLoadSecret0123456789cycleLoadSecret0123456789cycleLoadSecre";

/// The bots' strategies: `active` trades often, `quiet` nearly always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mix {
    Active,
    Quiet,
}

/// The engine's load benchmark (see the module documentation).
#[derive(Debug, clap::Parser)]
struct Options {
    /// How many bots, each on a 1-second interval.
    #[arg(long, default_value_t = 1_000)]
    bots: usize,
    /// How long the measured part runs.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// How long the bots run before measuring.
    #[arg(long, default_value_t = 5)]
    warmup_seconds: u64,
    /// How many cycles run at once.
    #[arg(long, default_value_t = 16)]
    parallelism: usize,
    /// Where the trades go: `sqlite` or `postgres` (the server SPOTBOT_TEST_POSTGRES_URL names).
    #[arg(long, default_value_t = Backend::Sqlite)]
    database: Backend,
    /// The strategies' mix.
    #[arg(long, value_enum, default_value_t = Mix::Active)]
    mix: Mix,
}

async fn create_bots(store: &Store, user: store::UserId, count: usize, tag: &str, active: bool) {
    let now_ms = engine::wall_now_ms();
    for index in 0..count {
        // Three symbols. `active`: varied short EMAs with a loose RSI filter, so that bots
        // trade often (orders, fills and trade rows are a real part of the load) though not
        // all in the same second. `quiet`: the default EMA 9/21 with RSI 14 < 70, which on 1 s
        // candles almost never trades, so nearly every cycle decides to hold.
        let params = support::strategy_params(index, active);
        store
            .create_bot(
                &NewBot {
                    user_id: user,
                    name: format!("{tag}-{index}"),
                    symbol: ["BTCUSDT", "ETHUSDT", "BNBUSDT"][index % 3].to_owned(),
                    interval: "1s".to_owned(),
                    strategy: strategy::spec::EMA_RSI_CROSS.to_owned(),
                    strategy_params: params,
                    quote_per_buy: Decimal::from(20),
                    mode: Mode::Paper,
                    is_active: true,
                },
                now_ms,
            )
            .await
            .expect("the bot is created");
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let options = <Options as clap::Parser>::parse();
    // Warnings (failed cycles, with their reason) go to stderr; RUST_LOG=info shows every cycle.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The load is the point: no request-weight or order-count limit may throttle it.
    // A PostgreSQL database may keep trades of earlier runs: order ids must not repeat theirs.
    let config = ExchangeConfig {
        history_ms: 3_600_000,
        ..ExchangeConfig::default()
    }
    .with_order_ids_from_now()
    .with_unreachable_rate_limits();
    let mut exchange =
        Exchange::new(config, Arc::new(SystemClock::new())).map_err(|err| err.to_string())?;
    exchange.add_account(Account::with_key(
        API_KEY.to_owned(),
        sim::SignatureKey::Hmac(SECRET.to_owned()),
        [("USDT".to_owned(), Decimal::from(100_000_000))],
        sim::STANDARD_COMMISSION_RATE,
    ));
    let server = sim::start(exchange, "127.0.0.1:0".parse().expect("an address"))
        .await
        .map_err(|err| err.to_string())?;
    let client = Client::new(ClientConfig::new(format!("http://{}", server.local_addr())))
        .map_err(|err| err.to_string())?;

    let database = TestDatabase::on(options.database).await?;
    let store = database.store().clone();
    let url = database.url().to_owned();
    let tag = format!("load-{}", engine::wall_now_ms());
    let user = store
        .create_user(
            &NewUser {
                email: format!("{tag}@example.invalid"),
                username: tag.clone(),
                password_hash: None,
                role: Role::User,
            },
            engine::wall_now_ms(),
        )
        .await
        .map_err(|err| err.to_string())?;
    create_bots(
        &store,
        user.id,
        options.bots,
        &tag,
        options.mix == Mix::Active,
    )
    .await;

    // Every bot belongs to one user, whose paper account is the funded one above.
    let accounts = Arc::new(AccountClients::new(
        store.clone(),
        MasterKey::generate().map_err(|err| err.to_string())?,
        Venues::new().with(Venue::new(Mode::Paper, client)),
    ));
    accounts
        .set_paper_account(
            user.id,
            &KeySubmission::hmac(API_KEY.to_owned(), SECRET.to_owned().into()),
        )
        .await
        .map_err(|err| err.to_string())?;
    let engine = Engine::new(
        store.clone(),
        accounts,
        EngineSettings::new(format!("{tag}-worker")),
    );
    let settings = SchedulerSettings {
        parallelism: options.parallelism,
        cycle_delay: Duration::from_millis(100),
        stream_grace: Duration::from_millis(500),
        tick: Duration::from_millis(10),
        refresh_bots: Duration::from_secs(1),
    };
    let stats = Arc::new(SchedulerStats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(run_scheduler(engine, settings, stats.clone(), async move {
        let _ = stopped.await;
    }));

    println!(
        "{} bots on 1s candles ({} mix), {} database, parallelism {}",
        options.bots,
        if options.mix == Mix::Active {
            "active"
        } else {
            "quiet"
        },
        store::redacted_url(&url),
        options.parallelism
    );
    tokio::time::sleep(Duration::from_secs(options.warmup_seconds)).await;
    stats.engine_time.reset();
    stats.trade_engine_time.reset();
    let trades_before = stats.trades.load(Ordering::Relaxed);
    let decisions_before = stats.decisions.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let decisions = stats.decisions.load(Ordering::Relaxed) - decisions_before;
    let quantile = |histogram: &engine::TimeHistogram, q| {
        histogram.quantile(q).map_or("-".to_owned(), |d| {
            format!("{:.3} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "bot cycles deciding on a new candle: {decisions} in {elapsed:.1} s = {:.0} cycles/s (due: {} per second); trades {}, skips {}, failed {}, busy {}",
        decisions as f64 / elapsed,
        options.bots,
        stats.trades.load(Ordering::Relaxed) - trades_before,
        stats.skips.load(Ordering::Relaxed),
        stats.failures.load(Ordering::Relaxed),
        stats.busy.load(Ordering::Relaxed)
    );
    println!(
        "engine time per cycle (excluding the exchange's answers): p50 {}, p99 {}; of the cycles that traded: p50 {}, p99 {}",
        quantile(&stats.engine_time, 0.5),
        quantile(&stats.engine_time, 0.99),
        quantile(&stats.trade_engine_time, 0.5),
        quantile(&stats.trade_engine_time, 0.99)
    );

    // Memory per idle bot: as many bots again, once they have all run (their state is built).
    let resident_before = support::resident_bytes();
    create_bots(
        &store,
        user.id,
        options.bots,
        &format!("{tag}-more"),
        options.mix == Mix::Active,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(options.warmup_seconds)).await;
    let resident_after = support::resident_bytes();
    println!(
        "memory: {:.1} KB per bot ({} MB resident with {} bots, {} MB with {})",
        resident_after.saturating_sub(resident_before) as f64 / 1024.0 / options.bots as f64,
        resident_before / (1 << 20),
        options.bots,
        resident_after / (1 << 20),
        2 * options.bots
    );
    stop.send(())
        .map_err(|()| "the scheduler stopped early".to_owned())?;
    scheduler
        .await
        .map_err(|err| err.to_string())?
        .map_err(|err| err.to_string())?;
    server.stop().await.map_err(|err| err.to_string())?;
    database.cleanup().await;
    Ok(())
}
