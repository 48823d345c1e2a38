//! The engine's test world: the real simulator on loopback with a manual clock, a client reading
//! that clock, a real database (SQLite file or PostgreSQL, from `store::testing`), an engine and
//! one EMA/RSI bot with short periods so that it trades often. The simulator's order log is the
//! ground truth every test compares the trades table with.

#![allow(dead_code)] // Each test file uses its own part of the harness.

use std::sync::Arc;
use std::time::Duration;

use accounts::{AccountClients, KeySubmission, MasterKey, Venue, Venues};
use binance::{Client, ClientConfig, RetryPolicy, ServerClock};
use engine::{CycleOutcome, Engine, EngineSettings, RunnableBot};
use rust_decimal::Decimal;
use serde_json::Value;
use sim::{
    Account, Clock, Exchange, ExchangeConfig, FaultPlan, ManualClock, OrderRecord, RunningSim,
};
use store::{BotConfig, Mode, NewBot, NewUser, Role, Store, TradeFilter, TradeRow};
use strategy::EmaRsiCrossParams;
use strategy::spec as strategy_spec;

/// The simulator's start: 2025-06-15 12:00:00 UTC.
pub const START_MS: i64 = 1_749_988_800_000;
pub const MINUTE_MS: i64 = 60_000;
const API_KEY: &str = "engineTestKey0123456789engineTestKey0123456789engineTestKey01234";
const SECRET: &str = "engineTestSecret0123456789engineTestSecret0123456789engineTestSe";

/// The manual clock, as the client's server clock.
#[derive(Debug)]
pub struct SimClock(pub Arc<ManualClock>);

impl ServerClock for SimClock {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

/// Fast EMAs and a permissive RSI filter: a signal every few candles on the random walk.
pub fn busy_params() -> EmaRsiCrossParams {
    EmaRsiCrossParams {
        fast: 2,
        slow: 5,
        rsi_period: 14,
        overbought: 99.0,
    }
}

/// Retries of milliseconds and a short visibility window keep fault tests fast.
pub fn fast_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        backoff_base: Duration::from_millis(2),
        backoff_cap: Duration::from_millis(10),
        max_retry_after: Duration::from_millis(50),
        order_visibility_timeout: Duration::from_millis(200),
    }
}

pub struct World {
    pub server: RunningSim,
    pub clock: Arc<ManualClock>,
    /// The paper venue's shared client (market data; signs nothing).
    pub client: Client,
    pub store: Store,
    /// The trader's account on the paper venue, through the vault.
    pub accounts: Arc<AccountClients>,
    pub engine: Engine,
    pub bot_id: store::BotId,
}

impl World {
    /// A world on `store` with a bot spending `quote_per_buy` USDT per BUY.
    pub async fn start(store: Store, quote_per_buy: Decimal) -> World {
        World::start_with(store, quote_per_buy, |_| {}).await
    }

    /// Like [`World::start`], with the engine's settings changed by `adjust`.
    pub async fn start_with(
        store: Store,
        quote_per_buy: Decimal,
        adjust: impl FnOnce(&mut EngineSettings),
    ) -> World {
        let clock = Arc::new(ManualClock::new(START_MS));
        let config = ExchangeConfig {
            history_ms: 24 * 3_600_000,
            ..ExchangeConfig::default()
        };
        let mut exchange = Exchange::new(config, clock.clone()).expect("a valid exchange");
        exchange.add_account(Account::with_key(
            API_KEY.to_owned(),
            sim::SignatureKey::Hmac(SECRET.to_owned()),
            [("USDT".to_owned(), Decimal::from(10_000))],
            sim::STANDARD_COMMISSION_RATE,
        ));
        let server = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the simulator starts");
        let client = venue_client_for(&server, &clock);
        let user = store
            .create_user(
                &NewUser {
                    email: "trader@example.com".to_owned(),
                    username: "trader".to_owned(),
                    password_hash: None,
                    role: Role::User,
                },
                START_MS,
            )
            .await
            .unwrap();
        let bot = store
            .create_bot(
                &NewBot {
                    user_id: user.id,
                    name: "fast-cross".to_owned(),
                    symbol: "BTCUSDT".to_owned(),
                    interval: "1m".to_owned(),
                    strategy: strategy_spec::EMA_RSI_CROSS.to_owned(),
                    strategy_params: strategy_spec::ema_rsi_cross_json(&busy_params()),
                    quote_per_buy,
                    mode: Mode::Paper,
                    is_active: true,
                },
                START_MS,
            )
            .await
            .unwrap();
        let mut settings = EngineSettings::new("worker-a");
        settings.history_candles = 60;
        settings.order_absent_after = Duration::from_millis(300);
        adjust(&mut settings);
        let accounts = accounts_on(&store, &client);
        accounts
            .set_paper_account(
                user.id,
                &KeySubmission::hmac(
                    API_KEY.to_owned(),
                    zeroize::Zeroizing::new(SECRET.to_owned()),
                ),
            )
            .await
            .expect("the test account is stored");
        let engine = Engine::new(store.clone(), accounts.clone(), settings);
        World {
            server,
            clock,
            client,
            store,
            accounts,
            engine,
            bot_id: bot.id,
        }
    }

    /// A new engine on the same store and exchange, as after a restart of the process.
    pub fn restarted_engine(&self, worker_id: &str) -> Engine {
        let mut settings = self.engine.settings().clone();
        settings.worker_id = worker_id.to_owned();
        Engine::new(
            self.store.clone(),
            accounts_on(&self.store, &self.client),
            settings,
        )
    }

