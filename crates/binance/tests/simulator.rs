//! The client against the simulator over loopback, no mocks: market data, signed calls (HMAC and
//! Ed25519), and every fault the simulator injects around a MARKET order. For each fault the
//! simulator's order log, the ground truth, must show that no order executed twice and that the
//! client returned what really happened. Also: -1015 from an exhausted order count, an unknown
//! symbol, and the background refresh of the server-time offset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use binance::{
    BinanceError, Client, ClientConfig, Credentials, ErrorClass, MarketOrderFill, NormalizeError,
    OrderRef, OrderSize, OrderStatus, PlaceOrderError, RateLimitSettings, RetryPolicy,
};
use market::{Interval, Quantity, Rejection, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sim::{
    Account, Exchange, ExchangeConfig, FaultPlan, ManualClock, OrderRecord, RateLimit,
    RateLimitInterval, RateLimitType, RunningSim,
};

/// Where the simulator's clock starts: 2025-06-15 12:00:30 UTC.
const START_MS: i64 = 1_749_988_830_000;
/// A day of price history keeps the simulator's start fast in debug builds.
const HISTORY_MS: i64 = 24 * 3_600_000;
const API_KEY: &str = "binanceClientTestKey0123456789binanceClientTestKey0123456789abcd";
const SECRET: &str = "binanceClientTestSecret0123456789binanceClientTestSecret012345678";

/// A simulator whose manual clock follows real time, with a funded account, and a client for it.
struct Harness {
    server: RunningSim,
    client: Client,
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    /// Starts with the test retry policy changed by `adjust`.
    async fn start_with(adjust: impl FnOnce(&mut RetryPolicy)) -> Harness {
        let server = start_sim(sim::SignatureKey::Hmac(SECRET.to_owned())).await;
        let mut retry = fast_retry_policy();
        adjust(&mut retry);
        let mut config = ClientConfig::new(format!("http://{}", server.local_addr()))
            .with_credentials(Credentials::hmac(API_KEY, SECRET));
        config.retry = retry;
        Harness {
            server,
            client: Client::new(config).expect("a valid configuration"),
        }
    }

    fn set_faults(&self, plan: Value) {
        let plan: FaultPlan = serde_json::from_value(plan).expect("a valid fault plan");
        self.server
            .exchange()
            .lock()
            .set_faults(plan)
            .expect("faults accepted");
    }

    fn order_log(&self) -> Vec<OrderRecord> {
        self.server.exchange().lock().order_log().to_vec()
    }
}

/// Backoffs of milliseconds and a short visibility window keep the tests fast.
fn fast_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        order_visibility_timeout: Duration::from_millis(300),
    }
}

async fn start_sim(key: sim::SignatureKey) -> RunningSim {
    start_sim_with(key, |_| {}).await
}

/// A simulator on the test configuration changed by `adjust`.
async fn start_sim_with(
    key: sim::SignatureKey,
    adjust: impl FnOnce(&mut ExchangeConfig),
) -> RunningSim {
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut config = ExchangeConfig {
        history_ms: HISTORY_MS,
        ..ExchangeConfig::default()
    };
    adjust(&mut config);
    let mut exchange = Exchange::new(config, clock.clone()).expect("a valid exchange");
    exchange.add_account(Account::with_key(
        API_KEY.to_owned(),
        key,
        [
            ("USDT".to_owned(), Decimal::from(10_000)),
            ("BTC".to_owned(), Decimal::new(5, 1)),
        ],
        sim::STANDARD_COMMISSION_RATE,
    ));
    // The simulated clock follows real time, so that orders age and timestamps stay valid.
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(10));
        loop {
            ticker.tick().await;
            clock.advance_ms(10);
        }
    });
    sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

fn btcusdt() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn base(text: &str) -> OrderSize {
    OrderSize::Base(text.parse::<Quantity>().unwrap())
}

fn order_fault(fault: Value) -> Value {
    json!({"fault": fault, "endpoints": ["POST /api/v3/order"], "trigger": {"next": 1}})
}

