//! A client reading the exchange's clock directly ([`ServerClock`]) against the simulator over
//! loopback with market time running 600 times faster than real time (ten market minutes per
//! real second), and the same client estimating that clock from samples instead.
//!
//! The simulator, like any exchange at speed, counts a request's `recvWindow` in real time: a
//! 1 s window is ten market minutes here. Without the server clock the client does not end up
//! failing: its estimate falls a market minute behind every 100 ms of real time, so every signed
//! request after a pause longer than the window is refused with -1021, and the client's one
//! resync (three fresh samples) and retry then go through. What stays wrong is everything
//! between those resyncs: `server_now_ms` and therefore `closed_klines` lag the market by as long
//! as the pause, and each order costs a refused attempt and three time samples. The last test
//! shows all three.

use std::sync::Arc;
use std::time::Duration;

use binance::{
    Client, ClientConfig, Credentials, OrderSize, PlaceOrderError, RetryPolicy, ServerClock,
};
use market::{Interval, Quantity, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::json;
use sim::{Account, Clock, Exchange, ExchangeConfig, FaultPlan, RunningSim, SystemClock};

/// Market time runs this many times faster than real time.
const SPEED: u32 = 600;
/// A day of price history keeps the simulator's start fast in debug builds.
const HISTORY_MS: i64 = 24 * 3_600_000;
const MINUTE_MS: i64 = 60_000;
const API_KEY: &str = "serverClockTestKey0123456789serverClockTestKey0123456789abcdefgh";
const SECRET: &str = "serverClockTestSecret0123456789serverClockTestSecret0123456789ab";

/// The simulator's clock, shared with the client as its [`ServerClock`], read `lag_ms` behind
/// (0 except in the test of a wrong clock).
#[derive(Debug)]
struct SimClock {
    clock: Arc<SystemClock>,
    lag_ms: i64,
}

impl ServerClock for SimClock {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms() - self.lag_ms
    }
}

/// `config` reading the simulator's `clock`, `lag_ms` behind.
fn with_sim_clock(config: ClientConfig, clock: &Arc<SystemClock>, lag_ms: i64) -> ClientConfig {
    config.with_server_clock(Arc::new(SimClock {
        clock: clock.clone(),
        lag_ms,
    }))
}

/// Makes every `GET /api/v3/time` fail: a client that samples the server time would fail too.
fn break_server_time(server: &RunningSim) {
    let plan: FaultPlan = serde_json::from_value(json!({"rules": [
        {"fault": {"server_error": {"status": 500, "timing": "before_executing"}},
         "endpoints": ["GET /api/v3/time"]}
    ]}))
    .unwrap();
    server.exchange().lock().set_faults(plan).unwrap();
}

/// A simulator on a clock running [`SPEED`] times faster than ours, with a funded account.
async fn start_fast_sim() -> (RunningSim, Arc<SystemClock>) {
    let clock = Arc::new(SystemClock::with_speed(SPEED));
    let config = ExchangeConfig {
        history_ms: HISTORY_MS,
        ..ExchangeConfig::default()
    };
    let mut exchange = Exchange::new(config, clock.clone()).expect("a valid exchange");
    exchange.add_account(Account::with_key(
        API_KEY.to_owned(),
        sim::SignatureKey::Hmac(SECRET.to_owned()),
        [
            ("USDT".to_owned(), Decimal::from(100_000)),
            ("BTC".to_owned(), Decimal::from(1)),
        ],
        sim::STANDARD_COMMISSION_RATE,
    ));
    let server = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts");
    (server, clock)
}

/// The configuration both clients share: a 1 s `recvWindow` (of real time, ten market minutes
/// at 600×), so that a clock a few market minutes off still signs valid requests and one twenty
/// minutes off does not. Millisecond backoffs keep the test fast.
fn config_for(server: &RunningSim) -> ClientConfig {
    let mut config = ClientConfig::new(format!("http://{}", server.local_addr()))
        .with_credentials(Credentials::hmac(API_KEY, SECRET));
    config.recv_window = Duration::from_secs(1);
    config.retry = RetryPolicy {
        max_attempts: 5,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        order_visibility_timeout: Duration::from_millis(300),
    };
    config
}

fn btcusdt() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn small_buy() -> OrderSize {
    OrderSize::Base("0.001".parse::<Quantity>().unwrap())
}

/// The open time of the last one-minute candle closed at `now_ms`.
fn last_closed_open_ms(now_ms: i64) -> i64 {
    now_ms.div_euclid(MINUTE_MS) * MINUTE_MS - MINUTE_MS
}