    /// The trader's client on the paper venue, signing with the test account's key.
    pub async fn trader_client(&self) -> Client {
        let bot = self.bot().await;
        self.accounts
            .client(bot.config.user_id, Mode::Paper)
            .await
            .expect("the trader's paper account")
    }

    pub async fn bot_config(&self) -> BotConfig {
        self.store
            .bot(self.bot_id)
            .await
            .unwrap()
            .expect("the bot exists")
    }

    pub async fn bot(&self) -> RunnableBot {
        RunnableBot::parse(&self.bot_config().await).expect("the test bot parses")
    }

    /// Moves the exchange one minute on and runs one cycle of the bot with `engine`.
    pub async fn next_minute(&self, engine: &Engine) -> CycleOutcome {
        self.clock.advance_ms(MINUTE_MS);
        engine.run_cycle(&self.bot().await).await
    }

    /// Runs `minutes` cycles a minute apart and returns their outcomes.
    pub async fn run_minutes(&self, minutes: usize) -> Vec<CycleOutcome> {
        let mut outcomes = Vec::with_capacity(minutes);
        for _ in 0..minutes {
            outcomes.push(self.next_minute(&self.engine).await);
        }
        outcomes
    }

    /// Revokes the trader's key on the exchange (its admin's doing): -2015 from now on.
    pub fn revoke_trader_key(&self) {
        self.server
            .exchange()
            .lock()
            .set_key_enabled(API_KEY, false)
            .expect("the trader's account exists");
    }

    pub fn set_faults(&self, plan: Value) {
        let plan: FaultPlan = serde_json::from_value(plan).expect("a valid fault plan");
        self.server
            .exchange()
            .lock()
            .set_faults(plan)
            .expect("faults accepted");
    }

    pub fn clear_faults(&self) {
        self.set_faults(serde_json::json!({"rules": []}));
    }

    pub fn order_log(&self) -> Vec<OrderRecord> {
        self.server.exchange().lock().order_log().to_vec()
    }

    pub async fn trades(&self) -> Vec<TradeRow> {
        self.store.trades(&TradeFilter::default()).await.unwrap()
    }

    /// Every execution on the exchange has exactly one trade row, equal field by field; no
    /// client order id executed twice.
    pub async fn assert_trades_equal_exchange_fills(&self) {
        let log = self.order_log();
        let executed: Vec<&OrderRecord> = log
            .iter()
            .filter(|order| !order.executed_qty().is_zero())
            .collect();
        let trades = self.trades().await;
        assert_eq!(
            trades.len(),
            executed.len(),
            "one trade row per execution\ntrades: {trades:#?}\nexchange: {executed:#?}"
        );
        for (index, order) in executed.iter().enumerate() {
            assert!(
                log[..index]
                    .iter()
                    .all(|earlier| earlier.client_order_id != order.client_order_id),
                "order {} executed twice",
                order.client_order_id
            );
            let trade = trades
                .iter()
                .find(|trade| trade.binance_order_id == order.order_id as i64)
                .unwrap_or_else(|| panic!("no trade row for exchange order {}", order.order_id));
            assert_trade_matches(trade, order);
        }
    }
}

/// The users' accounts on the paper venue of `client`, their keys under a test master key.
pub fn accounts_on(store: &Store, client: &Client) -> Arc<AccountClients> {
    Arc::new(AccountClients::new(
        store.clone(),
        MasterKey::from_bytes([7; 32]),
        Venues::new().with(Venue::new(Mode::Paper, client.clone())),
    ))
}

/// The paper venue's client of `server` (no credentials: accounts are derived from it), reading
/// `clock`.
pub fn venue_client_for(server: &RunningSim, clock: &Arc<ManualClock>) -> Client {
    let mut config = ClientConfig::new(format!("http://{}", server.local_addr()))
        .with_server_clock(Arc::new(SimClock(clock.clone())));
    config.retry = fast_retry_policy();
    config.read_timeout = Duration::from_secs(2);
    Client::new(config).expect("a valid client configuration")
}

/// `trade` is the row of `order`, field by field.
pub fn assert_trade_matches(trade: &TradeRow, order: &OrderRecord) {
    assert_eq!(trade.binance_order_id, order.order_id as i64);
    assert_eq!(trade.client_order_id, order.client_order_id);
    assert_eq!(trade.symbol, order.symbol);
    assert_eq!(trade.side, order.side);
    assert_eq!(trade.order_type, "MARKET");
    assert_eq!(trade.quantity_filled, order.executed_qty());
    assert_eq!(trade.quote_quantity_filled, order.cumulative_quote_qty());
    assert_eq!(
        trade.price,
        order.cumulative_quote_qty() / order.executed_qty(),
        "price is the average fill price"
    );
    assert_eq!(trade.commission, order.total_commission());
    let assets: Vec<&str> = order
        .fills
        .iter()
        .map(|fill| fill.commission_asset.as_str())
        .collect();
    assert!(
        assets.iter().all(|asset| *asset == trade.commission_asset),
        "{assets:?}"
    );
    assert_eq!(trade.executed_at_ms, order.transact_time_ms);
}

/// The number of trades per side.
pub fn count_sides(trades: &[TradeRow]) -> (usize, usize) {
    let buys = trades
        .iter()
        .filter(|t| t.side == market::Side::Buy)
        .count();
    (buys, trades.len() - buys)
}