async fn buy(harness: &Harness, client_order_id: &str) -> Result<MarketOrderFill, PlaceOrderError> {
    harness
        .client
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), client_order_id)
        .await
}

/// No client order id appears twice in the log: nothing executed twice.
fn assert_nothing_executed_twice(log: &[OrderRecord]) {
    for (index, order) in log.iter().enumerate() {
        assert!(
            log[..index]
                .iter()
                .all(|earlier| earlier.client_order_id != order.client_order_id),
            "{} executed twice: {log:?}",
            order.client_order_id
        );
    }
}

/// An order the client reported as not executed is absent from the log.
fn assert_not_executed(error: &PlaceOrderError, client_order_id: &str, log: &[OrderRecord]) {
    assert!(
        matches!(error, PlaceOrderError::NotExecuted { .. }),
        "{error}"
    );
    assert!(
        log.iter()
            .all(|order| order.client_order_id != client_order_id),
        "{client_order_id} did execute: {log:?}"
    );
    assert_nothing_executed_twice(log);
}

/// The fill matches the log's single order with this client id, trade by trade.
fn assert_fill_is_the_logged_order(fill: &MarketOrderFill, log: &[OrderRecord]) {
    assert_nothing_executed_twice(log);
    let matching: Vec<&OrderRecord> = log
        .iter()
        .filter(|order| order.client_order_id == fill.client_order_id)
        .collect();
    assert_eq!(matching.len(), 1, "executed exactly once: {log:?}");
    let order = matching[0];
    assert_eq!(fill.order_id, order.order_id);
    assert_eq!(fill.status, OrderStatus::Filled);
    assert_eq!(fill.executed_qty, order.executed_qty());
    assert_eq!(fill.cumulative_quote_qty, order.cumulative_quote_qty());
    let commission: Decimal = fill.fills.iter().map(|trade| trade.commission).sum();
    assert_eq!(commission, order.total_commission());
    assert_eq!(fill.fills.len(), order.fills.len());
    assert_eq!(
        fill.average_price(),
        Some(order.cumulative_quote_qty() / order.executed_qty())
    );
}

#[tokio::test]
async fn market_data_rules_prices_and_paged_closed_klines() {
    let harness = Harness::start().await;
    let client = &harness.client;
    let server_ms = client.server_time_ms().await.unwrap();
    assert!((server_ms - START_MS).abs() < 60_000, "{server_ms}");

    let rules = client.symbol_rules(&btcusdt()).await.unwrap();
    assert_eq!(rules.base_asset, "BTC");
    let cached = client.symbol_rules(&btcusdt()).await.unwrap();
    assert!(Arc::ptr_eq(&rules, &cached), "served from the cache");
    let unknown = client
        .symbol_rules(&Symbol::new("NOPEUSDT").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.code(), unknown.class()),
        (Some(-1121), ErrorClass::Rejected)
    );

    let last = client.current_price(&btcusdt()).await.unwrap().get();
    assert!(!last.is_zero());
    // The book's best levels, 1 bp either side of the last price (the clock stands still).
    let ask = client
        .best_price(&btcusdt(), Side::Buy)
        .await
        .unwrap()
        .get();
    let bid = client
        .best_price(&btcusdt(), Side::Sell)
        .await
        .unwrap()
        .get();
    assert!(bid < last && last < ask, "{bid} < {last} < {ask}");
    assert!(ask - last <= last / Decimal::from(10_000) + Decimal::new(1, 2));

    // 1200 one-minute candles: two pages.
    let end_ms = START_MS;
    let start_ms = end_ms - 1_200 * 60_000;
    let candles = client
        .closed_klines(&btcusdt(), Interval::M1, start_ms, end_ms)
        .await
        .unwrap();
    assert!(candles.len() >= 1_199, "{}", candles.len());
    assert!(
        candles
            .windows(2)
            .all(|pair| pair[1].open_time_ms - pair[0].open_time_ms == 60_000)
    );
    let now_ms = client.server_now_ms().await.unwrap();
    assert!(
        candles
            .iter()
            .all(|candle| candle.open_time_ms + 60_000 <= now_ms),
        "closed only"
    );

    let balances = client.balances().await.unwrap();
    let usdt = balances
        .iter()
        .find(|balance| balance.asset == "USDT")
        .unwrap();
    assert_eq!(usdt.free, Decimal::from(10_000));
}

