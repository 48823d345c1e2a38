//! The chaos test: a fleet trading while its processes are killed, stopped and cut off, then the
//! exchange's order log compared with the database. Real processes throughout: a `spotbot sim
//! --state` as the shared paper exchange (its market at 60x, its request limits out of reach: the
//! whole fleet reaches it from one address), `spotbot worker`s, a real PostgreSQL (or SQLite for
//! the single-worker run), 50 bots of 5 users trading often.
//!
//! Faults, from a fixed seed (printed): order answers the exchange loses after executing and
//! orders it shows late, all along; SIGKILL of a random worker every few seconds and its
//! restart; SIGKILL of the exchange and its restart from its journal; SIGSTOP of a worker for
//! longer than the lease, then SIGCONT; one worker stalled on the database (the proxy between
//! them frozen: its statements hang, then complete late) for longer than the lease; one worker
//! cut off from the database (the proxy cut) for longer than the lease, then reconnected. Then every fault stops, the orders in
//! doubt are reconciled, the bots are paused, and these must hold:
//! - every execution on the exchange has exactly one trade row (by symbol and exchange order id);
//! - no trade row exists without an execution;
//! - no signal produced two executions (a client order id, which names the bot, the candle and
//!   the side, executed at most once);
//! - every bot's position equals the sum of its trades;
//! - each user's exchange balances equal what the user's trades imply.
//!
//! The counts are printed (`cargo test -p cli --test chaos -- --nocapture`).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Running;
use common::proxy::CuttableProxy;
use rust_decimal::Decimal;
use serde_json::Value;
use store::testing::TestDatabase;
use store::{BotId, Mode, NewBot, NewUser, Role, Store, UserId};

/// Users, and bots per user.
const USERS: usize = 5;
const BOTS_PER_USER: usize = 10;
/// What each user's paper account starts with.
const STARTING_USDT: u32 = 10_000;
/// The fleet's configuration: leases of 2 s (a dead worker's bots move quickly), orders unseen
/// for 10 s counted as never executed, cycles 0.3 s of market time after each close.
const FLEET_CONFIG: &str = "[engine]\nlease_ttl_secs = 2\norder_absent_after_secs = 10\ncycle_delay_ms = 300\n[venues.testnet]\nenabled = false\n";

/// What the exchange does wrong all along, on top of the processes' faults: order answers lost
/// after the order executed (a dropped connection, Binance's -1007 timeout), and orders that
/// show late. Each leaves an order in doubt that the engine must resolve without sending it
/// again.
const EXCHANGE_FAULTS: &str = r#"{"seed": 11, "rules": [
  {"fault": {"drop_connection": "after_executing"}, "endpoints": ["POST /api/v3/order"], "trigger": {"probability": 0.05}},
  {"fault": {"backend_timeout": "after_executing"}, "endpoints": ["POST /api/v3/order"], "trigger": {"probability": 0.03}},
  {"fault": {"not_queryable_ms": 1500}, "endpoints": ["GET /api/v3/order"], "trigger": {"probability": 0.2}}
]}"#;

/// A deterministic pseudo-random sequence (xorshift), so that a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What the faults did, for the report.
#[derive(Debug, Default)]
struct FaultCounts {
    worker_kills: usize,
    exchange_kills: usize,
    stops: usize,
    partitions: usize,
    stalls: usize,
}

/// The shared paper exchange, restartable on the same port from the same state.
struct Exchange {
    dir: PathBuf,
    port: u16,
    process: Option<Running>,
}

impl Exchange {
    fn start(dir: &Path) -> Exchange {
        // A port known before the first start, so that a restart keeps the workers' URL.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut exchange = Exchange {
            dir: dir.to_owned(),
            port,
            process: None,
        };
        exchange.restart();
        exchange
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut process = Running::spawn(common::spotbot(&self.dir).args([
            "sim",
            "--listen",
            &listen,
            "--speed",
            "60",
            "--no-rate-limits",
            // The test reads the order log (the ground truth) from this machine.
            "--open-admin",
            "--faults",
            "exchange-faults.json",
            "--state",
            "data/exchange.json",
        ]));
        process.exchange_address();
        self.process = Some(process);
    }

    fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop("-KILL");
        }
    }
}