#[tokio::test]
async fn orders_and_closed_candles_follow_a_sped_up_exchange_clock() {
    let (server, clock) = start_fast_sim().await;
    break_server_time(&server);
    let client = Client::new(with_sim_clock(config_for(&server), &clock, 0)).unwrap();
    assert!(client.server_time_ms().await.is_err(), "the fault is on");

    let started_ms = clock.now_ms();
    let mut orders = 0;
    // About two real seconds: twenty market minutes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        let side = if orders % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let fill = client
            .place_market_order(&btcusdt(), side, small_buy(), &format!("fast-{orders}"))
            .await
            .unwrap_or_else(|err| panic!("order {orders}: {err}"));
        assert!(!fill.resolved_by_query, "order {orders} answered directly");
        orders += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed_ms = clock.now_ms() - started_ms;
    assert!(
        elapsed_ms >= 20 * MINUTE_MS,
        "{elapsed_ms} ms of market time"
    );
    assert!(orders >= 5, "{orders} orders");
    assert_eq!(server.exchange().lock().order_log().len(), orders);
    assert!(client.balances().await.is_ok());
    assert_eq!(client.clock_offset_ms(), None, "never sampled");

    // The candles of the last hour of market time, up to the last one closed.
    let before_ms = clock.now_ms();
    let candles = client
        .closed_klines(
            &btcusdt(),
            Interval::M1,
            before_ms - 60 * MINUTE_MS,
            before_ms + 60 * MINUTE_MS,
        )
        .await
        .unwrap();
    let after_ms = clock.now_ms();
    let last = candles.last().expect("an hour of candles");
    assert!(last.open_time_ms + MINUTE_MS <= after_ms, "closed only");
    assert!(
        last.open_time_ms >= last_closed_open_ms(before_ms),
        "the last closed candle {} is there (sim now {before_ms})",
        last.open_time_ms
    );
    assert!(candles.len() >= 59, "{}", candles.len());
    let now_ms = client.server_now_ms().await.unwrap();
    assert!((after_ms..=clock.now_ms()).contains(&now_ms));
}

#[tokio::test]
async fn a_1021_with_the_server_clock_is_returned_without_a_resync() {
    let (server, clock) = start_fast_sim().await;
    // With `GET /api/v3/time` broken, a resync would end in its 500, not in the -1021.
    break_server_time(&server);
    // A clock half a market hour behind the exchange's (three real seconds at 600×): every
    // timestamp is out of the 1 s window.
    let client = Client::new(with_sim_clock(config_for(&server), &clock, 30 * MINUTE_MS)).unwrap();
    let error = client
        .place_market_order(&btcusdt(), Side::Buy, small_buy(), "late-1")
        .await
        .unwrap_err();
    let PlaceOrderError::NotExecuted { cause, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(cause.code(), Some(-1021), "{error}");
    assert!(server.exchange().lock().order_log().is_empty());
    assert_eq!(client.clock_offset_ms(), None, "never sampled");
    let error = client.balances().await.unwrap_err();
    assert_eq!(error.code(), Some(-1021), "{error}");
}

#[tokio::test]
async fn without_the_server_clock_the_estimate_lags_until_a_1021_forces_a_resync() {
    let (server, clock) = start_fast_sim().await;
    let mut config = config_for(&server);
    // No sample on age during the test: only a -1021 makes the client resync.
    config.time_refresh = Duration::from_secs(3_600);
    let client = Client::new(config).unwrap();
    client
        .place_market_order(&btcusdt(), Side::Buy, small_buy(), "slow-0")
        .await
        .unwrap();
    let offset_before = client.clock_offset_ms().expect("sampled");

    tokio::time::sleep(Duration::from_secs(2)).await;
    // Two real seconds are twenty market minutes; the estimate has moved two seconds.
    let lag_ms = clock.now_ms() - client.server_now_ms().await.unwrap();
    assert!(lag_ms >= 19 * MINUTE_MS, "lag {lag_ms} ms");
    assert_eq!(client.clock_offset_ms(), Some(offset_before), "no resample");
    // So the candles of those twenty minutes look like they have not closed yet.
    let now_ms = clock.now_ms();
    let candles = client
        .closed_klines(&btcusdt(), Interval::M1, now_ms - 60 * MINUTE_MS, now_ms)
        .await
        .unwrap();
    let last = candles.last().expect("candles before the pause");
    assert!(
        last.open_time_ms < last_closed_open_ms(now_ms) - 15 * MINUTE_MS,
        "last {} of {now_ms}",
        last.open_time_ms
    );

    // A signed request is refused with -1021, the client resyncs and retries: it goes through,
    // and the offset has jumped by the lag.
    client
        .place_market_order(&btcusdt(), Side::Buy, small_buy(), "slow-1")
        .await
        .unwrap();
    let jump_ms = client.clock_offset_ms().expect("resampled") - offset_before;
    assert!(jump_ms >= 19 * MINUTE_MS, "offset moved {jump_ms} ms");
    assert_eq!(server.exchange().lock().order_log().len(), 2);
}