#[tokio::test]
async fn a_market_order_returns_its_full_fill_and_can_be_queried() {
    let harness = Harness::start().await;
    let fill = buy(&harness, "plain-1").await.unwrap();
    assert!(!fill.resolved_by_query);
    assert_fill_is_the_logged_order(&fill, &harness.order_log());

    let report = harness
        .client
        .query_order(&btcusdt(), &OrderRef::OrderId(fill.order_id))
        .await
        .unwrap();
    assert_eq!(report.client_order_id, "plain-1");
    assert_eq!(report.executed_qty, fill.executed_qty);

    let by_quote = harness
        .client
        .place_market_order(
            &btcusdt(),
            Side::Buy,
            OrderSize::Quote("25".parse().unwrap()),
            "quote-1",
        )
        .await
        .unwrap();
    assert!(by_quote.cumulative_quote_qty <= Decimal::from(25));
    assert_eq!(harness.order_log().len(), 2);
}

#[tokio::test]
async fn failures_after_executing_are_resolved_by_lookup_never_resent() {
    let harness = Harness::start().await;
    let faults = [
        json!({"drop_connection": "after_executing"}),
        json!({"server_error": {"status": 502, "timing": "after_executing"}}),
        json!({"unexpected_response": "after_executing"}),
        json!({"backend_timeout": "after_executing"}),
    ];
    for (index, fault) in faults.into_iter().enumerate() {
        harness.set_faults(json!({"rules": [order_fault(fault.clone())]}));
        let fill = buy(&harness, &format!("after-{index}"))
            .await
            .unwrap_or_else(|err| panic!("{fault}: {err}"));
        assert!(fill.resolved_by_query, "{fault}");
        let log = harness.order_log();
        assert_eq!(log.len(), index + 1, "{fault}: one execution per order");
        assert_fill_is_the_logged_order(&fill, &log);
    }
}

#[tokio::test]
async fn an_order_the_exchange_never_shows_is_unknown_and_never_resent() {
    let harness = Harness::start().await;
    let faults = [
        json!({"drop_connection": "before_executing"}),
        json!({"server_error": {"status": 503, "timing": "before_executing"}}),
        json!({"unexpected_response": "before_executing"}),
        json!({"backend_timeout": "before_executing"}),
    ];
    for (index, fault) in faults.into_iter().enumerate() {
        harness.set_faults(json!({"rules": [order_fault(fault.clone())]}));
        let client_order_id = format!("before-{index}");
        let error = buy(&harness, &client_order_id).await.unwrap_err();
        let PlaceOrderError::Unknown { lookup_error, .. } = &error else {
            panic!("{fault}: {error:?}");
        };
        assert_eq!(
            lookup_error.as_ref().and_then(BinanceError::code),
            Some(-2013),
            "{fault}: the lookups found no such order"
        );
        assert!(
            harness.order_log().is_empty(),
            "{fault}: not executed, and not sent again"
        );
    }
}

#[tokio::test]
async fn an_order_not_yet_visible_is_waited_for() {
    let harness = Harness::start_with(|policy| {
        policy.order_visibility_timeout = Duration::from_secs(3);
    })
    .await;
    harness.set_faults(json!({"rules": [
        order_fault(json!({"drop_connection": "after_executing"})),
        {"fault": {"not_queryable_ms": 400}, "endpoints": ["GET /api/v3/order"]}
    ]}));
    let fill = buy(&harness, "lagging-1").await.unwrap();
    assert!(fill.resolved_by_query);
    assert_fill_is_the_logged_order(&fill, &harness.order_log());
}