/// One worker: its process (restartable) and the proxy between it and the database.
struct Worker {
    process: Option<Running>,
    proxy: Option<CuttableProxy>,
    database_url: String,
}

/// The fleet under test.
struct Fleet {
    dir: PathBuf,
    exchange: Exchange,
    workers: Vec<Worker>,
}

impl Fleet {
    fn worker_command(&self, worker: &Worker) -> Command {
        let mut command = common::spotbot(&self.dir);
        command
            .env("SPOTBOT_DATABASE_URL", &worker.database_url)
            .env("SPOTBOT_MASTER_KEY", "cd".repeat(32))
            .env("SPOTBOT_PAPER_URL", self.exchange.url())
            .env("RUST_LOG", "warn")
            .args(["worker", "--config", "fleet.toml"]);
        command
    }

    fn start_worker(&mut self, index: usize) {
        let mut command = self.worker_command(&self.workers[index]);
        let mut process = Running::spawn(&mut command);
        process.wait_for("running; press Ctrl-C to stop", Duration::from_secs(60));
        self.workers[index].process = Some(process);
    }

    fn kill_worker(&mut self, index: usize) {
        if let Some(process) = self.workers[index].process.take() {
            process.stop("-KILL");
        }
    }

    fn signal_worker(&self, index: usize, signal: &str) {
        let pid = self.workers[index].process.as_ref().expect("running").id();
        let sent = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

/// The database's address as a socket address, for a proxy in front of it.
fn database_address(url: &str) -> Option<SocketAddr> {
    let authority = url.split("://").nth(1)?.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    host_port.replace("localhost", "127.0.0.1").parse().ok()
}

/// `url` going through `proxy` instead of straight to the server.
fn through(url: &str, proxy: SocketAddr) -> String {
    let target = database_address(url).unwrap();
    url.replacen(&target.to_string(), &proxy.to_string(), 1)
}

/// Creates the users and their fast-trading paper bots.
async fn create_bots(store: &Store) -> Vec<(UserId, Vec<BotId>)> {
    let params = strategy::spec::ema_rsi_cross_json(&strategy::EmaRsiCrossParams {
        fast: 2,
        slow: 5,
        rsi_period: 14,
        overbought: 99.0,
    });
    let now_ms = accounts::wall_now_ms();
    let mut users = Vec::new();
    for user in 0..USERS {
        let created = store
            .create_user(
                &NewUser {
                    email: format!("chaos{user}@example.com"),
                    username: format!("chaos{user}"),
                    password_hash: None,
                    role: Role::User,
                },
                now_ms,
            )
            .await
            .unwrap();
        let mut bots = Vec::new();
        for bot in 0..BOTS_PER_USER {
            let symbol = ["BTCUSDT", "ETHUSDT", "BNBUSDT"][bot % 3];
            let new = NewBot {
                user_id: created.id,
                name: format!("bot{bot}"),
                symbol: symbol.to_owned(),
                interval: "1m".to_owned(),
                strategy: strategy::spec::EMA_RSI_CROSS.to_owned(),
                strategy_params: params.clone(),
                quote_per_buy: Decimal::from(20),
                mode: Mode::Paper,
                is_active: true,
            };
            bots.push(store.create_bot(&new, now_ms).await.unwrap().id);
        }
        users.push((created.id, bots));
    }
    users
}

/// How many cycles decided and how many trades were made so far (every decided cycle records
/// one event: hold, skip, trade, error, ...).
async fn progress(store: &Store) -> (i64, i64) {
    let pool = store.raw_pool();
    let cycles: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    let trades: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trades")
        .fetch_one(pool)
        .await
        .unwrap();
    (cycles, trades)
}

async fn orders_in_doubt(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status IN ('pending', 'unknown')")
        .fetch_one(store.raw_pool())
        .await
        .unwrap()
}

async fn get(url: &str) -> Value {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{url}: {text}"))
}

/// The chaos itself, until `duration` is over and the fleet has made `min_cycles` cycles and
/// `min_trades` trades (or `limit` passed): with `partitions`, the faults that need several
/// workers too.
async fn run_chaos(
    fleet: &mut Fleet,
    store: &Store,
    seed: u64,
    duration: Duration,
    limit: Duration,
    several: bool,
) -> FaultCounts {
    let mut dice = Dice(seed);
    let mut counts = FaultCounts::default();
    let started = Instant::now();
    let mut next_kill = Duration::from_secs(4);
    let (mut exchange_killed, mut stopped, mut partitioned, mut stalled) =
        (false, !several, !several, !several);
    loop {
        let elapsed = started.elapsed();
        let (cycles, trades) = progress(store).await;
        let faults_done = exchange_killed && stopped && partitioned && stalled;
        if (elapsed >= duration && faults_done && cycles >= 500 && trades >= 150)
            || elapsed >= limit
        {
            break;
        }
        if elapsed >= next_kill {
            let victim = dice.below(fleet.workers.len());
            fleet.kill_worker(victim);
            tokio::time::sleep(Duration::from_millis(500)).await;
            fleet.start_worker(victim);
            counts.worker_kills += 1;
            // A lone worker's kill stops all trading until its leases expire: fewer of them.
            let pause = if several { 3 } else { 7 };
            next_kill = elapsed + Duration::from_secs(pause + dice.below(4) as u64);
        } else if !exchange_killed && elapsed >= duration / 4 {
            fleet.exchange.kill();
            tokio::time::sleep(Duration::from_millis(700)).await;
            fleet.exchange.restart();
            counts.exchange_kills += 1;
            exchange_killed = true;
        } else if !stopped && elapsed >= duration / 2 {
            let victim = dice.below(fleet.workers.len());
            fleet.signal_worker(victim, "-STOP");
            tokio::time::sleep(Duration::from_secs(5)).await;
            fleet.signal_worker(victim, "-CONT");
            counts.stops += 1;
            stopped = true;
        } else if !stalled && elapsed >= duration * 5 / 8 {
            // The worker waits on the database for longer than its lease, then carries on.
            let victim = dice.below(fleet.workers.len());
            let proxy = fleet.workers[victim]
                .proxy
                .as_ref()
                .expect("a proxy per worker");
            proxy.freeze();
            tokio::time::sleep(Duration::from_secs(5)).await;
            proxy.thaw();
            counts.stalls += 1;
            stalled = true;
        } else if !partitioned && elapsed >= duration * 3 / 4 {
            let victim = dice.below(fleet.workers.len());
            let proxy = fleet.workers[victim]
                .proxy
                .as_ref()
                .expect("a proxy per worker");
            proxy.cut();
            tokio::time::sleep(Duration::from_secs(5)).await;
            proxy.restore();
            counts.partitions += 1;
            partitioned = true;
        } else {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    counts
}

/// The balances `trades` imply for an account that started with `start` USDT.
fn implied_balances(trades: &[&store::TradeRow]) -> BTreeMap<String, Decimal> {
    let mut balances = BTreeMap::from([("USDT".to_owned(), Decimal::from(STARTING_USDT))]);
    for trade in trades {
        let base = trade.symbol.trim_end_matches("USDT").to_owned();
        let sign = if trade.side == market::Side::Buy {
            Decimal::ONE
        } else {
            -Decimal::ONE
        };
        *balances.entry(base).or_default() += sign * trade.quantity_filled;
        *balances.entry("USDT".to_owned()).or_default() -= sign * trade.quote_quantity_filled;
        *balances.entry(trade.commission_asset.clone()).or_default() -= trade.commission;
    }
    balances.retain(|_, amount| !amount.is_zero());
    balances
}

/// Checks every invariant of the module's documentation; returns the number of executions.
async fn assert_nothing_lost_or_doubled(
    store: &Store,
    exchange_url: &str,
    users: &[(UserId, Vec<BotId>)],
) -> usize {
    let log = get(&format!("{exchange_url}/_sim/orders")).await;
    let executions: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|order| {
            order["fills"]
                .as_array()
                .is_some_and(|fills| !fills.is_empty())
        })
        .collect();
    let trades = store.trades(&store::TradeFilter::default()).await.unwrap();
    let mut by_order: HashMap<(String, i64), &store::TradeRow> = HashMap::new();
    for trade in &trades {
        let doubled = by_order.insert((trade.symbol.clone(), trade.binance_order_id), trade);
        assert!(
            doubled.is_none(),
            "two trade rows for one execution: {trade:?}"
        );
    }
    let mut signals = HashMap::new();
    for execution in &executions {
        let client_order_id = execution["client_order_id"].as_str().unwrap();
        let before = signals.insert(client_order_id.to_owned(), execution);
        assert!(
            before.is_none(),
            "one signal, two executions: {client_order_id}"
        );
        let key = (
            execution["symbol"].as_str().unwrap().to_owned(),
            execution["order_id"].as_i64().unwrap(),
        );
        let trade = by_order
            .remove(&key)
            .unwrap_or_else(|| panic!("an execution without its trade row: {execution}"));
        assert_eq!(trade.client_order_id, client_order_id);
    }
    assert!(
        by_order.is_empty(),
        "trade rows without an execution: {:?}",
        by_order.values().collect::<Vec<_>>()
    );

    for (user, bots) in users {
        for bot in bots {
            let own: Vec<&store::TradeRow> =
                trades.iter().filter(|trade| trade.bot_id == *bot).collect();
            let held: Decimal = own
                .iter()
                .map(|trade| {
                    let base_fee = if trade.symbol.starts_with(&trade.commission_asset) {
                        trade.commission
                    } else {
                        Decimal::ZERO
                    };
                    match trade.side {
                        market::Side::Buy => trade.quantity_filled - base_fee,
                        market::Side::Sell => -trade.quantity_filled,
                    }
                })
                .sum();
            assert_eq!(
                store.position(*bot).await.unwrap().quantity,
                held,
                "bot {bot}'s position is the sum of its trades"
            );
        }
        let key = store
            .credentials(*user, Mode::Paper)
            .await
            .unwrap()
            .expect("a paper account")
            .api_key;
        let account = get(&format!("{exchange_url}/_sim/accounts/{key}")).await;
        let reported: BTreeMap<String, Decimal> = account["balances"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(asset, amount)| {
                (
                    asset.clone(),
                    amount.as_str().unwrap().parse::<Decimal>().unwrap(),
                )
            })
            .filter(|(_, amount)| !amount.is_zero())
            .collect();
        let own: Vec<&store::TradeRow> = trades
            .iter()
            .filter(|trade| trade.user_id == *user)
            .collect();
        assert_eq!(
            reported,
            implied_balances(&own),
            "user {user}'s balances are what their trades imply"
        );
    }
    executions.len()
}

/// Stops the faults' effects, lets the orders in doubt be reconciled, pauses every bot and lets
/// the cycles in flight end.
async fn quiesce(store: &Store, users: &[(UserId, Vec<BotId>)]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while orders_in_doubt(store).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let left = store.unresolved_orders(None).await.unwrap();
    if !left.is_empty() {
        let mut report = Vec::new();
        for order in &left {
            let bot = store.bot(order.bot_id).await.unwrap();
            let events = store.events(order.bot_id, 5).await.unwrap();
            report.push(format!("{order:?}\n  bot: {bot:?}\n  events: {events:?}"));
        }
        panic!("orders still in doubt:\n{}", report.join("\n"));
    }
    for (user, bots) in users {
        for bot in bots {
            store
                .control_bot(
                    *user,
                    *bot,
                    store::BotControl::Pause,
                    accounts::wall_now_ms(),
                )
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// Runs the whole test on `database`, with `worker_count` workers (behind proxies when several).
async fn chaos_on(database: &TestDatabase, worker_count: usize, seed: u64, duration: Duration) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("fleet.toml"), FLEET_CONFIG).unwrap();
    std::fs::write(dir.path().join("exchange-faults.json"), EXCHANGE_FAULTS).unwrap();
    let store = database.store();
    let users = create_bots(store).await;
    let exchange = Exchange::start(dir.path());
    let mut workers = Vec::new();
    for _ in 0..worker_count {
        let (proxy, database_url) =
            match database_address(database.url()).filter(|_| worker_count > 1) {
                Some(target) => {
                    let proxy = CuttableProxy::start(target).await;
                    let url = through(database.url(), proxy.address());
                    (Some(proxy), url)
                }
                None => (None, database.url().to_owned()),
            };
        workers.push(Worker {
            process: None,
            proxy,
            database_url,
        });
    }
    let mut fleet = Fleet {
        dir: dir.path().to_owned(),
        exchange,
        workers,
    };
    for index in 0..worker_count {
        fleet.start_worker(index);
    }
    println!(
        "chaos: seed {seed}, {worker_count} workers, {} bots of {USERS} users",
        USERS * BOTS_PER_USER
    );
    let counts = run_chaos(
        &mut fleet,
        store,
        seed,
        duration,
        duration + Duration::from_secs(60),
        worker_count > 1,
    )
    .await;
    quiesce(store, &users).await;
    let (cycles, trades) = progress(store).await;
    let executions = assert_nothing_lost_or_doubled(store, &fleet.exchange.url(), &users).await;
    let reconciled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'reconciled'")
            .fetch_one(store.raw_pool())
            .await
            .unwrap();
    let not_executed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = 'not_executed'")
            .fetch_one(store.raw_pool())
            .await
            .unwrap();
    println!(
        "chaos: {cycles} cycles, {trades} trades, {executions} executions on the exchange, {reconciled} orders reconciled ({not_executed} never executed); faults: {} worker kills, {} exchange kills, {} stops, {} stalls, {} partitions",
        counts.worker_kills, counts.exchange_kills, counts.stops, counts.stalls, counts.partitions
    );
    let reasons: Vec<Option<String>> =
        sqlx::query_scalar("SELECT error FROM orders WHERE status = 'not_executed'")
            .fetch_all(store.raw_pool())
            .await
            .unwrap();
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for reason in reasons {
        // The reason's first clause: the rest names times and ids, different for every order.
        let reason = reason.unwrap_or_default();
        let clause = reason.split(" (").next().unwrap_or_default().to_owned();
        *why.entry(clause).or_default() += 1;
    }
    for (reason, count) in &why {
        println!("chaos: {count} orders not executed: {reason}");
    }
    assert!(cycles >= 500, "at least 500 cycles: {cycles}");
    assert!(trades >= 150, "at least 150 trades: {trades}");
    for index in 0..worker_count {
        if let Some(process) = fleet.workers[index].process.take() {
            let (stopped, lines) = process.stop("-TERM");
            assert!(stopped, "{}", lines.join("\n"));
        }
    }
    if let Some(process) = fleet.exchange.process.take() {
        process.stop("-INT");
    }
}

/// The two runs share the machine's two cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_test_a_fleet_on_postgresql_loses_and_doubles_nothing_under_kills_stops_and_partitions()
 {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: {} not set", store::testing::POSTGRES_URL_ENV);
        return;
    };
    chaos_on(&database, 3, 0x5eed_cafe, Duration::from_secs(60)).await;
    database.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_test_one_worker_on_sqlite_killed_again_and_again_loses_and_doubles_nothing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = TestDatabase::sqlite().await;
    chaos_on(&database, 1, 0xfeed_beef, Duration::from_secs(45)).await;
    database.cleanup().await;
}
