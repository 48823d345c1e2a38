//! Thousands of bots within Binance's production limits (issue 15's benchmark): one engine
//! process runs `--bots` bots of `--users` users (each with an account of their own) on 1-minute
//! candles of three symbols, in real time, against a simulator in a second process that enforces
//! Binance's default limits (6,000 request weight a minute per IP, 61,000 raw requests per 5
//! minutes, 100 orders per 10 s and 200,000 a day per account), not raised.
//!
//! ```text
//! cargo run --release -p engine --example fleet_limits -- --bots 10000 --users 100 --minutes 3
//! cargo run --release -p engine --example fleet_limits -- --bots 10000 --mix quiet
//! cargo run --release -p engine --example fleet_limits -- --bots 2500 --rest
//! SPOTBOT_TEST_POSTGRES_URL=$(SPOTBOT_TEST_POSTGRES_DURABLE=1 scripts/postgres-for-tests | tail -n 1) \
//!     cargo run --release -p engine --example fleet_limits -- --database postgres
//! ```
//!
//! Method: the simulator runs on the real clock (speed 1), so every figure is real time. The
//! bots are created, their strategies built from 500 candles of history, and each decides once
//! (the warm-up); then the run measures `--minutes` candle closes. It reports:
//!
//! - the request weight the simulator counted for this IP per minute, and the requests it
//!   refused (429, 418, and orders refused with -1015): the exchange's own count;
//! - the decisions (holds and signals: trades and skips) per minute; `--mix quiet` (the default
//!   EMA 9/21 with RSI 14, which on 1-minute candles almost always holds) gives the cost of
//!   holding, `--mix active` (short EMAs, so that a few percent of the bots signal at every
//!   close) the cost of signals on top, `--mix mixed` one bot in ten active;
//! - how long after its candle's close each bot decided (held, or planned its order), and each
//!   trade was recorded (its order written ahead, sent, filled and recorded): p50, p99, max, in
//!   exchange time, which here is real time;
//! - the engine's resident memory per bot: growth from before the bots are loaded to after the
//!   warm-up, divided by their number (the simulator is another process).
//!
//! `--rest` turns the streams off ([`engine::EngineSettings::streams`]): every cycle asks REST for
//! its candles, and every signal for the price and the balances, the way the engine worked
//! before the market-data hub: the figure to compare with.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use accounts::{AccountClients, KeySubmission, MasterKey, Venue, Venues};
use binance::{Client, ClientConfig};
use engine::{Engine, EngineSettings, SchedulerSettings, SchedulerStats, run_scheduler};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sim::{
    Account, Exchange, ExchangeConfig, RateLimit, RateLimitInterval, RateLimitType, SystemClock,
};
use store::testing::TestDatabase;
use store::{Backend, Mode, NewBot, NewUser, Role, Store, UserId};

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "BNBUSDT"];
const MINUTE: Duration = Duration::from_secs(60);

/// The bots' strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mix {
    /// Short EMAs: some bots signal at every close.
    Active,
    /// The default strategy: nearly every decision holds.
    Quiet,
    /// One bot in ten active, the others quiet.
    Mixed,
}

/// The benchmark (see the module documentation).
#[derive(Debug, clap::Parser)]
struct Options {
    /// How many bots, each on 1-minute candles.
    #[arg(long, default_value_t = 10_000)]
    bots: usize,
    /// How many users (accounts) own them, evenly.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// How many candle closes are measured after the warm-up.
    #[arg(long, default_value_t = 3)]
    minutes: u32,
    /// How many cycles run at once.
    #[arg(long, default_value_t = 64)]
    parallelism: usize,
    /// The strategies' mix.
    #[arg(long, value_enum, default_value_t = Mix::Active)]
    mix: Mix,
    /// Poll REST every cycle instead of using streams (the engine before the hub).
    #[arg(long)]
    rest: bool,
    /// Where the trades go: `sqlite` or `postgres` (the server SPOTBOT_TEST_POSTGRES_URL names).
    #[arg(long, default_value_t = Backend::Sqlite)]
    database: Backend,
    /// Internal: run as the simulator process, with this many accounts.
    #[arg(long, hide = true)]
    serve_sim: bool,
}