#[tokio::test]
async fn an_order_whose_trades_lag_is_resolved_only_with_all_its_trades() {
    let harness = Harness::start_with(|policy| {
        policy.order_visibility_timeout = Duration::from_secs(3);
    })
    .await;
    // The order is visible at once, its trades only 400 ms later: a fill without them would
    // lose their commissions.
    harness.set_faults(json!({"rules": [
        order_fault(json!({"drop_connection": "after_executing"})),
        {"fault": {"not_queryable_ms": 400}, "endpoints": ["GET /api/v3/myTrades"]}
    ]}));
    let fill = buy(&harness, "lagging-trades-1").await.unwrap();
    assert!(fill.resolved_by_query);
    assert!(fill.has_every_trade(), "{fill:?}");
    assert_fill_is_the_logged_order(&fill, &harness.order_log());

    // Trades that never show within the window leave the order unknown, and not sent again.
    harness.set_faults(json!({"rules": [
        order_fault(json!({"drop_connection": "after_executing"})),
        {"fault": {"not_queryable_ms": 3_600_000}, "endpoints": ["GET /api/v3/myTrades"]}
    ]}));
    let started = Instant::now();
    let error = harness
        .client
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "lagging-trades-2")
        .await
        .unwrap_err();
    assert!(
        matches!(error, PlaceOrderError::Unknown { .. }),
        "{error:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "looked until the window's end"
    );
    let log = harness.order_log();
    assert_eq!(log.len(), 2, "each executed once: {log:?}");
    assert_nothing_executed_twice(&log);
}

#[tokio::test]
async fn an_order_whose_lookups_fail_is_reported_unknown_and_not_resent() {
    let harness = Harness::start().await;
    harness.set_faults(json!({"rules": [
        order_fault(json!({"drop_connection": "after_executing"})),
        {"fault": {"server_error": {"status": 500, "timing": "before_executing"}},
         "endpoints": ["GET /api/v3/order"]}
    ]}));
    let error = buy(&harness, "unknown-1").await.unwrap_err();
    let PlaceOrderError::Unknown {
        client_order_id,
        lookup_error,
        ..
    } = &error
    else {
        panic!("expected Unknown, got {error}");
    };
    assert_eq!(client_order_id, "unknown-1");
    assert_eq!(
        lookup_error.as_ref().and_then(|err| err.status()),
        Some(500)
    );
    assert_eq!(error.cause().class(), ErrorClass::Ambiguous);
    // Unknown is the true answer the client could give: the order did execute, once, and was
    // never re-sent.
    let log = harness.order_log();
    assert_eq!(log.len(), 1, "it did execute, once");
    assert_eq!(log[0].client_order_id, "unknown-1");
    assert_nothing_executed_twice(&log);
}

#[tokio::test]
async fn throttling_and_bans_with_retry_after_are_waited_out() {
    let harness = Harness::start().await;
    for (index, fault) in [json!({"too_many_requests_s": 1}), json!({"banned_s": 1})]
        .into_iter()
        .enumerate()
    {
        harness.set_faults(json!({"rules": [order_fault(fault.clone())]}));
        let started = Instant::now();
        let fill = buy(&harness, &format!("throttled-{index}")).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{fault}: Retry-After honoured"
        );
        let log = harness.order_log();
        assert_eq!(log.len(), index + 1, "{fault}");
        assert_fill_is_the_logged_order(&fill, &log);
    }

    // A longer wait than the policy accepts is returned, not slept through.
    harness.set_faults(json!({"rules": [order_fault(json!({"banned_s": 600}))]}));
    let error = buy(&harness, "banned-long").await.unwrap_err();
    assert_eq!(error.cause().status(), Some(418));
    assert_eq!(error.cause().retry_after(), Some(Duration::from_secs(600)));
    let log = harness.order_log();
    assert_eq!(log.len(), 2);
    assert_not_executed(&error, "banned-long", &log);
}

#[tokio::test]
async fn server_busy_and_get_failures_are_retried() {
    let harness = Harness::start().await;
    harness.set_faults(json!({"rules": [
        order_fault(json!("server_busy")),
        {"fault": {"server_error": {"status": 502, "timing": "before_executing"}},
         "endpoints": ["GET /api/v3/ticker/price"], "trigger": {"next": 2}}
    ]}));
    let fill = buy(&harness, "busy-1").await.unwrap();
    assert_fill_is_the_logged_order(&fill, &harness.order_log());
    assert!(harness.client.current_price(&btcusdt()).await.is_ok());
}

#[tokio::test]
async fn clock_skew_is_resynced_once_and_the_request_retried() {
    let harness = Harness::start().await;
    harness.client.balances().await.unwrap();
    // The server's clock jumps 5 s back: our timestamps are now ahead of it (-1021).
    harness.set_faults(json!({"clock_skew_ms": -5000}));
    harness.client.balances().await.unwrap();
    harness.set_faults(json!({"clock_skew_ms": 20000}));
    let fill = buy(&harness, "skewed-1").await.unwrap();
    assert_fill_is_the_logged_order(&fill, &harness.order_log());
}

#[tokio::test]
async fn rejections_are_returned_at_once_and_nothing_executes() {
    let harness = Harness::start().await;
    let cases = [(Side::Sell, "1", -2010), (Side::Buy, "0.00001", -1013)];
    for (side, quantity, code) in cases {
        let error = harness
            .client
            .place_market_order(&btcusdt(), side, base(quantity), "rejected-1")
            .await
            .unwrap_err();
        assert_not_executed(&error, "rejected-1", &harness.order_log());
        assert_eq!(error.cause().code(), Some(code), "{error}");
        assert_eq!(error.cause().class(), ErrorClass::Rejected);
    }
    assert!(harness.order_log().is_empty());

    let unknown = harness
        .client
        .query_order(&btcusdt(), &OrderRef::ClientOrderId("never-sent".into()))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some(-2013));

    let wrong_key = Client::new(
        ClientConfig::new(harness.client.config().base_url.clone())
            .with_credentials(Credentials::hmac(API_KEY, "another secret")),
    )
    .unwrap();
    let error = wrong_key.balances().await.unwrap_err();
    assert_eq!(
        (error.code(), error.class()),
        (Some(-1022), ErrorClass::Rejected)
    );

    let anonymous =
        Client::new(ClientConfig::new(harness.client.config().base_url.clone())).unwrap();
    let error = anonymous.balances().await.unwrap_err();
    assert!(error.to_string().contains("no credentials"), "{error}");
}

#[tokio::test]
async fn ed25519_credentials_sign_requests_the_exchange_accepts() {
    let private_key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
    let server = start_sim(sim::SignatureKey::Ed25519(private_key.verifying_key())).await;
    let mut config = ClientConfig::new(format!("http://{}", server.local_addr()))
        .with_credentials(Credentials::ed25519(API_KEY, private_key));
    config.retry = fast_retry_policy();
    let client = Client::new(config).unwrap();
    let fill = client
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "ed-1")
        .await
        .unwrap();
    assert_eq!(server.exchange().lock().order_log().len(), 1);
    assert_eq!(fill.client_order_id, "ed-1");
}