/// Account `index`'s API key and secret on the simulator (64 characters each).
fn account_key(index: usize) -> (String, String) {
    (
        format!("fleetLimitsKey{index:050}"),
        format!("fleetLimitsSecret{index:047}"),
    )
}

fn main() -> Result<(), String> {
    let options = <Options as clap::Parser>::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    if options.serve_sim {
        // The simulator gets a runtime (and a core) of its own, as a separate exchange would.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        return runtime.block_on(serve_sim(options.users));
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?
        .block_on(run(options))
}

/// The simulator process: Binance's default limits, plus a day-long weight window so high it
/// only counts; prints its URL, then answers each `report` line on stdin with its counts.
async fn serve_sim(users: usize) -> Result<(), String> {
    let mut config = ExchangeConfig {
        history_ms: 12 * 3_600_000,
        ..ExchangeConfig::default()
    };
    config.rate_limits.push(RateLimit {
        limit_type: RateLimitType::RequestWeight,
        interval: RateLimitInterval::Day,
        interval_num: 1,
        limit: 1_000_000_000,
    });
    let mut exchange =
        Exchange::new(config, Arc::new(SystemClock::new())).map_err(|err| err.to_string())?;
    for index in 0..users {
        let (key, secret) = account_key(index);
        exchange.add_account(Account::with_key(
            key,
            sim::SignatureKey::Hmac(secret),
            [("USDT".to_owned(), Decimal::from(1_000_000))],
            sim::STANDARD_COMMISSION_RATE,
        ));
    }
    let server = sim::start(exchange, "127.0.0.1:0".parse().expect("an address"))
        .await
        .map_err(|err| err.to_string())?;
    println!("http://{}", server.local_addr());
    let (lines, mut requests) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(_report) = requests.recv().await {
        let mut exchange = server.exchange().lock();
        let loopback: IpAddr = "127.0.0.1".parse().expect("an address");
        let weight = exchange
            .usage_headers(loopback, None)
            .into_iter()
            .find(|(name, _)| name == "X-MBX-USED-WEIGHT-1D")
            .map_or(0, |(_, used)| used);
        let refusals = exchange.refusals();
        let report = json!({
            "weight": weight,
            "throttles": refusals.throttles,
            "bans": refusals.bans,
            "orders_refused": refusals.orders,
        });
        println!("{report}");
        let _ = std::io::stdout().flush();
    }
    server.stop().await.map_err(|err| err.to_string())
}

/// The simulator's process and the pipes to ask it for its counts.
struct SimProcess {
    child: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
    url: String,
}

impl SimProcess {
    fn start(users: usize) -> Result<SimProcess, String> {
        let exe = std::env::current_exe().map_err(|err| err.to_string())?;
        let mut child = Command::new(exe)
            .args(["--serve-sim", "--users", &users.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot start the simulator process: {err}"))?;
        let requests = child.stdin.take().ok_or("no stdin")?;
        let mut answers = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut url = String::new();
        answers.read_line(&mut url).map_err(|err| err.to_string())?;
        Ok(SimProcess {
            child,
            requests,
            answers,
            url: url.trim().to_owned(),
        })
    }

    /// The weight counted today and the refusals, as the simulator says.
    fn report(&mut self) -> Result<Value, String> {
        writeln!(self.requests, "report").map_err(|err| err.to_string())?;
        let mut line = String::new();
        self.answers
            .read_line(&mut line)
            .map_err(|err| err.to_string())?;
        serde_json::from_str(&line).map_err(|err| format!("{err}: {line:?}"))
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `count` users, each with the simulator's account of the same index as their paper account.
async fn create_users(
    store: &Store,
    accounts: &AccountClients,
    count: usize,
) -> Result<Vec<UserId>, String> {
    let mut users = Vec::with_capacity(count);
    for index in 0..count {
        let user = store
            .create_user(
                &NewUser {
                    email: format!("trader{index}@example.invalid"),
                    username: format!("trader{index}"),
                    password_hash: None,
                    role: Role::User,
                },
                engine::wall_now_ms(),
            )
            .await
            .map_err(|err| err.to_string())?;
        let (key, secret) = account_key(index);
        accounts
            .set_paper_account(user.id, &KeySubmission::hmac(key, secret.into()))
            .await
            .map_err(|err| err.to_string())?;
        users.push(user.id);
    }
    Ok(users)
}

/// `count` bots spread evenly over `users` and the three symbols.
async fn create_bots(
    store: &Store,
    users: &[UserId],
    count: usize,
    mix: Mix,
) -> Result<(), String> {
    let now_ms = engine::wall_now_ms();
    for index in 0..count {
        let active = match mix {
            Mix::Active => true,
            Mix::Quiet => false,
            Mix::Mixed => index % 10 == 0,
        };
        let params = support::strategy_params(index, active);
        store
            .create_bot(
                &NewBot {
                    user_id: users[index % users.len()],
                    name: format!("bot-{index}"),
                    symbol: SYMBOLS[index % SYMBOLS.len()].to_owned(),
                    interval: "1m".to_owned(),
                    strategy: strategy::spec::EMA_RSI_CROSS.to_owned(),
                    strategy_params: params,
                    quote_per_buy: Decimal::from(20),
                    mode: Mode::Paper,
                    is_active: true,
                },
                now_ms,
            )
            .await
            .map_err(|err| err.to_string())?;
    }
    Ok(())
}

/// The counters read at one moment.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at: Instant,
    weight: u64,
    decisions: u64,
    trades: u64,
    skips: u64,
    failures: u64,
}

fn snapshot(sim: &mut SimProcess, stats: &SchedulerStats) -> Result<(Snapshot, Value), String> {
    let report = sim.report()?;
    let snapshot = Snapshot {
        at: Instant::now(),
        weight: report["weight"].as_u64().unwrap_or(0),
        decisions: stats.decisions.load(Ordering::Relaxed),
        trades: stats.trades.load(Ordering::Relaxed),
        skips: stats.skips.load(Ordering::Relaxed),
        failures: stats.failures.load(Ordering::Relaxed),
    };
    Ok((snapshot, report))
}

async fn run(options: Options) -> Result<(), String> {
    let users_count = options.users.max(1);
    let mut sim = SimProcess::start(users_count)?;
    let client = Client::new(ClientConfig::new(sim.url.clone())).map_err(|err| err.to_string())?;
    let database = TestDatabase::on(options.database).await?;
    let store = database.store().clone();
    let accounts = Arc::new(AccountClients::new(
        store.clone(),
        MasterKey::generate().map_err(|err| err.to_string())?,
        Venues::new().with(Venue::new(Mode::Paper, client)),
    ));
    let users = create_users(&store, &accounts, users_count).await?;
    let resident_before = support::resident_bytes();
    create_bots(&store, &users, options.bots, options.mix).await?;
    let mut settings = EngineSettings::new("fleet-limits");
    settings.streams = !options.rest;
    let engine = Engine::new(store.clone(), accounts, settings);
    let scheduler_settings = SchedulerSettings {
        parallelism: options.parallelism,
        ..SchedulerSettings::default()
    };
    let stats = Arc::new(SchedulerStats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(run_scheduler(
        engine,
        scheduler_settings,
        stats.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    println!(
        "{} bots of {} users on 1m candles of {} ({:?} mix, {}, {}), parallelism {}, the simulator's default limits",
        options.bots,
        users_count,
        SYMBOLS.join(", "),
        options.mix,
        if options.rest {
            "REST polling"
        } else {
            "streams"
        },
        options.database,
        options.parallelism
    );

    // Warm-up: every bot built and decided once.
    let warmup_started = Instant::now();
    while stats.decisions.load(Ordering::Relaxed) < options.bots as u64 {
        if warmup_started.elapsed() > 5 * MINUTE {
            return Err(format!(
                "only {} of {} bots decided within 5 minutes of warm-up",
                stats.decisions.load(Ordering::Relaxed),
                options.bots
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resident_after = support::resident_bytes();
    println!(
        "warm-up: every bot built and decided once in {:.1} s; memory {:.1} KB per bot ({} MB resident before the bots, {} MB after)",
        warmup_started.elapsed().as_secs_f64(),
        resident_after.saturating_sub(resident_before) as f64 / 1024.0 / options.bots as f64,
        resident_before >> 20,
        resident_after >> 20
    );

    // Measured: from just after a close, whole minutes.
    let wall_ms = engine::wall_now_ms();
    let to_next_close = 60_000 - wall_ms.rem_euclid(60_000);
    tokio::time::sleep(Duration::from_millis(to_next_close as u64 + 30_000)).await;
    stats.decision_lag.reset();
    stats.trade_lag.reset();
    let (start, start_report) = snapshot(&mut sim, &stats)?;
    let mut previous = start;
    for minute in 1..=options.minutes {
        let next = start.at + MINUTE * minute;
        tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
        let (now, _) = snapshot(&mut sim, &stats)?;
        println!(
            "minute {minute}: weight {}, decisions {} (signals: {} trades, {} skips), failed cycles {}",
            now.weight - previous.weight,
            now.decisions - previous.decisions,
            now.trades - previous.trades,
            now.skips - previous.skips,
            now.failures - previous.failures
        );
        previous = now;
    }
    let (end, end_report) = snapshot(&mut sim, &stats)?;
    let minutes = end.at.duration_since(start.at).as_secs_f64() / 60.0;
    let lag = |histogram: &engine::TimeHistogram, quantile: f64| {
        histogram
            .quantile(quantile)
            .map_or("-".to_owned(), |lag| format!("{} ms", lag.as_millis()))
    };
    let refused = |name: &str| {
        end_report[name].as_u64().unwrap_or(0) - start_report[name].as_u64().unwrap_or(0)
    };
    println!(
        "per minute: weight {:.0} (limit 6000), decisions {:.0}, signals {:.1} (trades {:.1}, skips {:.1})",
        (end.weight - start.weight) as f64 / minutes,
        (end.decisions - start.decisions) as f64 / minutes,
        ((end.trades - start.trades) + (end.skips - start.skips)) as f64 / minutes,
        (end.trades - start.trades) as f64 / minutes,
        (end.skips - start.skips) as f64 / minutes,
    );
    println!(
        "decision after the close: p50 {}, p99 {}, max {} ({} decisions)",
        lag(&stats.decision_lag, 0.5),
        lag(&stats.decision_lag, 0.99),
        lag(&stats.decision_lag, 1.0),
        stats.decision_lag.count()
    );
    println!(
        "trade recorded after the close: p50 {}, p99 {}, max {} ({} trades)",
        lag(&stats.trade_lag, 0.5),
        lag(&stats.trade_lag, 0.99),
        lag(&stats.trade_lag, 1.0),
        stats.trade_lag.count()
    );
    println!(
        "refused by the exchange while measured: {} x 429, {} x 418, {} orders (-1015); since the start: {} x 429, {} x 418",
        refused("throttles"),
        refused("bans"),
        refused("orders_refused"),
        end_report["throttles"],
        end_report["bans"]
    );
    stop.send(())
        .map_err(|()| "the scheduler stopped early".to_owned())?;
    scheduler
        .await
        .map_err(|err| err.to_string())?
        .map_err(|err| err.to_string())?;
    database.cleanup().await;
    Ok(())
}