/// Point 6: 200 tasks share one client (through clones and a second client for the same URL)
/// on a simulator allowing 100 weight per second, far less than they ask for at once. The
/// shared budget makes them wait: none sees a 429, the simulator never throttled or banned the
/// IP, every order executed exactly once, and all complete.
#[tokio::test]
async fn two_hundred_tasks_on_a_tight_weight_limit_never_get_a_429() {
    let limit = |limit_type, interval, interval_num, limit| RateLimit {
        limit_type,
        interval,
        interval_num,
        limit,
    };
    let server = start_sim_with(sim::SignatureKey::Hmac(SECRET.to_owned()), |config| {
        config.rate_limits = vec![
            limit(
                RateLimitType::RequestWeight,
                RateLimitInterval::Second,
                1,
                100,
            ),
            limit(RateLimitType::Orders, RateLimitInterval::Second, 10, 50),
        ];
    })
    .await;
    let mut config = ClientConfig::new(format!("http://{}", server.local_addr()))
        .with_credentials(Credentials::hmac(API_KEY, SECRET));
    // No retries: a 429 would surface in the results instead of being retried away.
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..fast_retry_policy()
    };
    config.rate_limit = RateLimitSettings {
        headroom_percent: 10,
        window_margin: Duration::from_millis(100),
        max_wait: Duration::from_secs(10),
    };
    let client = Client::new(config.clone()).unwrap();
    let other_client = Client::new(config).unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|task| {
            let client = if task % 2 == 0 {
                client.clone()
            } else {
                other_client.clone()
            };
            tokio::spawn(async move {
                if task % 10 == 0 {
                    client
                        .place_market_order(
                            &btcusdt(),
                            Side::Buy,
                            base("0.001"),
                            &format!("budget-{task}"),
                        )
                        .await
                        .map(|_| ())
                        .map_err(|error| error.cause().clone())
                } else {
                    client.current_price(&btcusdt()).await.map(|_| ())
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(error) = task.await.expect("the task ran") {
            failures.push(error);
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
    // 180 tickers of weight 2 and 20 orders of weight 1 (and more for their timestamps) at 90
    // per second: the budget spread them over a few seconds.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let mut exchange = server.exchange().lock();
    assert_eq!(
        exchange.admit_request("127.0.0.1".parse().unwrap(), 0),
        Ok(()),
        "the simulator has no 429 or ban in force"
    );
    let log = exchange.order_log().to_vec();
    assert_eq!(log.len(), 20, "{log:?}");
    for task in (0..200).step_by(10) {
        let id = format!("budget-{task}");
        assert_eq!(
            log.iter()
                .filter(|order| order.client_order_id == id)
                .count(),
            1
        );
    }
}

/// The seed's convenience calls: normalise through the cached rules and the price, validate with
/// `/order/test` (nothing executes), then buy and sell by side-named calls.
#[tokio::test]
async fn normalize_test_order_and_side_named_orders() {
    let harness = Harness::start().await;
    let client = &harness.client;
    let desired: Quantity = "0.0012345678".parse().unwrap();
    let legal = client
        .normalize_quantity(&btcusdt(), Side::Buy, desired)
        .await
        .expect("a legal quantity");
    assert!(legal.quantity() <= desired && !legal.quantity().is_zero());
    let skipped = client
        .normalize_quantity(&btcusdt(), Side::Buy, "0.00000001".parse().unwrap())
        .await;
    let Err(NormalizeError::Skipped(reason)) = skipped else {
        panic!("expected Skipped, got {skipped:?}");
    };
    assert!(
        matches!(reason, Rejection::BelowMinQty { .. }),
        "{reason:?}"
    );
    assert!(
        reason.to_string().contains("is below") && reason.to_string().contains("minQty"),
        "{reason}"
    );
    client
        .test_order(&btcusdt(), Side::Buy, legal.into())
        .await
        .expect("the exchange accepts the order");
    assert!(
        harness.order_log().is_empty(),
        "a test order executes nothing"
    );
    let bought = client
        .place_market_buy_order(&btcusdt(), legal.into(), "convenience-buy")
        .await
        .expect("bought");
    let sold = client
        .place_market_sell_order(&btcusdt(), legal.into(), "convenience-sell")
        .await
        .expect("sold");
    assert_eq!((bought.side, sold.side), (Side::Buy, Side::Sell));
    assert_eq!(bought.executed_qty, legal.quantity().get());
    assert_eq!(harness.order_log().len(), 2);
}

/// Point 7, -1015: another bot on the account has used up the daily count of unfilled orders
/// (two ETHUSDT orders on an empty book, placed behind the client's back). The client's order is
/// refused with -1015 and a wait far beyond the policy's, returned at once as not executed, and
/// the log shows it never executed.
#[tokio::test]
async fn an_exhausted_order_count_is_a_1015_returned_as_not_executed() {
    let server = start_sim_with(sim::SignatureKey::Hmac(SECRET.to_owned()), |config| {
        let mut empty_book = sim::ListingSpec::ethusdt();
        empty_book.book.levels = 0;
        config.listings = vec![sim::ListingSpec::btcusdt(), empty_book];
        config.rate_limits = vec![
            RateLimit {
                limit_type: RateLimitType::RequestWeight,
                interval: RateLimitInterval::Minute,
                interval_num: 1,
                limit: 6_000,
            },
            RateLimit {
                limit_type: RateLimitType::Orders,
                interval: RateLimitInterval::Day,
                interval_num: 1,
                limit: 2,
            },
        ];
    })
    .await;
    {
        let mut exchange = server.exchange().lock();
        exchange.fund(API_KEY, "ETH", Decimal::from(10));
        for index in 0..2 {
            let order = sim::NewMarketOrder {
                symbol: "ETHUSDT".to_owned(),
                side: Side::Sell,
                size: sim::OrderSize::Base(Decimal::new(1, 2)),
                client_order_id: Some(format!("elsewhere-{index}")),
            };
            let record = exchange
                .place_market_order(API_KEY, order, i64::MAX)
                .expect("an unfilled order");
            assert!(record.executed_qty().is_zero());
        }
    }
    let mut config = ClientConfig::new(format!("http://{}", server.local_addr()))
        .with_credentials(Credentials::hmac(API_KEY, SECRET));
    config.retry = fast_retry_policy();
    let client = Client::new(config).unwrap();
    let error = client
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "over-count")
        .await
        .unwrap_err();
    assert_eq!(error.cause().code(), Some(-1015), "{error}");
    assert_eq!(error.cause().class(), ErrorClass::Transient);
    assert!(
        error.cause().retry_after() > Some(fast_retry_policy().max_retry_after),
        "{error}"
    );
    let log = server.exchange().lock().order_log().to_vec();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_not_executed(&error, "over-count", &log);
}

/// Point 8: an unknown symbol is the exchange's -1121, a rejection with a clear message, for an
/// order (nothing executes) as for normalisation.
#[tokio::test]
async fn an_unknown_symbol_is_a_clear_rejection() {
    let harness = Harness::start().await;
    let nope = Symbol::new("NOPEUSDT").unwrap();
    let error = harness
        .client
        .place_market_order(&nope, Side::Buy, base("0.001"), "unknown-symbol")
        .await
        .unwrap_err();
    assert_eq!(
        (error.cause().code(), error.cause().class()),
        (Some(-1121), ErrorClass::Rejected)
    );
    assert!(error.to_string().contains("Invalid symbol"), "{error}");
    assert_not_executed(&error, "unknown-symbol", &harness.order_log());

    let normalized = harness
        .client
        .normalize_quantity(&nope, Side::Buy, "0.001".parse().unwrap())
        .await;
    let Err(NormalizeError::Exchange(error)) = normalized else {
        panic!("expected the exchange's refusal, got {normalized:?}");
    };
    assert_eq!(error.code(), Some(-1121));
    assert!(error.to_string().contains("Invalid symbol"), "{error}");
}

/// Point 5: the background task resamples the offset on its own. The simulator's clock jumps an
/// hour ahead through the admin API; within a few refresh periods, with no request made through
/// the client, its offset has followed.
#[tokio::test]
async fn the_offset_is_refreshed_in_the_background() {
    const JUMP_MS: i64 = 3_600_000;
    let server = start_sim(sim::SignatureKey::Hmac(SECRET.to_owned())).await;
    let base_url = format!("http://{}", server.local_addr());
    let mut config = ClientConfig::new(base_url.clone());
    config.time_refresh = Duration::from_secs(1);
    config.time_samples = 1;
    let client = Client::new(config).unwrap();
    let before = client.server_now_ms().await.unwrap();
    let offset_before = client.clock_offset_ms().expect("sampled");

    let answer = reqwest::Client::new()
        .put(format!("{base_url}{}/clock", sim::ADMIN_PREFIX))
        .header("content-type", "application/json")
        .body(json!({ "advance_ms": JUMP_MS }).to_string())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{answer:?}");

    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .clock_offset_ms()
        .is_none_or(|offset| offset - offset_before < JUMP_MS - 10_000)
    {
        assert!(Instant::now() < deadline, "{:?}", client.clock_offset_ms());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = client.server_now_ms().await.unwrap();
    assert!(after - before >= JUMP_MS - 10_000, "{before} -> {after}");
}
